"""tf.data pipelines of a fine-tuning task's examples, with length bucketing: raw strings
in, tokenized and packed in the graph by the task's own functions.

Length bucketing (on by default, `Task.bucket_by_length`): batches hold examples of
similar length, so padding each batch to its longest row wastes little. Training draws a
new random order each epoch, cuts it into windows of `BUCKET_WINDOW_BATCHES` batches,
sorts each window by length, cuts it into batches and shuffles the batches (Hugging Face
Trainer's `group_by_length` uses the same 50-batch "megabatches"): every example once per
epoch, still random, same number of batches. Prediction and evaluation sort all examples
by length and put the per-example results back in input order (`EXAMPLE_INDEX`).

    dataset = make_dataset(task, examples, batch_size=32, training=True, seed=1)
"""
import math

import numpy as np
import tensorflow as tf

TOKENIZE_BATCH_SIZE = 256  # examples per tokenizer call when caching training data
# Training batches per length-sorted window: enough for batches of near-equal lengths,
# few enough that each batch's examples still come from a random 1/K of the data.
BUCKET_WINDOW_BATCHES = 50
# Prediction datasets carry, next to `preprocess`'s outputs, each row's position in input
# order (int32 [B]), so that results of length-sorted batches go back to that order.
EXAMPLE_INDEX = "example_index"


def make_dataset(task, examples, batch_size, training=False, seed=None,
                 bucket_by_length=None):
    """tf.data pipeline of a task's examples.

    Args:
        task: a `bert_tf.tasks.Task`.
        examples: list of the task's examples.
        batch_size: int, global batch size.
        training: bool; yields (features, labels[, weights]) batches of examples
            reshuffled each epoch; no example is dropped (at most one batch is
            smaller). Each example is tokenized once and cached; only packing runs
            per batch.
        seed: int or None, shuffle seed.
        bucket_by_length: bool or None (None: the task's `bucket_by_length`); batch
            examples of similar `sequence_lengths` together. Ignored with
            `pad_to_max_length`, where every batch is S wide anyway.
    Returns:
        tf.data.Dataset of known cardinality ceil(N / batch_size): (features, ...)
        batches for training; for prediction, dicts of `preprocess` outputs, plus
        when bucketing `EXAMPLE_INDEX` (int32 [B], each row's position in
        `examples`), which the prediction loop uses to return results in input order.
    """
    if not examples:
        raise ValueError("no examples to make a dataset from")
    bucket_by_length = buckets(task, bucket_by_length)
    columns = task.raw_inputs(examples)
    if training:
        dataset = _training_dataset(task, columns, task.targets(examples), batch_size, seed,
                                    bucket_by_length)
    else:
        dataset = _prediction_dataset(task, columns, batch_size, bucket_by_length)
    return dataset.prefetch(tf.data.AUTOTUNE)


def buckets(task, bucket_by_length):
    """Whether to bucket, given a `bucket_by_length` argument (None: the task's
    default); never with `pad_to_max_length`, where every batch is S wide."""
    if bucket_by_length is None:
        bucket_by_length = task.bucket_by_length
    return bool(bucket_by_length) and not task.pad_to_max_length


def _training_dataset(task, columns, targets, batch_size, seed, bucket_by_length):
    """(features, labels[, weights]) batches, reshuffled each epoch; see `make_dataset`."""
    num_examples = len(next(iter(columns.values())))
    return _training_batches(task, _tokenized(task, columns, targets), num_examples,
                             batch_size, seed, bucket_by_length, reshuffle=True)


def training_epochs(task, examples, batch_size, seed, bucket_by_length=None):
    """`epoch -> tf.data.Dataset` of that epoch's training batches, as `make_dataset`
    makes them, except that each epoch's order is a function of (seed, epoch) alone: the
    same in any process, so a run resumed mid-epoch continues with the very batches an
    uninterrupted run sees (`bert_tf.train.trainer`). Examples are tokenized once, for
    every epoch.
    """
    if not examples:
        raise ValueError("no examples to make a dataset from")
    if seed is None:
        raise ValueError("training_epochs needs a seed: the epochs' order derives from it")
    bucket_by_length = buckets(task, bucket_by_length)
    tokenized = _tokenized(task, task.raw_inputs(examples), task.targets(examples))
    num_examples = len(examples)

    def epoch_batches(epoch):
        epoch_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
        return _training_batches(task, tokenized, num_examples, batch_size, epoch_seed,
                                 bucket_by_length, reshuffle=False).prefetch(tf.data.AUTOTUNE)

    return epoch_batches


