"""Length bucketing of `Task.make_dataset`: training sees every example once per epoch in
a new order, in batches of similar length, with a known cardinality; prediction sorts by
length and returns the results in input order, equal to unbucketed prediction."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import corpora
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import BertEncoder
from bert_tf.data import task_dataset
from bert_tf.tasks.classification import ClassificationTask, TextExample
from bert_tf.data.conll import read_conll
from bert_tf.tasks.ner import NerTask, label_vocabulary

NUM_EXAMPLES, BATCH_SIZE, WINDOW_BATCHES = 100, 8, 3


@pytest.fixture(scope="module")
def indexed_task_and_examples(tokenizer):
    """Real snippets whose label is their own index, so that training targets name
    the example each row came from."""
    texts = [text for text, _ in corpora.rotten_tomatoes("train")[:NUM_EXAMPLES]]
    labels = [str(i) for i in range(len(texts))]
    examples = [TextExample(text, label=label) for text, label in zip(texts, labels)]
    return ClassificationTask(tokenizer, 64, labels=labels), examples


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of 3 batches, so that 100 examples make several windows."""
    monkeypatch.setattr(task_dataset, "BUCKET_WINDOW_BATCHES", WINDOW_BATCHES)


def _epochs(dataset, count):
    """[[(example indexes [B], packed lengths [B]) per batch] per epoch]."""
    return [[(targets.numpy(), features["input_mask"].numpy().sum(axis=1))
             for features, targets in dataset] for _ in range(count)]


def _padding_fraction(epoch):
    real = sum(lengths.sum() for _, lengths in epoch)
    padded = sum(len(lengths) * lengths.max() for _, lengths in epoch)
    return 1 - real / padded


def test_training_buckets_see_every_example_once_per_epoch(indexed_task_and_examples,
                                                           small_windows):
    task, examples = indexed_task_and_examples
    dataset = task.make_dataset(examples, BATCH_SIZE, training=True, seed=3)
    expected_batches = math.ceil(NUM_EXAMPLES / BATCH_SIZE)
    assert dataset.cardinality().numpy() == expected_batches  # Keras' steps and ETA

    epochs = _epochs(dataset, 2)
    for epoch in epochs:
        assert len(epoch) == expected_batches
        assert sorted(np.concatenate([index for index, _ in epoch])) == list(range(NUM_EXAMPLES))
        assert sorted(len(index) for index, _ in epoch)[1:] == [BATCH_SIZE] * (expected_batches - 1)
    orders = [np.concatenate([index for index, _ in epoch]) for epoch in epochs]
    assert not np.array_equal(orders[0], orders[1])  # reshuffled each epoch
    batches = [[tuple(sorted(index)) for index, _ in epoch] for epoch in epochs]
    assert set(batches[0]) != set(batches[1])  # and regrouped, not only reordered


def test_training_batches_are_length_homogeneous(indexed_task_and_examples):
    """With the default window (50 batches > the 13 here) the epoch is one window, so
    the batches split the sorted lengths into runs that do not overlap."""
    task, examples = indexed_task_and_examples
    assert NUM_EXAMPLES <= task_dataset.BUCKET_WINDOW_BATCHES * BATCH_SIZE
    lengths = task.raw_lengths(task.raw_inputs(examples))
    [bucketed] = _epochs(task.make_dataset(examples, BATCH_SIZE, training=True, seed=0), 1)
    [plain] = _epochs(task.make_dataset(examples, BATCH_SIZE, training=True, seed=0,
                                        bucket_by_length=False), 1)
    for index, packed in bucketed + plain:  # the hook gives each row's packed length
        np.testing.assert_array_equal(packed, lengths[index])
    ranges = sorted((packed.min(), packed.max()) for _, packed in bucketed)
    for (_, longest), (shortest, _) in zip(ranges, ranges[1:]):
        assert longest <= shortest
    # Not sorted overall: the batch order is shuffled.
    assert ranges != [(p.min(), p.max()) for _, p in bucketed]
    assert _padding_fraction(bucketed) < 0.5 * _padding_fraction(plain)


def test_ner_training_buckets_keep_every_labelled_word(tokenizer, small_windows):
    sentences = read_conll(corpora.conll2003_path("train"))[:60]
    task = NerTask(tokenizer, 32, labels=label_vocabulary(sentences))
    dataset = task.make_dataset(sentences, BATCH_SIZE, training=True, seed=0)
    assert dataset.cardinality().numpy() == math.ceil(len(sentences) / BATCH_SIZE)
    # Each word with a first piece inside the 32 positions has weight 1, once.
    raw = {"text": tf.constant(task.raw_inputs(sentences)["text"])}
    words_kept = int(np.sum(task.preprocess(raw)["word_positions"].flat_values.numpy() >= 0))
    for _ in range(2):
        batches = list(dataset)
        assert len(batches) == math.ceil(len(sentences) / BATCH_SIZE)
        assert sum(float(weights.numpy().sum()) for _, _, weights in batches) == words_kept


