"""Explanations (bert_tf/explain, TaskModel.explain): Integrated Gradients' completeness,
a known case, batching invariance, NER targets, attention maps, and bad input."""
import random

import numpy as np
import pytest

import bert_tf

# IG's word scores add up to score - baseline_score (completeness); the midpoint rule at
# the default 32 steps leaves this much of the difference on the real MiniLM (measured:
# under 0.15 %; plus float32 noise). A model whose score jumps along the path (the toy
# model below, trained hard on a one-word rule) needs more steps: 512 there.
COMPLETENESS_RTOL = 0.01
COMPLETENESS_ATOL = 1e-5

FILLER = ("the movie was about a man and his dog in the city at night with some music "
          "friends family house story").split()
RULE_WORD = "excellent"


def toy_data(count, seed):
    """Texts of filler words; label "pos" exactly when the rule word is among them."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(count):
        words = rng.sample(FILLER, rng.randint(4, 8))
        if i % 2:
            words.insert(rng.randint(0, len(words)), RULE_WORD)
        texts.append(" ".join(words))
        labels.append("pos" if i % 2 else "neg")
    return texts, labels


@pytest.fixture(scope="module")
def toy_classifier(tiny_checkpoint):
    clf = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, labels=["neg", "pos"],
                                                 max_seq_length=16)
    texts, labels = toy_data(128, seed=0)
    clf.fit(texts, labels, epochs=10, batch_size=16, learning_rate=5e-3, warmup_steps=6,
            seed=0)
    return clf


def test_a_toy_rule_word_gets_the_top_score(toy_classifier):
    texts, labels = toy_data(8, seed=1)
    positive = [t for t, label in zip(texts, labels) if label == "pos"]
    predictions = toy_classifier.predict(positive)
    assert all(p["label"] == "pos" for p in predictions), "the toy model did not learn"
    for result in toy_classifier.explain(positive, target="pos"):
        top = result["words"][int(np.argmax(result["scores"]))]
        assert top == RULE_WORD, (result["words"], result["scores"])


def test_completeness_at_the_default_steps(minilm_path, real_sentences):
    import keras
    keras.utils.set_random_seed(0)  # the head is random; the encoder is MiniLM's
    clf = bert_tf.TextClassifier.from_pretrained(minilm_path, labels=["neg", "pos"],
                                                 max_seq_length=64)
    for result in clf.explain(real_sentences[:3], target="pos"):
        difference = result["score"] - result["baseline_score"]
        assert abs(difference) > 1e-3  # a real test: the target moves
        assert sum(result["scores"]) == pytest.approx(
            difference, rel=COMPLETENESS_RTOL, abs=COMPLETENESS_ATOL)


def test_completeness_needs_more_steps_on_a_jumpy_model(toy_classifier):
    text = toy_data(2, seed=2)[0][1]  # holds the rule word
    # 2048 path points: the Riemann sum's error shrinks as 1/steps, and at 512 it came
    # within 2.2% of the limit on one machine's toy model, outside the 1% asked for.
    result, = toy_classifier.explain([text], target="pos", steps=2048)
    assert sum(result["scores"]) == pytest.approx(
        result["score"] - result["baseline_score"], rel=COMPLETENESS_RTOL)


def test_batching_does_not_change_results(toy_classifier):
    texts, _ = toy_data(5, seed=3)
    texts[2] += " and a much longer tail of words that pads the others"
    one = toy_classifier.explain(texts, batch_size=1)
    together = toy_classifier.explain(texts, batch_size=5)
    for a, b in zip(one, together):
        assert a["words"] == b["words"] and a["spans"] == b["spans"]
        assert a["target"] == b["target"]
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5, rtol=1e-4)


def test_words_spans_tokens_and_attention(toy_classifier):
    text = "Héllo, wörld  excellent!"
    result, = toy_classifier.explain([text], method="gradient_x_input", attention=True)
    assert result["words"] == ["Héllo", ",", "wörld", "excellent", "!"]
    assert [text[s:e] for s, e in result["spans"]] == result["words"]
    assert result["tokens"][0] == "[CLS]" and result["tokens"][-1] == "[SEP]"
    assert result["token_words"][0] == result["token_words"][-1] == -1
    t = len(result["tokens"])
    assert result["attention"].shape == (1, 2, t, t)
    np.testing.assert_allclose(result["attention"].sum(-1), 1.0, atol=1e-5)


def test_ner_target_is_a_tag_at_a_word(tiny_checkpoint):
    ner = bert_tf.TokenClassifier.from_pretrained(tiny_checkpoint, labels=["O", "B-LOC"],
                                                  max_seq_length=16)
    result, = ner.explain(["John lives in Paris ."], target=(3, "B-LOC"))
    assert result["words"] == ["John", "lives", "in", "Paris", "."]
    assert result["spans"][3] == (14, 19)
    assert result["target"] == "tag 'B-LOC' at word 3 ('Paris')"
    assert sum(result["scores"]) == pytest.approx(
        result["score"] - result["baseline_score"], rel=COMPLETENESS_RTOL,
        abs=COMPLETENESS_ATOL)
    with pytest.raises(ValueError, match="target word 9 is past the text, which has 2"):
        ner.explain(["John lives"], target=9)
    with pytest.raises(ValueError, match="unknown target tag 'B-XYZ'"):
        ner.explain(["John lives"], target=(0, "B-XYZ"))


def test_bad_input_is_named(toy_classifier):
    with pytest.raises(ValueError, match="unknown target label 'great'.*'neg', 'pos'"):
        toy_classifier.explain(["a movie"], target="great")
    with pytest.raises(ValueError, match="input 1: the text is empty"):
        toy_classifier.explain(["a movie", "   "])
    with pytest.raises(ValueError, match="Unknown explanation method 'shap'"):
        toy_classifier.explain(["a movie"], method="shap")


def test_qa_target_is_the_answer_start_or_end_in_its_window(tiny_checkpoint):
    qa = bert_tf.QuestionAnswerer.from_pretrained(tiny_checkpoint, max_seq_length=24,
                                                  max_query_length=8, doc_stride=8)
    context = ("The tower in Paris was designed by the company of Gustave Eiffel and built "
               "in 1889 for the fair.")
    inputs = [("Who designed the tower?", context), ("When?", "Built in 1889.")]
    answer = qa.predict(inputs[:1])[0]
    for end in ("start", "end"):
        first, second = qa.explain(inputs, target=end)
        assert first["target"] == second["target"] == f"the answer's {end}"
        assert first["text"] == context and second["words"] == ["Built", "in", "1889", "."]
        assert [context[s:e] for s, e in first["spans"]] == first["words"]
        # The explained window is the one the answer comes from: it holds the answer.
        window_words = {first["words"][w] for w in first["token_words"] if w >= 0}
        assert set(answer["text"].split()) <= window_words
        alone = qa.explain(inputs[:1], target=end, batch_size=1)[0]
        np.testing.assert_allclose(alone["scores"], first["scores"], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="a QA target is 'start' or 'end'"):
        qa.explain(inputs, target="middle")
