"""SQuAD task: reading, piece offsets, windows (doc_stride, max context), training labels,
span selection, official EM/F1, and a tiny model that learns the hand-written
SQuAD-format files in tests/data/squad/."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tasks.qa import scoring
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import BertEncoder
from bert_tf.task_model import QuestionAnswerer
from bert_tf.tasks import load_task
from bert_tf.data.squad import read_squad
from bert_tf.tasks.qa import NO_ANSWER, QaTask

DATA = os.path.join(os.path.dirname(__file__), "data", "squad")
CONTEXT = ("The Eiffel Tower was completed in 1889 in Paris. It was designed by the company "
           "of Gustave Eiffel. Years later the Café Müller opened in 東京 in the 1990s, "
           "far from the tower, which is 330 metres tall.")


def squad_file(tmp_path, qas, context=CONTEXT, version="v1.1", name="squad.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": version, "data": [
        {"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}), encoding="utf-8")
    return str(path)


def qa(qid, question, answer=None, impossible=False, context=CONTEXT):
    answers = [] if answer is None else [{"text": answer, "answer_start": context.index(answer)}]
    return {"id": qid, "question": question, "answers": answers, "is_impossible": impossible}


def raw(task, examples):
    return {name: tf.constant(column) for name, column in task.raw_inputs(examples).items()}


# --- reading ---------------------------------------------------------------------------
def test_reads_questions_and_answers(tmp_path):
    path = squad_file(tmp_path, [qa("q1", "Who designed it?", "Gustave Eiffel"),
                                 qa("q2", "Which king?", impossible=True)], version="v2.0")
    first, second = read_squad(path, version_2_with_negative=True)
    assert (first.id, first.question, first.context) == ("q1", "Who designed it?", CONTEXT)
    assert first.answers == (("Gustave Eiffel", CONTEXT.index("Gustave")),)
    assert second.is_impossible and second.is_labelled and not first.is_impossible
    unlabelled = squad_file(tmp_path, [{"id": "p", "question": "Where?"}], name="p.json")
    assert read_squad(unlabelled, require_labels=False)[0].answers is None


@pytest.mark.parametrize("content, kwargs, message", [
    ("{not json", {}, "not valid JSON"),
    ('{"version": "v1.1"}', {}, "expected a SQuAD object with a 'data' list"),
    ({"context": CONTEXT, "qas": [qa("q1", "Who?", "Gustave") | {"answers": [
        {"text": "Gustave", "answer_start": 3}]}]}, {}, "question q1: answer 'Gustave' is not "
                                                        "at answer_start 3"),
    ({"context": CONTEXT, "qas": [qa("q1", "Who?", "Paris"), qa("q1", "Where?", "Paris")]},
     {}, "question id 'q1' appears twice"),
    ({"context": CONTEXT, "qas": [qa("q1", "Who?", impossible=True)]}, {},
     "question q1: is_impossible is set, but the task is SQuAD v1.1"),
    ({"context": CONTEXT, "qas": [qa("q1", "Who?")]}, {}, "question q1: no answers"),
    ({"context": CONTEXT, "qas": [qa("q1", "  ", "Paris")]}, {}, "question q1: empty question"),
    ({"context": " ", "qas": []}, {}, r"paragraphs\[0\]: empty context"),
    ({"context": CONTEXT, "qas": []}, {}, "has no questions"),
])
def test_malformed_squad_names_the_problem(tmp_path, content, kwargs, message):
    path = tmp_path / "bad.json"
    if isinstance(content, dict):
        content = json.dumps({"data": [{"paragraphs": [content]}]})
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_squad(str(path), **kwargs)
    with pytest.raises(FileNotFoundError, match="SQuAD file not found"):
        read_squad(str(tmp_path / "missing.json"))


# --- piece offsets -----------------------------------------------------------------------
def test_piece_offsets_match_the_fast_tokenizer(tokenizer, minilm_path, real_sentences):
    """Byte spans of pieces equal HF BertTokenizerFast's offsets, except inside words whose
    normalization changed their length (accents), where every piece spans the word."""
    transformers = pytest.importorskip("transformers")
    fast = transformers.BertTokenizerFast(os.path.join(minilm_path, "vocab.txt"),
                                          do_lower_case=True)
    texts = real_sentences + ["Café Müller's straßenbahn, 東京 and naïveté in the 1990s!",
                              "unbelievably  long\ttext — with ‘quotes’"]
    ids, starts, ends = tokenizer.tokenize_with_piece_offsets(tf.constant(texts))
    mismatched_pieces = 0
    for text, row_ids, row_starts, row_ends in zip(texts, ids.to_list(), starts.to_list(),
                                                   ends.to_list()):
        encoded = fast(text, add_special_tokens=False, return_offsets_mapping=True)
        assert row_ids == encoded["input_ids"], text
        raw_bytes = text.encode("utf-8")
        for start, end, (char_start, char_end) in zip(row_starts, row_ends,
                                                      encoded["offset_mapping"]):
            want = (len(text[:char_start].encode()), len(text[:char_end].encode()))
            if (start, end) != want:
                # Only pieces of a word that normalization changed: they span the word.
                assert start <= want[0] and want[1] <= end, (text, want)
                assert not raw_bytes[start:end].isascii(), (text, want)
                mismatched_pieces += 1
    assert mismatched_pieces > 0  # the accented words above took that path


def test_piece_offsets_round_trip_accented_and_cjk_text(tokenizer):
    text = "Dvořák met Zoë in 東京 and São Paulo"
    ids, starts, ends = tokenizer.tokenize_with_piece_offsets(text)
    raw_bytes = text.encode("utf-8")
    spans = [raw_bytes[s:e].decode("utf-8") for s, e in zip(starts.numpy(), ends.numpy())]
    # Every piece's span is a whole character run of the text, in order.
    assert "東" in spans and "京" in spans and "Paulo" in spans
    assert all(a <= b for a, b in zip(starts.numpy(), starts.numpy()[1:]))
    assert len(ids) == len(spans)


# --- windows -------------------------------------------------------------------------------
def google_doc_spans(num_pieces, room, stride):
    """google-research/bert run_squad.py's loop over a context's pieces."""
    spans, start = [], 0
    while start < num_pieces:
        length = min(num_pieces - start, room)
        spans.append((start, length))
        if start + length == num_pieces:
            break
        start += min(length, stride)
    return spans or [(0, 0)]


def google_is_max_context(spans, window, position):
    best_score, best_window = None, None
    for w, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_window = score, w
    return window == best_window


@pytest.mark.parametrize("max_seq_length, doc_stride", [(24, 5), (32, 8), (40, 64), (64, 16)])
def test_windows_and_max_context_follow_google_bert(tokenizer, max_seq_length, doc_stride):
    contexts = [CONTEXT, CONTEXT * 3, "short", "Paris"]
    questions = ["Who designed the tower?", "When?", "Where is the very long question going "
                 "to stop being a question?", "What?"]
    task = QaTask(tokenizer, max_seq_length, doc_stride=doc_stride, max_query_length=8)
    tokenized = task.tokenize({"question": tf.constant(questions),
                               "context": tf.constant(contexts)})
    features = task.pack(tokenized)
    example = features["window_example"].numpy()
    piece = features["context_piece"].numpy()
    is_max = features["is_max_context"].numpy()
    context_starts = tokenized["context"].row_starts().numpy()
    row = 0
    for b in range(len(contexts)):
        q_len = min(len(tokenizer.tokenize(questions[b])), 8)
        num_pieces = len(tokenized["context"][b])
        spans = google_doc_spans(num_pieces, max_seq_length - 3 - q_len, doc_stride)
        assert list(example[row:row + len(spans)]) == [b] * len(spans)
        for w, (start, length) in enumerate(spans):
            positions = np.flatnonzero(piece[row + w] >= 0)
            assert list(positions) == list(range(q_len + 2, q_len + 2 + length))
            assert list(piece[row + w, positions] - context_starts[b]) == list(
                range(start, start + length))
            assert [bool(is_max[row + w, p]) for p in positions] == [
                google_is_max_context(spans, w, start + i) for i in range(length)]
        row += len(spans)
    assert row == len(example)
    assert features["input_word_ids"].shape[1] <= max_seq_length


def test_training_labels_point_at_the_answer_when_the_window_holds_it(tokenizer, tmp_path):
    answers = ["Gustave Eiffel", "東京", "330 metres", "1889"]
    path = squad_file(tmp_path, [qa(f"q{i}", "Question?", a) for i, a in enumerate(answers)]
                      + [qa("none", "Which king?", impossible=True)], version="v2.0")
    examples = read_squad(path, version_2_with_negative=True)
    task = QaTask(tokenizer, 24, doc_stride=6, max_query_length=4,
                     version_2_with_negative=True)
    features, labels = task.training_batch(task.tokenize(raw(task, examples)),
                                           task.targets(examples))
    window_example = task.pack(task.tokenize(raw(task, examples)))["window_example"].numpy()
    ids, labels = features["input_word_ids"].numpy(), labels.numpy()
    for b, answer in enumerate(answers + [None]):
        rows = np.flatnonzero(window_example == b)
        found = [tokenizer.detokenize([ids[r, s:e + 1]]).numpy()[0].decode()
                 for r, (s, e) in zip(rows, labels[rows]) if s > 0]
        if answer is None:
            assert not found and (labels[rows] == 0).all()
        else:
            # Each window that holds the whole answer labels it; the others say [CLS].
            assert found and set(found) == {tokenizer.detokenize(
                [tokenizer.tokenize(answer).numpy()]).numpy()[0].decode()}
            assert len(found) < len(rows)


# --- answers -------------------------------------------------------------------------------
def logits_for(features, start_piece, end_piece, strength=10.0):
    """Logits [W, 2, S] that put the start at `start_piece` and the end at `end_piece`
    (batch-wide context piece indexes) wherever the window holds them."""
    piece = features["context_piece"].numpy()
    logits = np.zeros((piece.shape[0], 2, piece.shape[1]), np.float32)
    logits[:, 0][piece == start_piece] = strength
    logits[:, 1][piece == end_piece] = strength
    return tf.constant(logits)


@pytest.mark.parametrize("answer", ["Gustave Eiffel", "Café Müller", "東京", "330 metres tall"])
def test_postprocess_cuts_the_answer_out_of_the_context(tokenizer, answer):
    task = QaTask(tokenizer, 28, doc_stride=7, max_query_length=6, n_best_size=3)
    inputs = {"question": tf.constant(["Question?"]), "context": tf.constant([CONTEXT])}
    preprocessed = task.preprocess(inputs)
    _, starts, ends = tokenizer.tokenize_with_piece_offsets(CONTEXT)
    char_start = CONTEXT.index(answer)
    byte_start = len(CONTEXT[:char_start].encode())
    byte_end = byte_start + len(answer.encode())
    first = int(np.flatnonzero(ends.numpy() > byte_start)[0])
    last = int(np.flatnonzero(starts.numpy() < byte_end)[-1])
    out = task.postprocess(logits_for(preprocessed, first, last), preprocessed)
    assert out["answer_text"].numpy()[0].decode() == answer
    assert (out["answer_start"][0], out["answer_end"][0]) == (char_start,
                                                              char_start + len(answer))
    assert float(out["score"][0]) == pytest.approx(20.0)
    assert out["nbest_text"].shape == (1, 3)
    # A span longer than max_answer_length is never chosen.
    short = QaTask(tokenizer, 28, doc_stride=7, max_query_length=6,
                      max_answer_length=max(last - first, 1))
    if last - first + 1 > short.max_answer_length:
        out = short.postprocess(logits_for(preprocessed, first, last), preprocessed)
        assert out["answer_text"].numpy()[0].decode() != answer


def test_start_must_have_its_max_context_in_the_window(tokenizer):
    """Logits that favour a start in a window where it has little context lose to the
    same start in the window where it has the most."""
    task = QaTask(tokenizer, 24, doc_stride=4, max_query_length=4, n_best_size=50)
    preprocessed = task.preprocess({"question": tf.constant(["Q?"]),
                                    "context": tf.constant([CONTEXT])})
    score, start, _ = task.best_spans(
        logits_for(preprocessed, 10, 10), preprocessed["is_max_context"],
        preprocessed["context_piece"] >= 0)
    piece = preprocessed["context_piece"].numpy()
    is_max = preprocessed["is_max_context"].numpy()
    chosen = [(w, s) for w in range(piece.shape[0]) for s, sc in zip(start[w].numpy(),
                                                                      score[w].numpy())
              if sc > -np.inf]
    assert all(is_max[w, s] for w, s in chosen)
    assert len({w for w, s in chosen if piece[w, s] == 10}) == 1  # one window starts there


def test_null_answer_with_threshold(tokenizer):
    inputs = {"question": tf.constant(["Q?", "Q?"]), "context": tf.constant([CONTEXT, "Paris"])}
    for version_2, threshold, answered in [(False, 0.0, [True, True]),
                                           (True, 0.0, [False, True]),
                                           (True, 5.0, [True, True])]:
        task = QaTask(tokenizer, 32, doc_stride=8, max_query_length=4,
                         version_2_with_negative=version_2, null_score_diff_threshold=threshold)
        preprocessed = task.preprocess(inputs)
        logits = logits_for(preprocessed, 3, 3, strength=1.0).numpy()
        example = preprocessed["window_example"].numpy()
        logits[example == 0, :, 0] = 2.0  # [CLS] beats the span (1 + 1) by 2 in example 0
        paris = int(np.flatnonzero(preprocessed["context_piece"].numpy()[-1] >= 0)[0])
        logits[-1, :, paris] = 3.0
        out = task.postprocess(tf.constant(logits), preprocessed)
        got = [text != b"" for text in out["answer_text"].numpy()]
        assert got == answered, (version_2, threshold)
        assert float(out["null_score_diff"][0]) == pytest.approx(2.0)
        if not answered[0]:
            assert out["answer_start"][0] == NO_ANSWER and out["nbest_start"][0, 0] >= 0


# --- metrics -------------------------------------------------------------------------------
def test_squad_metrics_by_hand():
    answers = {"a": ["the Eiffel Tower", "Eiffel Tower"], "b": ["in 1889"], "c": ["Paris"]}
    predicted = {"a": "Eiffel Tower!", "b": "1889", "c": "London"}
    scores = scoring.squad_metrics(answers, predicted)
    # a: exact after normalization; b: F1 = 2 * (1 * 0.5) / 1.5 = 2/3; c: 0.
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    v2 = scoring.squad_metrics({**answers, "d": []}, {**predicted, "d": ""},
                               null_odds={"a": -3.0, "b": -1.0, "c": 1.0, "d": 2.0},
                               span_predictions={**predicted, "d": "Rome"})
    assert v2["exact_match"] == pytest.approx(50.0)  # a and d
    assert v2["NoAns_exact"] == 100.0 and v2["HasAns_exact"] == pytest.approx(100 / 3)
    # The best null-odds cut, scoring the spans: for exact, answer a only (a and d right:
    # 2/4); for F1, answer a and b (1 + 2/3 + 0 + 1 for d) / 4.
    assert (v2["best_exact"], v2["best_exact_thresh"]) == (pytest.approx(50.0), -3.0)
    assert v2["best_f1"] == pytest.approx(100 * (2 + 2 / 3) / 4)
    assert v2["best_f1_thresh"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="no prediction for 1 questions"):
        scoring.squad_metrics(answers, {"a": "x", "b": "y"})


# --- learning --------------------------------------------------------------------------------
@pytest.mark.slow  # ~60-90 s each on a busy 2-core machine
@pytest.mark.parametrize("version", ["v1.1", "v2.0"])
def test_tiny_model_learns_handwritten_squad(tokenizer, tmp_path, version):
    """A 2 x 64 model from scratch fits the hand-written training questions (long
    contexts cut into several windows): loss falls and F1 rises (v2.0: the F1 at the best
    null threshold; plain F1 first learns to answer nothing); predictions are written in
    the official format; the saved task reloads with the same answers. (Fast tests cover
    the QA task's reading, windows, labels and answers, and QuestionAnswerer.fit in
    test_task_model.py.)"""
    v2 = version == "v2.0"
    task = QaTask(tokenizer, 96, doc_stride=32, max_query_length=16,
                     version_2_with_negative=v2)
    examples = task.read_examples(os.path.join(DATA, f"train-{version}.json"))[:40]
    keras.utils.set_random_seed(0)
    model = task.build_model(BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=2, hidden_size=64,
        num_attention_heads=2, intermediate_size=128)))
    history = QuestionAnswerer(task, model).fit(
        examples, validation_data=examples, epochs=15, batch_size=8, learning_rate=3e-3,
        warmup_steps=5, seed=0, keep_checkpoints=0, model_dir=str(tmp_path))
    losses = history.history["loss"]
    assert losses[-1] < losses[0] / 2
    f1 = history.history["val_best_f1" if v2 else "val_f1"]
    assert max(f1) > f1[0] + (10 if v2 else 20)

    predictions = task.predict(model, examples)
    path = tmp_path / "predictions.json"
    task.write_predictions(str(path), examples, predictions)
    written = json.loads(path.read_text())
    assert set(written) == {ex.id for ex in examples}
    assert (tmp_path / "predictions_null_odds.json").exists() == v2
    for ex, p in zip(examples, predictions):
        if p["start"] >= 0:
            assert ex.context[p["start"]:p["end"]] == p["text"]
    task.save(model, str(tmp_path / "export"))
    loaded_task, loaded_model = load_task(str(tmp_path / "export"))
    assert loaded_task.get_config() == task.get_config()
    assert [p["text"] for p in loaded_task.predict(loaded_model, examples)] == [
        p["text"] for p in predictions]


@pytest.mark.parametrize("seed", range(5))
def test_squad_scoring_equals_the_official_scripts(seed):
    """bert_tf scores SQuAD itself (pip install . alone); the official scripts (as
    tf-models-official ships them) give the same numbers, v1.1 and v2.0."""
    official = pytest.importorskip("official.nlp.tools.squad_evaluate_v2_0")
    from official.nlp.tools import squad_evaluate_v1_1

    rng = np.random.default_rng(seed)
    words = ["the", "Eiffel", "tower", "a", "Paris", "1889", "an", "iron", "lattice", "...",
             "Gustave", "company's", "!", "(", "an", "The"]

    def phrase(low=0):
        return " ".join(rng.choice(words, size=rng.integers(low, 5)))

    for version_2 in (False, True):
        answers = {f"q{i}": ([] if version_2 and rng.random() < 0.3 else
                             [phrase(1) for _ in range(rng.integers(1, 4))])
                   for i in range(60)}
        predictions = {qid: (rng.choice(golds) if golds and rng.random() < 0.3 else phrase())
                       for qid, golds in answers.items()}
        dataset = [{"paragraphs": [{"qas": [
            {"id": qid, "answers": [{"text": t} for t in golds]}
            for qid, golds in answers.items()]}]}]
        if not version_2:
            want = squad_evaluate_v1_1.evaluate(dataset, predictions)
            got = scoring.squad_metrics(answers, predictions)
            assert got["exact_match"] == pytest.approx(100 * want["exact_match"])
            assert got["f1"] == pytest.approx(100 * want["final_f1"])
            continue
        null_odds = {qid: float(rng.normal()) for qid in answers}
        spans = {qid: phrase(1) for qid in answers}
        got = scoring.squad_metrics(answers, predictions, null_odds, spans)
        want = official.evaluate(dataset, predictions)
        tuned = official.evaluate(dataset, spans, null_odds)
        for name in ("HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
            assert got[name] == pytest.approx(want[name]), name
        assert got["exact_match"] == pytest.approx(want["exact"])
        assert got["f1"] == pytest.approx(want["f1"])
        for name in ("exact", "exact_thresh", "f1", "f1_thresh"):
            assert got[f"best_{name}"] == pytest.approx(tuned[f"final_{name}"]), name
