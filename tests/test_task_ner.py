"""NER task: CoNLL reading, tag schemes, first-piece labels, entity F1 against seqeval,
and a tiny model that learns on real CoNLL-2003 sentences."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from seqeval import metrics as seqeval_metrics
from seqeval.scheme import IOB2, IOBES

from bert_tf.data import conll
from bert_tf.data import corpora
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import INPUT_NAMES, BertEncoder
from bert_tf.task_model import TokenClassifier
from bert_tf.tasks import load_task, metrics
from bert_tf.data.conll import TaggedSentence, convert_tags, read_conll
from bert_tf.tasks.ner import NerTask, label_vocabulary

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP I-LOC
"""


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- reading ---------------------------------------------------------------------------
def test_reads_conll_documents_and_converts_iob1(tmp_path):
    path = _write(tmp_path / "train.txt", CONLL)
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [("EU", "rejects", "German", "call"),
                                             ("Peter", "Blackburn"), ("BRUSSELS",)]
    assert [s.document for s in sentences] == [0, 0, 1]
    assert sentences[0].tags == ("I-ORG", "O", "I-MISC", "O")  # as in the file (IOB1)
    assert sentences[1].source == f"{path}:8"
    converted = read_conll(path, tag_scheme="iob2")
    assert converted[0].tags == ("B-ORG", "O", "B-MISC", "O")
    assert converted[1].tags == ("B-PER", "I-PER")
    assert label_vocabulary(converted) == ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    # Prediction input: tokens only.
    [unlabelled] = read_conll(_write(tmp_path / "p.txt", "Hello\nworld\n"), require_labels=False)
    assert unlabelled == TaggedSentence(("Hello", "world"), None, 0, f"{tmp_path}/p.txt:1")


