"""TaskModel: the library API every caller uses (the binaries, benchmarks and tests run
through it). Raw data in every form, labels from the data, Keras conventions (History,
callbacks), saving and loading, strategy and precision, errors before training."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.data import corpora
from bert_tf.tasks import registry
from bert_tf.tasks.registry import get_task_class, task_names

RT = corpora.rotten_tomatoes("train")[:64]
TEXTS = [text for text, _ in RT]
LABELS = [label for _, label in RT]


@pytest.fixture(scope="module")
def fitted(tiny_checkpoint):
    """A classifier fitted one epoch on Python lists, labels taken from the data."""
    clf = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, max_seq_length=32)
    assert clf.model is None  # no labels yet: built by fit
    history = clf.fit(TEXTS, LABELS, epochs=1, batch_size=16, learning_rate=1e-3)
    return clf, history


def test_fit_on_lists_finds_the_labels_and_returns_a_history(fitted):
    clf, history = fitted
    assert isinstance(history, keras.callbacks.History)
    assert clf.task.labels == ["fresh", "rotten"]
    assert isinstance(clf.model, keras.Model)
    assert len(history.history["loss"]) == 1


def test_predict_and_evaluate_take_every_form_of_data(fitted, tmp_path):
    clf, _ = fitted
    from_list = clf.predict(TEXTS[:8])
    from_dataset = clf.predict(tf.data.Dataset.from_tensor_slices(TEXTS[:8]))
    path = tmp_path / "new.jsonl"
    path.write_text("".join(f'{{"text": {t!r}}}\n'.replace("'", '"') for t in ["good", "bad"]))
    from_file = clf.predict(str(path))
    assert [p["label"] for p in from_list] == [p["label"] for p in from_dataset]
    assert len(from_file) == 2
    metrics = clf.evaluate(tf.data.Dataset.from_tensor_slices((TEXTS[:16], LABELS[:16])))
    assert metrics == clf.evaluate(TEXTS[:16], LABELS[:16])
    assert set(metrics) == {"accuracy", "macro_f1", "mcc", "loss"}


def test_fit_accepts_callbacks_and_a_config(tiny_checkpoint, tmp_path):
    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    clf = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, labels=["fresh", "rotten"],
                                                 max_seq_length=32)
    config = bert_tf.TrainingConfig(epochs=1, batch_size=32, model_dir=str(tmp_path / "run"),
                                    log_every_n_steps=1, keep_epoch="best")
    history = clf.fit(TEXTS, LABELS, validation_data=(TEXTS[:16], LABELS[:16]),
                      config=config, callbacks=[Count()])
    assert seen == [0, 1]
    assert "val_accuracy" in history.history  # the task's metrics, each epoch
    assert (tmp_path / "run" / "best.weights.h5").exists()
    assert history.selection["kept_epoch"] == 1 and history.selection["monitor"] == "val_loss"
    assert os.listdir(tmp_path / "run" / "logs")  # TensorBoard


def test_bad_labels_fail_before_training(tiny_checkpoint):
    clf = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, labels=["fresh", "rotten"],
                                                 max_seq_length=32)
    with pytest.raises(ValueError, match=r"input 1: unknown label 'meh'"):
        clf.fit(TEXTS[:4], LABELS[:4], validation_data=(TEXTS[:2], ["fresh", "meh"]))
    with pytest.raises(ValueError, match="4 inputs but 3 labels"):
        clf.fit(TEXTS[:4], LABELS[:3])
    with pytest.raises(ValueError, match="Unknown training setting"):
        clf.fit(TEXTS[:4], LABELS[:4], epoch=2)
    with pytest.raises(ValueError, match="max_seq_length 1024 exceeds the encoder's "
                                         "max_position_embeddings 512"):
        bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, max_seq_length=1024)
    unlabelled = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, max_seq_length=32)
    with pytest.raises(ValueError, match="no labels yet"):
        unlabelled.predict(["text"])


def test_save_refuses_to_overwrite_and_load_gives_the_task_class(fitted, tmp_path):
    clf, _ = fitted
    folder = str(tmp_path / "saved")
    clf.save(folder)
    with pytest.raises(FileExistsError, match="already holds a saved model"):
        clf.save(folder)
    loaded = bert_tf.load(folder)
    assert type(loaded) is bert_tf.TextClassifier
    np.testing.assert_allclose(
        [p["probabilities"]["fresh"] for p in loaded.predict(TEXTS[:8])],
        [p["probabilities"]["fresh"] for p in clf.predict(TEXTS[:8])], atol=1e-6)


def test_mixed_precision_rebuilds_the_model_with_its_weights(fitted):
    clf, _ = fitted
    loaded_before = clf.predict(TEXTS[:8])
    clone = bert_tf.TextClassifier(clf.task, clf.model)
    clone._place(bert_tf.TrainingConfig(mixed_precision="bfloat16"))
    assert clone.model is not clf.model
    assert clone.model.layers[-1].dtype_policy.name == "float32"  # float32 logits
    encoder = [layer for layer in clone.model.layers if isinstance(layer, bert_tf.BertEncoder)]
    assert encoder[0].dtype_policy.name == "mixed_bfloat16"
    for a, b in zip(clone.model.get_weights(), clf.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    after = clone.predict(TEXTS[:8])
    agree = np.mean([a["label"] == b["label"] for a, b in zip(after, loaded_before)])
    assert agree >= 0.75  # bf16 rounding may flip a near-tie of this barely trained model
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_token_classifier_and_question_answerer_take_python_lists(tiny_checkpoint):
    sentences = [["EU", "rejects", "German", "call"], "Peter Blackburn".split()]
    tags = [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]
    tagger = bert_tf.TokenClassifier.from_pretrained(tiny_checkpoint, max_seq_length=16)
    tagger.fit(sentences, tags, epochs=1, batch_size=2)
    assert tagger.task.labels == ["O", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    predicted = tagger.predict(["EU rejects German call"])
    assert len(predicted[0]) == 4
    assert set(tagger.evaluate(sentences, tags)) == {"precision", "recall", "f1"}

    context = "The tower was designed by Gustave Eiffel in Paris."
    qa = bert_tf.QuestionAnswerer.from_pretrained(tiny_checkpoint, max_seq_length=48,
                                                  doc_stride=16, max_query_length=8)
    qa.fit([("Who designed the tower?", context)], [("Gustave Eiffel", 26)], epochs=1,
           batch_size=1)
    answer = qa.predict([{"question": "Who designed it?", "context": context}])[0]
    assert answer["start"] < 0 or context[answer["start"]:answer["end"]] == answer["text"]
    with pytest.raises(ValueError, match="not the answer 'Eiffel'"):
        qa.fit([("Who?", context)], [("Eiffel", 0)])


def test_tasks_are_registered_with_their_config_and_files():
    # bert_tf's own, found as folders of bert_tf/tasks; tests may register more.
    assert registry.builtin_task_names() == ["classification", "embedding", "ner", "qa"]
    assert set(registry.builtin_task_names()) <= set(task_names())
    for name in task_names():
        task_class = get_task_class(name)
        assert task_class.name == name
        assert task_class.predictions_file.startswith("predictions.")
    with pytest.raises(ValueError, match=r"Unknown task 'squad'; known tasks: \["):
        get_task_class("squad")


@pytest.mark.parametrize("task, name, content", [
    ("classification", "train.jsonl", b'{"text": "fine", "label": "a"}\n{"text": "\xff"}\n'),
    ("classification", "train.csv", b"text,label\nfine,a\n\xe9t\xe9,b\n"),
    ("ner", "train.txt", b"EU B-ORG\n\nPar\xeds B-LOC\n"),
    ("qa", "train.json", b'{"data": [\n{"title": "\xff"}]}'),
])
def test_data_files_that_are_not_utf8_name_the_line(tiny_checkpoint, tmp_path, task, name,
                                                    content):
    path = tmp_path / name
    path.write_bytes(content)
    model = bert_tf.TaskModel.from_pretrained(tiny_checkpoint, task=task,
                                              **({"labels": ["a", "b"]}
                                                 if task == "classification" else {}))
    line = content[:content.index(next(b for b in (b"\xff", b"\xe9", b"\xed")
                                       if b in content))].count(b"\n") + 1
    with pytest.raises(ValueError, match=rf"{name}:{line}: not UTF-8 text"):
        model.fit(str(path))


def test_fit_under_mirrored_strategy_rebuilds_the_model_there(fitted):
    """strategy="mirrored" (one CPU replica here): the model is rebuilt under the
    strategy with its weights and trains there."""
    clf, _ = fitted
    clone = bert_tf.TextClassifier(clf.task, clf.model)
    before = clone.model
    history = clone.fit(TEXTS[:32], LABELS[:32], epochs=1, batch_size=16,
                        strategy="mirrored")
    assert clone.model is not before
    assert np.isfinite(history.history["loss"][0])
    assert isinstance(clone.model.weights[0].value, tf.distribute.DistributedValues)
