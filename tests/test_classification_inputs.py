"""Classification data as users hold it: (text, label) and (text, text_b, label) tuples,
pandas DataFrames with named columns, and class weights for imbalanced labels; every
wrong shape is an error naming what was given and what is accepted."""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.tasks.classification import ClassificationTask
from bert_tf.tasks.examples import make_examples, training_examples


def _single(tokenizer, **options):
    return ClassificationTask(tokenizer, max_seq_length=16, **options)


def _pair(tokenizer, **options):
    return ClassificationTask(tokenizer, max_seq_length=16, text_b_column="text_b", **options)


def test_tuples_carry_their_label_last(tokenizer):
    single = make_examples(_single(tokenizer), [("a good film", "pos"), ("dull", 0)])
    assert [(ex.text, ex.text_b, ex.label) for ex in single] == [
        ("a good film", None, "pos"), ("dull", None, "0")]
    pair = make_examples(_pair(tokenizer), [("a man sleeps", "a person rests", "entail")])
    assert [(ex.text, ex.text_b, ex.label) for ex in pair] == [
        ("a man sleeps", "a person rests", "entail")]
    # Pairs are inputs of a pair task, labelled apart or not at all.
    unlabelled = make_examples(_pair(tokenizer), [("a", "b")], require_labels=False)
    assert unlabelled[0].label is None and unlabelled[0].text_b == "b"
    labelled = make_examples(_pair(tokenizer), [("a", "b")], ["yes"])
    assert labelled[0].label == "yes"


@pytest.mark.parametrize("make, data, labels, message", [
    (_single, [("a", "b", "pos")], None,
     r"input 0: got \('a', 'b', 'pos'\); this task takes texts or \(text, label\) pairs "
     r"\(a single-text task; for text pairs create it with text_b_column='text_b'\)"),
    (_single, [("a", "pos")], ["pos"], r"with labels given apart"),
    (_pair, ["just one text"], None, r"\(text, text_b\) pairs or \(text, text_b, label\)"),
    (_single, [(3, "pos")], None, r"input 0: got \(3, 'pos'\)"),
])
def test_wrong_shapes_say_what_is_accepted(tokenizer, make, data, labels, message):
    with pytest.raises(ValueError, match=message):
        make_examples(make(tokenizer), data, labels)


def test_data_frames_by_the_column_options(tokenizer):
    frame = pd.DataFrame({"review": ["fine", "awful", "great"], "score": ["pos", "neg", None],
                          "other": [1, 2, 3]}, index=[10, 11, 12])
    task = _single(tokenizer, text_column="review", label_column="score")
    examples = make_examples(task, frame, require_labels=False)
    assert [(ex.text, ex.label, ex.source) for ex in examples] == [
        ("fine", "pos", "DataFrame row 10"), ("awful", "neg", "DataFrame row 11"),
        ("great", None, "DataFrame row 12")]
    with pytest.raises(ValueError, match="DataFrame row 12: no label column 'score'"):
        make_examples(task, frame)
    with pytest.raises(ValueError, match="DataFrame row 10: no text column 'text'"):
        make_examples(_single(tokenizer), frame)
    with pytest.raises(ValueError, match="labels come from the DataFrame's label column"):
        make_examples(task, frame, ["pos", "neg", "pos"])


def test_balanced_class_weight_is_resolved_from_the_training_labels(tokenizer):
    data = [("good", "pos")] * 6 + [("bad", "neg")] * 2
    task, train, _ = training_examples(_single(tokenizer, class_weight="balanced"), data)
    # scikit-learn's "balanced": N / (classes x count).
    assert task.labels == ["neg", "pos"]
    assert task.class_weight == pytest.approx({"neg": 8 / (2 * 2), "pos": 8 / (2 * 6)})
    assert task.get_config()["class_weight"] == task.class_weight  # saved resolved
    tokenized = {"text": task.tokenizer.tokenize(tf.constant(["good", "bad"]))}
    features, labels, weights = task.training_batch(tokenized, tf.constant([1, 0]))
    np.testing.assert_allclose(weights.numpy(), [8 / 12, 2.0])


@pytest.mark.parametrize("value, message", [
    ("pos=2", "give 'balanced' or 'label:weight,label:weight'"),
    ({"pos": "heavy"}, "class_weight of 'pos' must be a number"),
    ({"pos": -1}, "must be >= 0"),
])
def test_bad_class_weights_are_named(tokenizer, value, message):
    with pytest.raises(ValueError, match=message):
        _single(tokenizer, class_weight=value)


def test_explicit_class_weight_from_the_flag_form(tokenizer):
    task = _single(tokenizer, class_weight="neg:3, pos:1", labels=["neg", "pos"])
    assert task.class_weight == {"neg": 3.0, "pos": 1.0}
    unknown = _single(tokenizer, class_weight={"meh": 2}, labels=["neg", "pos"])
    with pytest.raises(ValueError, match=r"class_weight names labels \['meh'\]"):
        unknown.training_batch({"text": tokenizer.tokenize(tf.constant(["x"]))},
                               tf.constant([0]))


def test_fit_takes_tuples_a_data_frame_and_class_weight(tiny_checkpoint):
    texts = ["good fun", "great film", "lovely", "dull", "bad", "awful", "nice", "fine"]
    labels = ["pos", "pos", "pos", "neg", "neg", "neg", "pos", "pos"]
    clf = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, max_seq_length=16)
    history = clf.fit(list(zip(texts, labels)),
                      validation_data=pd.DataFrame({"text": texts, "label": labels}),
                      class_weight="balanced", epochs=1, batch_size=4, learning_rate=1e-3)
    assert clf.task.class_weight == pytest.approx({"neg": 8 / 6, "pos": 8 / 10})
    assert np.isfinite(history.history["loss"][0]) and "val_loss" in history.history
    assert history.selection["kept_epoch"] == 1 and history.selection["keep_epoch"] == "last"
    tagger = bert_tf.TokenClassifier.from_pretrained(tiny_checkpoint, labels=["O", "B-X"])
    with pytest.raises(ValueError, match="class_weight is an option of classification"):
        tagger.fit([["a"]], [["O"]], class_weight="balanced")
