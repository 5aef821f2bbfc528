"""Classification task: readers, labels, in-graph preprocessing, model, metrics, saving, and
a tiny model that learns on real Rotten Tomatoes sentences."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn import metrics as sk_metrics

from bert_tf.data import corpora
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import INPUT_NAMES, BertEncoder
from bert_tf.task_model import TextClassifier
from bert_tf.tasks import load_task, metrics
from bert_tf.tasks.base import model_features
from bert_tf.tasks.classification import (ClassificationTask, TextExample, label_vocabulary,
                                          read_examples)

TINY = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128)


def _tiny_encoder(tokenizer):
    keras.utils.set_random_seed(0)
    return BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", vocab_size=tokenizer.vocab_size, **TINY))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- metrics -----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn on case 3
@pytest.mark.parametrize("y_true, y_pred", [
    ([0, 1, 1, 0, 1, 1], [0, 1, 0, 0, 1, 1]),
    ([0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 2, 1, 1, 0]),
    ([2, 2, 2, 2], [2, 2, 2, 2]),          # one class: MCC undefined -> 0
    ([0, 0, 1, 1], [1, 1, 1, 1]),          # constant prediction
    ([0, 1, 0, 1], [2, 2, 0, 1]),          # a predicted class that never occurs
])
def test_classification_metrics_match_sklearn(y_true, y_pred):
    got = metrics.classification_metrics(y_true, y_pred)
    assert got["accuracy"] == pytest.approx(sk_metrics.accuracy_score(y_true, y_pred))
    assert got["macro_f1"] == pytest.approx(
        sk_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert got["mcc"] == pytest.approx(sk_metrics.matthews_corrcoef(y_true, y_pred))


def test_classification_metrics_by_hand():
    # 3 of 4 right; class 0: P=1, R=1/2, F1=2/3; class 1: P=2/3, R=1, F1=4/5.
    got = metrics.classification_metrics([0, 0, 1, 1], [0, 1, 1, 1])
    assert got["accuracy"] == 0.75
    assert got["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert got["mcc"] == pytest.approx((3 * 4 - (2 * 1 + 2 * 3)) / np.sqrt((16 - 10) * (16 - 8)))
    with pytest.raises(ValueError, match="no examples"):
        metrics.classification_metrics([], [])


def test_classification_loss_is_sklearns_log_loss():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    y_true = [0, 1, 1]
    got = metrics.classification_metrics(y_true, probabilities.argmax(-1), probabilities)
    assert got["loss"] == pytest.approx(sk_metrics.log_loss(y_true, probabilities), rel=1e-9)
    # A float32 softmax that rounds the true label's probability to 0: clipped, finite.
    certain_and_wrong = metrics.classification_metrics([0], [1], [[0.0, 1.0]])
    assert certain_and_wrong["loss"] == pytest.approx(-np.log(1e-12))


def test_reads_csv_glue_tsv_and_jsonl(tmp_path):
    csv_path = _write(tmp_path / "a.csv", 'review,label\n"Great, fun film",pos\nDull.,neg\n')
    assert read_examples(csv_path, "review") == [
        TextExample("Great, fun film", None, "pos", f"{csv_path}:2"),
        TextExample("Dull.", None, "neg", f"{csv_path}:3")]

    # GLUE CoLA: no header, columns by index, quotes are text.
    tsv_path = _write(tmp_path / "cola.tsv", 'gj04\t1\t\tThe "sailor" left.\ngj04\t0\t*\tLeft.\n')
    examples = read_examples(tsv_path, text_column="3", label_column="1")
    assert [(ex.text, ex.label) for ex in examples] == [('The "sailor" left.', "1"),
                                                        ("Left.", "0")]

    jsonl_path = _write(tmp_path / "mnli.jsonl", json.dumps(
        {"premise": "A man sleeps.", "hypothesis": "Nobody sleeps.", "label": 2}) + "\n\n")
    [example] = read_examples(jsonl_path, "premise", "hypothesis")
    assert (example.text, example.text_b, example.label) == ("A man sleeps.", "Nobody sleeps.",
                                                             "2")
    # Unlabelled prediction input.
    [unlabelled] = read_examples(_write(tmp_path / "p.jsonl", '{"text": "hi"}\n'),
                                 require_labels=False)
    assert unlabelled.label is None


@pytest.mark.parametrize("file_name, content, kwargs, message", [
    ("a.csv", "text,label\n,pos\n", {}, r"a.csv:2: text column 'text' is empty"),
    ("a.csv", "text,label\n  ,pos\n", {}, r"a.csv:2: text column 'text' is empty"),
    ("a.csv", "sentence,label\nhi,pos\n", {}, r"a.csv:2: no text column 'text'"),
    ("a.csv", "text,label\nhi,pos,extra\n", {}, r"a.csv:2: 3 fields, but the header has 2"),
    ("a.jsonl", '{"text": "hi", "label": "x"}\n{"text": "yo"\n', {}, r"a.jsonl:2: not valid"),
    ("a.jsonl", '{"text": "hi"}\n', {}, r"a.jsonl:1: no label column 'label'"),
    ("a.tsv", "x\t1\n", dict(text_column="3", label_column="1"), r"a.tsv:1: no text column"),
    ("a.txt", "hi\n", {}, "unknown data format"),
    ("a.csv", "text,label\n", {}, "has no examples"),
])
def test_broken_files_name_the_problem(tmp_path, file_name, content, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_examples(_write(tmp_path / file_name, content), **kwargs)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="/nonexistent.csv"):
        read_examples("/nonexistent.csv")


def test_label_vocabulary_and_unknown_labels(tokenizer):
    examples = [TextExample("a", label="pos", source="f:1"),
                TextExample("b", label="neg", source="f:2")]
    assert label_vocabulary(examples) == ["neg", "pos"]
    with pytest.raises(ValueError, match="at least 2 labels"):
        label_vocabulary(examples[:1])
    task = ClassificationTask(tokenizer, 16, labels=["neg", "pos"])
    np.testing.assert_array_equal(task.targets(examples), [1, 0])
    bad = examples + [TextExample("c", label="neutral", source="dev.csv:7")]
    with pytest.raises(ValueError, match=r"dev.csv:7: unknown label 'neutral'.*\['neg', 'pos'\]"):
        task.targets(bad)
    with pytest.raises(ValueError, match=r"dev.csv:7: unknown label 'neutral'"):
        task.evaluate_predictions(bad, [{"label": "pos"}] * 3)
    with pytest.raises(ValueError, match="distinct"):
        ClassificationTask(tokenizer, 16, labels=["a", "a"])


# --- preprocessing and model ---------------------------------------------------------------
def test_pair_preprocessing_in_graph(tokenizer):
    task = ClassificationTask(tokenizer, 12, labels=["0", "1"], text_b_column="text_b")
    features = tf.function(task.preprocess)(
        {"text": tf.constant(["Hello world", ""]), "text_b": tf.constant(["Bye", "x"])})
    hello, world, bye = (tokenizer.token_to_id(t) for t in ("hello", "world", "bye"))
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    np.testing.assert_array_equal(features["input_word_ids"][0, :6],
                                  [cls, hello, world, sep, bye, sep])
    np.testing.assert_array_equal(features["input_type_ids"][0, :6], [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(features["input_mask"][0], [1] * 6)  # padded to the longest
    # An empty first text packs to [CLS] [SEP] b [SEP].
    np.testing.assert_array_equal(features["input_word_ids"][1, :4],
                                  [cls, sep, tokenizer.token_to_id("x"), sep])


def test_model_signature_serving_and_save_round_trip(tokenizer, tmp_path):
    task = ClassificationTask(tokenizer, 16, labels=["neg", "neutral", "pos"])
    model = task.build_model(_tiny_encoder(tokenizer))
    assert sorted(model.input) == sorted(INPUT_NAMES)
    raw = {"text": tf.constant(["a fine film", ""])}  # empty text is valid at serving
    outputs = task.serve(model, raw)
    assert outputs["probabilities"].shape == (2, 3)
    assert outputs["probabilities"].dtype == tf.float32
    assert set(outputs["label"].numpy()) <= {b"neg", b"neutral", b"pos"}
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)

    task.save(model, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["model.keras", "task_config.json", "vocab.txt"]
    loaded_task, loaded_model = load_task(str(tmp_path))
    assert isinstance(loaded_task, ClassificationTask)
    assert loaded_task.get_config() == task.get_config()
    assert loaded_task.tokenizer.lower_case == tokenizer.lower_case
    np.testing.assert_allclose(loaded_task.serve(loaded_model, raw)["probabilities"],
                               outputs["probabilities"], rtol=1e-5, atol=1e-6)


def test_classifier_computes_only_cls_in_the_last_layer(tokenizer):
    """The head reads the pooled output alone, so the encoder runs with
    `output_range=1`; the logits equal those of the full encoder pass."""
    task = ClassificationTask(tokenizer, 16, labels=["neg", "pos"])
    encoder = _tiny_encoder(tokenizer)
    model = task.build_model(encoder)
    (node,) = [layer for layer in model.get_config()["layers"]
               if layer["class_name"] == "BertEncoder"][0]["inbound_nodes"]
    assert node["kwargs"] == {"output_range": 1}
    features = model_features(task.traced_preprocess(
        {"text": tf.constant(["a fine film", "dull and long, far too long"])}))
    full = model.get_layer("logits")(encoder(features)["pooled_output"])
    np.testing.assert_allclose(model(features), full, atol=1e-5)


def test_load_task_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no task_config.json"):
        load_task(str(tmp_path))


# --- learning ------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_model_learns_rotten_tomatoes(tokenizer, tmp_path):
    """Slow: ~25 s of CPU, ~60 s on a busy 2-core machine (tracing the tokenizer and the
    train step is most of it). A 2 x 64 model from scratch fits 96 real sentences: loss
    falls, accuracy and MCC rise (measured on the training sentences: a from-scratch model
    this small does not generalize in seconds; the MiniLM benchmark measures that)."""
    examples = [TextExample(text, label=label, source=f"rt-train:{i}")
                for i, (text, label) in enumerate(corpora.rotten_tomatoes("train")[:96])]
    task = ClassificationTask(tokenizer, 48, labels=label_vocabulary(examples))
    clf = TextClassifier(task, task.build_model(_tiny_encoder(tokenizer)))
    before = clf.evaluate(examples)
    history = clf.fit(examples, validation_data=examples, epochs=10, batch_size=16,
                      learning_rate=5e-3, warmup_steps=6, seed=0, keep_checkpoints=0,
                      model_dir=str(tmp_path))
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 0.2
    after = clf.evaluate(examples)
    assert after["accuracy"] > max(before["accuracy"] + 0.2, 0.8)
    assert after["mcc"] > 0.5