def _tokenized(task, columns, targets):
    """(tokenized, targets, lengths) per example, tokenized once and cached."""
    raw = {name: tf.constant(column, tf.string) for name, column in columns.items()}

    def tokenize(raw, targets):  # [256] -> (ragged pieces, targets, lengths [256])
        tokenized = task.traced_tokenize(raw)
        return tokenized, targets, task.sequence_lengths(tokenized)

    return (tf.data.Dataset.from_tensor_slices((raw, targets))
            .batch(TOKENIZE_BATCH_SIZE)
            .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
            .unbatch().cache())


def _training_batches(task, tokenized, num_examples, batch_size, seed, bucket_by_length,
                      reshuffle):
    """Shuffled (and length-bucketed) batches of `_tokenized`'s `num_examples` examples."""
    dataset = tokenized.shuffle(num_examples, seed=seed, reshuffle_each_iteration=reshuffle)
    if bucket_by_length:
        # Windows of K whole batches (only the last one is short), so bucketing
        # makes exactly as many batches as plain batching: ceil(N / batch_size).
        dataset = (dataset.ragged_batch(batch_size * BUCKET_WINDOW_BATCHES)
                   .map(_sort_by_length)
                   .unbatch()
                   .ragged_batch(batch_size)
                   # Else each window's batches would run from short to long.
                   .shuffle(BUCKET_WINDOW_BATCHES,
                            seed=None if seed is None else seed + 1,
                            reshuffle_each_iteration=reshuffle))
    else:
        dataset = dataset.ragged_batch(batch_size)
    return (dataset
            .map(lambda tokenized, targets, lengths: task.training_batch(tokenized, targets),
                 num_parallel_calls=tf.data.AUTOTUNE)
            # unbatch() hides the length; Keras needs it for steps and ETA.
            .apply(tf.data.experimental.assert_cardinality(
                math.ceil(num_examples / batch_size))))


def _sort_by_length(tokenized, targets, lengths):
    """Graph: a window of examples (batched) reordered by `lengths` [W], shortest
    first; ties keep their (random) order."""
    order = tf.argsort(lengths, stable=True)
    return tf.nest.map_structure(lambda t: tf.gather(t, order), (tokenized, targets, lengths))


def _prediction_dataset(task, columns, batch_size, bucket_by_length):
    """Dicts of `preprocess` outputs plus `EXAMPLE_INDEX`; see `make_dataset`."""
    if not bucket_by_length:  # input order, nothing to restore
        return (tf.data.Dataset.from_tensor_slices(
                    {name: tf.constant(column, tf.string) for name, column in columns.items()})
                .batch(batch_size)
                .map(task.traced_preprocess, num_parallel_calls=tf.data.AUTOTUNE))
    order = prediction_order(task, columns, bucket_by_length)
    raw = {name: tf.constant([column[i] for i in order], tf.string)
           for name, column in columns.items()}

    def preprocess(raw, index):
        return {**task.traced_preprocess(raw), EXAMPLE_INDEX: index}

    return (tf.data.Dataset.from_tensor_slices((raw, order))
            .batch(batch_size)
            .map(preprocess, num_parallel_calls=tf.data.AUTOTUNE))


def prediction_order(task, columns, bucket_by_length):
    """int32 numpy [N]: the order prediction batches take the examples in, shortest
    first when bucketing (ties in input order), else input order."""
    if bucket_by_length:
        # Sorting needs every length first: one tokenizing pass ahead of the real one
        # (tokenizing is a few percent of the model's cost).
        return np.argsort(raw_lengths(task, columns), kind="stable").astype(np.int32)
    return np.arange(len(next(iter(columns.values()))), dtype=np.int32)


def raw_lengths(task, columns):
    """int32 numpy [N], the `sequence_lengths` of raw inputs {name: list of N str}."""
    count = len(next(iter(columns.values())))
    lengths = [np.zeros([0], np.int32)]
    for start in range(0, count, TOKENIZE_BATCH_SIZE):
        chunk = {name: tf.constant(column[start:start + TOKENIZE_BATCH_SIZE], tf.string)
                 for name, column in columns.items()}
        lengths.append(task.traced_raw_lengths(chunk).numpy())
    return np.concatenate(lengths)
