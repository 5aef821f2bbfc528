"""Pretraining batches from TFRecords (`create.create_pretraining_data`'s output).

    dataset = pretraining_dataset("data/books/*.tfrecord", batch_size=256, max_seq_length=128,
                                  max_predictions_per_seq=20, seed=1)
    features = next(iter(dataset))   # the seven schema features, int32/float32 [B, ...]

The order is a function of `seed` alone: files and records are shuffled with seeded,
deterministic ops, and dynamic masking keys its masks on (seed, batch number). A restart
that restores a checkpointed iterator (`tf.train.Checkpoint(iterator=iter(dataset))`)
therefore continues with exactly the batches an uninterrupted run would have seen. (Such a
checkpoint holds the shuffle buffer: `shuffle_buffer_size` records, ~2 KB each at S=128.)
"""
import tensorflow as tf

from bert_tf.data import schema
from bert_tf.data.files import match_files


def pretraining_dataset(file_pattern, batch_size, max_seq_length, max_predictions_per_seq, *,
                        masker=None, vocab_size=None, shuffle=True, repeat=True, seed=0,
                        shuffle_buffer_size=10000, cycle_length=8, drop_remainder=True):
    """A `tf.data.Dataset` of pretraining feature batches.

    Args:
        file_pattern: str (comma-separated globs) or list of globs of TFRecord files.
        batch_size: int B, sequences per batch.
        max_seq_length: int S the records were written with.
        max_predictions_per_seq: int P (of the records, or of `masker` with dynamic masking).
        masker: `masking.MaskedLMMasker` for records written with dynamic masking (they are
            then masked here, differently in every epoch); None for masked records.
        vocab_size: int or None; if given, a batch holding an id >= vocab_size fails with
            an error saying the records were made with another vocab.
        shuffle: bool, shuffle files and records (False: file order, then record order).
        repeat: bool, cycle through the data forever.
        seed: int, fixes the shuffle order and the dynamic masks.
        shuffle_buffer_size: int, records in the shuffle buffer.
        cycle_length: int, files read at once.
        drop_remainder: bool, drop the last partial batch (needed for fixed shapes).
    Returns:
        tf.data.Dataset of dicts: int32 `input_word_ids`, `input_mask`, `input_type_ids`
        [B, S], `masked_lm_positions`, `masked_lm_ids` [B, P], float32 `masked_lm_weights`
        [B, P], int32 `next_sentence_labels` [B].
    Raises:
        FileNotFoundError if a pattern matches no file; ValueError if a file does not hold
        records of the expected schema.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if masker is not None and masker.max_predictions_per_seq != max_predictions_per_seq:
        raise ValueError(f"masker.max_predictions_per_seq ({masker.max_predictions_per_seq}) "
                         f"!= max_predictions_per_seq ({max_predictions_per_seq})")
    files = match_files(file_pattern, "pretraining record")
    spec = schema.feature_spec(max_seq_length, max_predictions_per_seq, masked=masker is None)
    for path in files:
        schema.check_record_file(path, spec)

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(lambda records: schema.parse_examples(records, spec),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if vocab_size is not None:
        dataset = dataset.map(lambda features: _check_ids(features, vocab_size))
    if masker is not None:
        # Batch i of the whole run (epochs included) gets the masks keyed by (seed, i).
        dataset = dataset.enumerate().map(
            lambda index, features: masker(features, seed=tf.stack(
                [tf.constant(seed, tf.int64), index])),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def damaged_files(file_pattern):
    """[(path, records read, TF's message)] of the record files that do not read to their
    end (truncated by a crash or a copy): TF's own error names no file, so a run that
    fails with DataLossError looks here for which one."""
    damaged = []
    for path in match_files(file_pattern, "pretraining record"):
        count = 0
        try:
            for _ in tf.data.TFRecordDataset(path):
                count += 1
        except tf.errors.DataLossError as e:
            damaged.append((path, count, e.message.splitlines()[0]))
    return damaged


def _check_ids(features, vocab_size):
    for name in ("input_word_ids", "masked_lm_ids"):
        if name in features:
            tf.debugging.assert_less(
                features[name], vocab_size,
                message=f"{name} holds an id >= the model's vocab size {vocab_size}: the "
                        "records were made with a different vocab")
    return features
