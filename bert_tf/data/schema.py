"""The pretraining TFRecord schema, in one place: the writer, the reader and the tests use it.

One `tf.train.Example` per sequence pair, every feature fixed-length:

    input_word_ids        int [S]  [CLS] A [SEP] B [SEP], zero-padded (masked tokens replaced)
    input_mask            int [S]  1 on tokens, 0 on padding
    input_type_ids        int [S]  0 on [CLS] A [SEP], 1 on B [SEP]
    masked_lm_positions   int [P]  positions the masked LM predicts, ascending, zero-padded
    masked_lm_ids         int [P]  the original ids at those positions, zero-padded
    masked_lm_weights   float [P]  1.0 for a real prediction, 0.0 for padding
    next_sentence_labels  int [1]  0: B follows A (IsNext), 1: B is random (as in Google's data)

S is `max_seq_length`, P `max_predictions_per_seq`. Records written for dynamic masking
(`masked=False`) have only the unmasked sequence and the label; the masked-LM features are
then made by `masking.MaskedLMMasker` in the input pipeline. TFRecords store integers as
int64; they are parsed back as int32, the dtype of every model input.
"""
import numpy as np
import tensorflow as tf

SEQUENCE_FEATURES = ("input_word_ids", "input_mask", "input_type_ids")
MASKED_LM_FEATURES = ("masked_lm_positions", "masked_lm_ids", "masked_lm_weights")
LABEL_FEATURE = "next_sentence_labels"
FLOAT_FEATURES = ("masked_lm_weights",)


def feature_spec(max_seq_length, max_predictions_per_seq, masked=True):
    """The `tf.io.parse_example` spec of a pretraining record.

    Args:
        max_seq_length: int S, tokens per sequence.
        max_predictions_per_seq: int P, masked-LM slots per sequence (unused if not `masked`).
        masked: bool, whether the records carry the masked-LM features (False: records
            written for dynamic masking).
    Returns:
        dict {feature name: tf.io.FixedLenFeature}.
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be >= 3 ([CLS] A [SEP]), got {max_seq_length}")
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in SEQUENCE_FEATURES}
    if masked:
        if max_predictions_per_seq < 1:
            raise ValueError(
                f"max_predictions_per_seq must be >= 1, got {max_predictions_per_seq}")
        for name in MASKED_LM_FEATURES:
            dtype = tf.float32 if name in FLOAT_FEATURES else tf.int64
            spec[name] = tf.io.FixedLenFeature([max_predictions_per_seq], dtype)
    spec[LABEL_FEATURE] = tf.io.FixedLenFeature([1], tf.int64)
    return spec


def serialize_examples(features, spec):
    """Serializes a batch of examples to `tf.train.Example` bytes.

    Args:
        features: dict {name: array [N, length]} with exactly the names of `spec`
            (the label may be [N]).
        spec: a `feature_spec`.
    Returns:
        list of N serialized `tf.train.Example`s.
    """
    if set(features) != set(spec):
        raise ValueError(f"Features {sorted(features)} do not match the schema {sorted(spec)}")
    columns = {}
    for name, feature in spec.items():
        values = np.asarray(features[name]).reshape(len(features[LABEL_FEATURE]), -1)
        if values.shape[1] != feature.shape[0]:
            raise ValueError(f"Feature {name!r} has length {values.shape[1]}, the schema says "
                             f"{feature.shape[0]}")
        columns[name] = values.tolist()
    examples = []
    for i in range(len(features[LABEL_FEATURE])):
        example = tf.train.Example()
        for name, feature in spec.items():
            if feature.dtype == tf.float32:
                example.features.feature[name].float_list.value.extend(columns[name][i])
            else:
                example.features.feature[name].int64_list.value.extend(columns[name][i])
        # Deterministic: map fields in key order, whatever the process (hash seed).
        examples.append(example.SerializeToString(deterministic=True))
    return examples


def parse_examples(serialized, spec):
    """Parses a batch of serialized records: int features as int32 [B, length], weights
    float32 [B, P], `next_sentence_labels` int32 [B]."""
    parsed = tf.io.parse_example(serialized, spec)
    features = {name: value if value.dtype == tf.float32 else tf.cast(value, tf.int32)
                for name, value in parsed.items()}
    features[LABEL_FEATURE] = features[LABEL_FEATURE][:, 0]
    return features


def check_record_file(path, spec):
    """Reads the first record of `path` and checks it against `spec`.

    Raises:
        ValueError naming the file and the problem: not a TFRecord file, no records, a
        missing or extra feature, a feature of the wrong type or length.
    """
    try:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        raise ValueError(f"{path} is not a readable TFRecord file: {e.message}") from e
    if first is None:
        raise ValueError(f"{path} holds no records")
    example = tf.train.Example()
    try:
        example.ParseFromString(first.numpy())
    except Exception as e:  # protobuf's DecodeError has no stable import path
        raise ValueError(f"{path}: the first record is not a tf.train.Example ({e})") from e
    stored = example.features.feature
    missing = sorted(set(spec) - set(stored))
    if missing:
        hint = ""
        if set(missing) <= set(MASKED_LM_FEATURES):
            hint = (" (the records were written for dynamic masking: read them with "
                    "dynamic masking on)")
        raise ValueError(f"{path}: records lack the features {missing}{hint}")
    extra = sorted(set(stored) - set(spec))
    if extra:
        hint = ""
        if set(extra) <= set(MASKED_LM_FEATURES):
            hint = (" (the records are already masked: read them with dynamic masking off, "
                    "or write them again with --dynamic_masking)")
        raise ValueError(f"{path}: records have features {extra} the schema does not "
                         f"expect{hint}")
    for name, feature in spec.items():
        kind = "float_list" if feature.dtype == tf.float32 else "int64_list"
        if stored[name].WhichOneof("kind") != kind:
            raise ValueError(f"{path}: feature {name!r} is stored as "
                             f"{stored[name].WhichOneof('kind')}, expected {kind}")
        length = len(getattr(stored[name], kind).value)
        if length != feature.shape[0]:
            raise ValueError(
                f"{path}: feature {name!r} has {length} values, expected {feature.shape[0]} "
                "(check max_seq_length / max_predictions_per_seq against the data)")