def test_pad_to_max_length_turns_bucketing_off(tokenizer):
    examples = [TextExample(text, label=label)
                for text, label in corpora.rotten_tomatoes("train")[:40]]
    task = ClassificationTask(tokenizer, 48, pad_to_max_length=True, labels=["fresh", "rotten"])
    for features, _ in task.make_dataset(examples, BATCH_SIZE, training=True, seed=0):
        assert features["input_word_ids"].shape[1] == 48
    for batch in task.make_dataset(examples, BATCH_SIZE):  # input order: no index
        assert task_dataset.EXAMPLE_INDEX not in batch and batch["input_word_ids"].shape[1] == 48


def _tiny_model(task, tokenizer):
    keras.utils.set_random_seed(0)
    encoder = BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=1))
    return task.build_model(encoder)


def test_prediction_sorts_by_length_and_restores_input_order(tokenizer):
    examples = [TextExample(text) for text, _ in corpora.rotten_tomatoes("test")[:70]]
    task = ClassificationTask(tokenizer, 64, labels=["fresh", "rotten", "meh"])
    dataset = task.make_dataset(examples, 16)
    assert dataset.cardinality().numpy() == math.ceil(len(examples) / 16)
    batches = list(dataset)
    index = np.concatenate([batch[task_dataset.EXAMPLE_INDEX].numpy() for batch in batches])
    assert sorted(index) == list(range(len(examples))) and not np.array_equal(
        index, np.arange(len(examples)))
    packed = np.concatenate([batch["input_mask"].numpy().sum(axis=1) for batch in batches])
    assert np.all(np.diff(packed) >= 0)  # shortest first, across batches

    model = _tiny_model(task, tokenizer)
    bucketed = task.predict(model, examples, batch_size=16)
    plain = task.predict(model, examples, batch_size=16, bucket_by_length=False)
    one_by_one = [task.serve(model, {"text": tf.constant([ex.text])}) for ex in examples[:5]]
    assert [p["label"] for p in bucketed] == [p["label"] for p in plain]
    for got, want in zip(bucketed, plain):
        np.testing.assert_allclose(list(got["probabilities"].values()),
                                   list(want["probabilities"].values()), rtol=1e-5, atol=1e-6)
    for got, want in zip(bucketed, one_by_one):
        np.testing.assert_allclose(list(got["probabilities"].values()),
                                   want["probabilities"].numpy()[0], rtol=1e-5, atol=1e-6)
    labelled = [TextExample(ex.text, label="meh") for ex in examples]
    assert task.evaluate(model, labelled, 16) == task.evaluate(model, labelled, 16,
                                                               bucket_by_length=False)


def test_ner_prediction_restores_input_order(tokenizer):
    sentences = read_conll(corpora.conll2003_path("test"))[:50]
    task = NerTask(tokenizer, 24, labels=label_vocabulary(sentences))
    model = _tiny_model(task, tokenizer)
    bucketed = task.predict(model, sentences, batch_size=8)
    plain = task.predict(model, sentences, batch_size=8, bucket_by_length=False)
    assert [len(tags) for tags in bucketed] == [len(s.tokens) for s in sentences]
    assert bucketed == plain


def test_bert_predict_sorts_saved_model_batches_and_restores_order(
        tiny_classifier, tiny_classifier_export, tmp_path):
    """bert-predict's Predictor on an export, sorting by its `sequence_lengths` signature
    (the shared tiny classifier's export) or, for exports without one, by character
    counts: results in input order, equal to the in-process task's."""
    from bert_tf.export.saved_model import write_saved_model
    from bert_tf.export.serving_module import LENGTHS_SIGNATURE
    from bert_tf.export.task import TaskServingModule
    from bert_tf_serving.predictor import Predictor

    class WithoutLengths(TaskServingModule):
        """An export from before the `sequence_lengths` signature."""

        def endpoints(self):
            return {name: endpoint for name, endpoint in super().endpoints().items()
                    if name != LENGTHS_SIGNATURE}

    texts = [text for text, _ in corpora.rotten_tomatoes("test")[:40]]
    task, model = tiny_classifier.task, tiny_classifier.model
    want = task.predict(model, [TextExample(text) for text in texts], bucket_by_length=False)
    without_lengths = str(tmp_path / "without_lengths")
    write_saved_model(WithoutLengths(task, model), without_lengths)
    for folder in (without_lengths, tiny_classifier_export):
        predictor = Predictor(folder, batch_size=8)
        order = np.argsort(predictor.lengths({"text": texts}), kind="stable")
        assert not np.array_equal(order, np.arange(len(texts)))
        rows = predictor({"text": texts})
        assert [row["label"].decode() for row in rows] == [p["label"] for p in want]
        np.testing.assert_allclose([row["probabilities"] for row in rows],
                                   [list(p["probabilities"].values()) for p in want],
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predictor.lengths({"text": texts}),
                                  task.raw_lengths({"text": texts}))