@pytest.mark.parametrize("content, kwargs, message", [
    ("EU B-ORG\nrejects\n", {}, r"t.txt:2: expected 'TOKEN \.\.\. TAG', got 'rejects'"),
    ("EU NNP ORG\n", {}, r"t.txt:1: 'ORG' is not a tag"),
    ("EU X-ORG\n", {}, r"t.txt:1: 'X-ORG' is not a tag"),
    ("EU B-ORG\nrejects\n", dict(require_labels=False), r"t.txt:2: some lines"),
    ("-DOCSTART- -X- O\n\n", {}, "has no sentences"),
    ("EU B-ORG\n", dict(tag_scheme="bio"), "Unknown tag scheme 'bio'"),
])
def test_malformed_conll_names_the_line(tmp_path, content, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_conll(_write(tmp_path / "t.txt", content), **kwargs)


@pytest.mark.parametrize("tags, iob1, iob2, bioes", [
    (["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
     ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
     ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
     ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]),
    (["I-ORG", "I-ORG", "I-LOC", "I-LOC", "B-LOC"],  # IOB1 in
     ["I-ORG", "I-ORG", "I-LOC", "I-LOC", "B-LOC"],
     ["B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-LOC"],
     ["B-ORG", "E-ORG", "B-LOC", "E-LOC", "S-LOC"]),
])
def test_tag_scheme_conversion_round_trips(tags, iob1, iob2, bioes):
    assert convert_tags(tags, "iob1") == iob1
    assert convert_tags(tags, "iob2") == iob2
    assert convert_tags(tags, "bioes") == bioes
    for scheme_tags in (iob1, iob2, bioes):  # the same entities in every scheme
        assert conll.entity_spans(scheme_tags) == conll.entity_spans(tags)


# --- metrics against seqeval -------------------------------------------------------------
def _random_tags(rng, length, prefixes):
    tags = []
    for _ in range(length):
        prefix = rng.choice(prefixes)
        tags.append("O" if prefix == "O" else f"{prefix}-{rng.choice(['PER', 'LOC'])}")
    return tags


@pytest.mark.parametrize("prefixes", [("O", "I", "B"), ("O", "B", "I", "E", "S")])
def test_entity_metrics_match_seqeval(prefixes):
    """Random (ill-formed included) IOB1 / BIOES sequences: seqeval's default mode is
    conlleval's reading, which `entity_metrics` implements."""
    rng = np.random.default_rng(0)
    true = [_random_tags(rng, rng.integers(1, 12), prefixes) for _ in range(200)]
    pred = [_random_tags(rng, len(t), prefixes) for t in true]
    ours = metrics.entity_metrics(true, pred)
    assert ours["precision"] == pytest.approx(seqeval_metrics.precision_score(true, pred))
    assert ours["recall"] == pytest.approx(seqeval_metrics.recall_score(true, pred))
    assert ours["f1"] == pytest.approx(seqeval_metrics.f1_score(true, pred))
    assert 0.0 < ours["f1"] < 1.0


def test_entity_metrics_on_iob1_input_and_by_hand():
    # CoNLL-2003's IOB1: "I-ORG I-ORG B-ORG" is two organisations.
    true = [["I-ORG", "I-ORG", "B-ORG", "O", "I-PER"]]
    pred = [["I-ORG", "I-ORG", "I-ORG", "O", "I-PER"]]  # merged the two: 1 of 2 right
    got = metrics.entity_metrics(true, pred)
    assert got == pytest.approx({"precision": 1 / 2, "recall": 1 / 3, "f1": 0.4})
    assert got["f1"] == pytest.approx(seqeval_metrics.f1_score(true, pred))
    # Strict IOB2 / BIOES parsing in seqeval agrees on well-formed converted tags.
    for scheme, name in ((IOB2, "iob2"), (IOBES, "bioes")):
        t, p = [convert_tags(true[0], name)], [convert_tags(pred[0], name)]
        assert metrics.entity_metrics(t, p)["f1"] == pytest.approx(
            seqeval_metrics.f1_score(t, p, mode="strict", scheme=scheme))
    with pytest.raises(ValueError, match="Sentence 0 has 5 true tags but 1"):
        metrics.entity_metrics(true, [["O"]])


# --- preprocessing ----------------------------------------------------------------------
def test_first_piece_positions_labels_and_truncation(tokenizer):
    task = NerTask(tokenizer, 8, labels=["O", "B-LOC", "B-PER"])
    sentences = [TaggedSentence(("Washington", "embraces", "Obama"), ("B-LOC", "O", "B-PER")),
                 TaggedSentence(("a", "b", "c", "d", "e", "f", "g"), ("O",) * 6 + ("B-LOC",))]
    pieces = task.tokenize(task.raw_inputs(sentences))["pieces"]
    assert pieces[0].row_lengths().numpy().tolist() == [1, 2, 1]  # "embraces" = 2 pieces
    features, labels, weights = task.training_batch({"pieces": pieces}, task.targets(sentences))
    assert sorted(features) == sorted(INPUT_NAMES)
    # [CLS] washington em ##braces obama [SEP]: labels on positions 1, 2 and 4.
    np.testing.assert_array_equal(weights[0], [0, 1, 1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(labels[0], [0, 1, 0, 0, 2, 0, 0, 0])
    # Truncated to 6 words: the 7th word (its B-LOC) gets no position and no weight.
    np.testing.assert_array_equal(weights[1], [0, 1, 1, 1, 1, 1, 1, 0])
    positions = task.pack({"pieces": pieces})["word_positions"]
    assert positions.to_list() == [[1, 2, 4], [1, 2, 3, 4, 5, 6, -1]]


def test_unknown_tags_name_the_sentence(tokenizer):
    task = NerTask(tokenizer, 16, labels=["O", "B-PER"])
    bad = [TaggedSentence(("Paris",), ("B-LOC",), 0, "dev.txt:12")]
    with pytest.raises(ValueError, match=r"dev.txt:12: unknown tag 'B-LOC'"):
        task.targets(bad)
    with pytest.raises(ValueError, match="must include 'O'"):
        NerTask(tokenizer, 16, labels=["B-PER", "I-PER"])


def test_serving_maps_predictions_back_to_words(tokenizer, tmp_path):
    keras.utils.set_random_seed(0)
    task = NerTask(tokenizer, 16, labels=["O", "B-LOC", "I-LOC"])
    encoder = BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=1))
    model = task.build_model(encoder)
    raw = {"text": tf.constant(["New York is big", "", "U.S. embraces " + "x " * 20])}
    outputs = task.serve(model, raw)
    assert outputs["tags"].row_lengths().numpy().tolist() == [4, 0, 22]  # one tag per word
    assert set(outputs["tags"].flat_values.numpy()) <= {b"O", b"B-LOC", b"I-LOC"}
    assert set(outputs["tags"][2, 14:].numpy()) == {b"O"}  # truncated words are "O"
    task.save(model, str(tmp_path))
    loaded_task, loaded_model = load_task(str(tmp_path))
    assert isinstance(loaded_task, NerTask) and loaded_task.labels == task.labels
    assert loaded_task.serve(loaded_model, raw)["tags"].to_list() == outputs["tags"].to_list()


# --- learning ------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_model_learns_conll(tokenizer, tmp_path):
    """Slow: ~25 s of CPU, ~60 s on a busy 2-core machine. A 2 x 64 model from scratch
    fits 64 real CoNLL-2003 sentences: loss falls and entity F1 rises (on those
    sentences); predictions are written in CoNLL format."""
    sentences = read_conll(corpora.conll2003_path("train"))[:64]
    task = NerTask(tokenizer, 48, labels=label_vocabulary(sentences))
    keras.utils.set_random_seed(0)
    tagger = TokenClassifier(task, task.build_model(BertEncoder.from_bert_config(
        BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=2,
                               hidden_size=64, num_attention_heads=2,
                               intermediate_size=128))))
    history = tagger.fit(sentences, validation_data=sentences, epochs=12, batch_size=16,
                         learning_rate=5e-3, warmup_steps=4, seed=0, keep_checkpoints=0,
                         model_dir=str(tmp_path))
    losses = history.history["loss"]
    assert losses[-1] < losses[0] / 3
    assert history.history["val_f1"][0] < 0.2
    assert max(history.history["val_f1"]) > 0.5
    assert history.history["token_accuracy"][-1] > 0.85

    path = tmp_path / "pred.conll"
    tagger.write_predictions(sentences, str(path))
    lines = path.read_text().splitlines()
    assert lines[0] == "-DOCSTART- O"
    first = sentences[0]
    assert lines[2].split()[:2] == [first.tokens[0], first.tags[0]]
    assert len([line for line in lines if line and not line.startswith("-DOCSTART-")]) == sum(
        len(s.tokens) for s in sentences)


# --- words in scripts without spaces --------------------------------------------------------
def test_every_cjk_character_is_a_word(tokenizer):
    from bert_tf.text.words import split_words, split_words_spans, split_words_with_offsets
    text = "江泽民在北京 met Bill Clinton，１９９８年。"
    words = split_words(text)
    assert words == ["江", "泽", "民", "在", "北", "京", "met", "Bill", "Clinton，１９９８", "年",
                     "。"]
    assert [text[a:b] for a, b in split_words_spans(text)] == words
    graph_words, starts, ends = split_words_with_offsets(tf.constant([text, "a  b", ""]))
    assert [w.decode() for w in graph_words[0].numpy()] == words
    assert graph_words[1:].to_list() == [[b"a", b"b"], []]
    encoded = text.encode()
    assert [encoded[a:b].decode() for a, b in zip(starts[0].numpy(), ends[0].numpy())] == words
    # English is split as before: whitespace-separated tokens.
    assert split_words("U.S. embraces  it") == ["U.S.", "embraces", "it"]


def test_chinese_entities_come_back_with_character_offsets(tokenizer):
    task = NerTask(tokenizer, 32, labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    examples = task.examples_from(["江泽民在北京"], [["B-PER", "I-PER", "I-PER", "O", "B-LOC",
                                                     "I-LOC"]])
    assert examples[0].tokens == ("江", "泽", "民", "在", "北", "京")
    from bert_tf.export.task import TaskServingModule
    keras.utils.set_random_seed(0)
    encoder = BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=1))
    module = TaskServingModule.for_task(task, task.build_model(encoder))
    text = tf.constant(["江泽民在北京", "x 北京"])
    preprocessed = module.preprocess({"text": text})
    tag_ids = tf.ragged.constant([[1, 2, 2, 0, 3, 4], [0, 3, 4]])
    logits = tf.one_hot(tf.concat([tf.zeros([2, 1], tf.int32),  # [CLS]
                                   tag_ids.to_tensor(0, shape=[2, 31])], 1), 5) * 10.0
    outputs = module.postprocess(logits, preprocessed)
    assert outputs["entity_text"].numpy()[0, :2].tolist() == ["江泽民".encode(), "北京".encode()]
    assert outputs["entity_start"].numpy().tolist() == [[0, 4], [2, -1]]
    assert outputs["entity_end"].numpy().tolist() == [[3, 6], [4, -1]]


def test_a_conll_token_of_several_cjk_words_is_an_error(tmp_path):
    path = _write(tmp_path / "zh.txt", "北京 B-LOC\n")
    with pytest.raises(ValueError, match=r"zh.txt:1: token '北京' holds several NER words"):
        read_conll(path)
