"""Sentence (pair) classification: sentiment, NLI, paraphrase, GLUE.

Data: CSV (with a header), TSV (GLUE style: tab-separated, no quoting) or JSON lines.
Columns are named (`text_column="sentence"`) or, for headerless files such as GLUE's
CoLA, given as 0-based indexes (`text_column="3"`): a file read with index columns has no
header row. Labels are strings ("1", "positive"); the label vocabulary comes from
`--labels` or, sorted, from the training file.

Model: the encoder's pooled [CLS] output -> dropout -> Dense(num_labels) logits [B, C].

Empty text: a data file with an empty text field is rejected (it is a broken row, named
in the error). At serving time an empty string is valid input: it packs to
`[CLS] [SEP]` and gets a prediction like any other text.
"""
import csv
import dataclasses
import functools
import io
import json
import os

import keras
import numpy as np
import tensorflow as tf

from bert_tf.data import files
from bert_tf.explain import words as explain_words
from bert_tf.model.encoder import encoder_inputs
from bert_tf.common.fields import config_field
from bert_tf.tasks import metrics
from bert_tf.tasks.base import Task, TaskConfig, register_task, require_labels

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclasses.dataclass(frozen=True)
class TextExample:
    """One text (or text pair) and its label.

    Attributes:
        text: the first (or only) text.
        text_b: the second text of a pair task, else None.
        label: the label string, or None for unlabelled prediction input.
        source: "file:line", for error messages.
    """
    text: str
    text_b: str | None = None
    label: str | None = None
    source: str = ""

    @property
    def is_labelled(self):
        return self.label is not None


def _rows(path, headerless):
    """Yields (line number, row) from a CSV / TSV / JSONL file; rows are dicts, or lists
    for headerless CSV / TSV."""
    kind = READERS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise ValueError(f"{path}: unknown data format; use one of {sorted(READERS)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found: {path}")
    # Lines as csv reads a file opened with newline="": \r\n stays inside quoted fields.
    with io.StringIO(files.read_text(path), newline="") as f:
        if kind == "jsonl":
            for line_number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{line_number}: not valid JSON: {e}") from e
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{line_number}: expected a JSON object")
                yield line_number, row
            return
        # GLUE's TSVs are not quoted: quotes are text.
        options = ({"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {})
        reader = csv.reader(f, **options)
        header = None if headerless else next(reader, None)
        for fields in reader:
            if not fields:
                continue
            if header is None:
                yield reader.line_num, fields
            elif len(fields) != len(header):
                raise ValueError(f"{path}:{reader.line_num}: {len(fields)} fields, but the "
                                 f"header has {len(header)}")
            else:
                yield reader.line_num, dict(zip(header, fields))


def _field(row, column):
    """The row's value of a named or indexed column, or None when the row lacks it."""
    if isinstance(row, list):
        index = int(column)
        return row[index] if index < len(row) else None
    value = row.get(column)
    return None if value is None else str(value)


def read_examples(path, text_column="text", text_b_column=None, label_column="label",
                  require_labels=True):
    """Reads a classification file.

    Args:
        path: .csv, .tsv or .jsonl / .json (one object per line) file.
        text_column: name, or 0-based index for a headerless CSV/TSV, of the text.
        text_b_column: same for the second text of pair tasks; None for single texts.
        label_column: same for the label.
        require_labels: a row without a label is an error (training / evaluation); when
            False a missing label (or label column) gives `label=None`.
    Returns:
        list of TextExample.
    Raises:
        ValueError naming file:line for a missing column or an empty text.
    """
    columns = [c for c in (text_column, text_b_column, label_column) if c is not None]
    headerless = all(str(c).isdigit() for c in columns)
    if not headerless and any(str(c).isdigit() for c in columns):
        raise ValueError(f"Columns {columns} mix names and indexes; use one or the other")
    examples = []
    for line_number, row in _rows(path, headerless):
        where = f"{path}:{line_number}"
        texts = []
        for column in (text_column, text_b_column):
            if column is None:
                texts.append(None)
                continue
            value = _field(row, column)
            if value is None:
                raise ValueError(f"{where}: no text column {column!r}")
            if not value.strip():
                raise ValueError(f"{where}: text column {column!r} is empty")
            texts.append(value)
        label = _field(row, label_column)
        if label is None and require_labels:
            raise ValueError(f"{where}: no label column {label_column!r}")
        examples.append(TextExample(texts[0], texts[1], label, where))
    if not examples:
        raise ValueError(f"{path} has no examples")
    return examples


def label_vocabulary(examples):
    """The sorted distinct labels of labelled examples."""
    labels = sorted({ex.label for ex in examples if ex.label is not None})
    if len(labels) < 2:
        raise ValueError(f"Classification needs at least 2 labels in the data, found {labels}")
    return labels


@dataclasses.dataclass
class ClassificationConfig(TaskConfig):
    """Options of `ClassificationTask` (each a `bert-finetune` flag)."""

    labels: list = config_field([], "Label vocabulary; label id = position (default: the "
                                    "sorted labels of the training data).")
    text_column: str = config_field("text", "Column of the text (a name, or a 0-based "
                                            "index for headerless files).")
    text_b_column: str | None = config_field(None, "Column of the second text of pair "
                                                   "tasks.")
    label_column: str = config_field("label", "Column of the label.")
    dropout_rate: float = config_field(0.1, "Dropout before the task's output layer.")

    def __post_init__(self):
        super().__post_init__()
        self.labels = [str(label) for label in self.labels]
        if self.labels and len(self.labels) < 2:
            raise ValueError(f"Classification needs at least 2 labels, got {self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"Labels must be distinct, got {self.labels}")


@register_task
class ClassificationTask(Task):
    """Single-text or text-pair classification.

    Options (`ClassificationConfig`): labels (the label vocabulary; label id = position;
    may stay empty until training data gives it, see `label_vocabulary`), text_column,
    text_b_column, label_column (see `read_examples`; a task with a `text_b_column` is a
    pair task, raw inputs `text` and `text_b`), dropout_rate (on the pooled output).
    """

    name = "classification"
    config_class = ClassificationConfig
    predictions_file = "predictions.jsonl"

    @functools.cached_property
    def label_ids(self):
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def is_pair(self):
        return self.text_b_column is not None

    @property
    def best_metric(self):
        return "accuracy"

    # --- data --------------------------------------------------------------------------
    def read_examples(self, path, require_labels=True):
        return read_examples(path, self.text_column, self.text_b_column, self.label_column,
                             require_labels)

    def examples_from(self, inputs, labels=None):
        """`inputs`: texts, or (text, text_b) pairs for a pair task; `labels`: None or
        one label per input."""
        if labels is not None and len(labels) != len(inputs):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
        examples = []
        for i, value in enumerate(inputs):
            texts = tuple(value) if isinstance(value, (tuple, list)) else (value, None)
            if len(texts) != 2 or not isinstance(texts[0], str):
                raise ValueError(f"input {i}: expected a text or a (text, text_b) pair, got "
                                 f"{value!r}")
            if (texts[1] is not None) != self.is_pair:
                raise ValueError(f"input {i}: " + ("a pair task needs (text, text_b) pairs"
                                                   if self.is_pair else
                                                   "a pair given to a single-text task"))
            label = None if labels is None else str(labels[i])
            examples.append(TextExample(texts[0], texts[1], label, f"input {i}"))
        return examples

    def label_vocabulary(self, examples):
        return label_vocabulary(examples)

    def raw_input_spec(self):
        names = ("text", "text_b") if self.is_pair else ("text",)
        return {name: tf.TensorSpec([None], tf.string, name=name) for name in names}

    def raw_inputs(self, examples):
        inputs = {"text": [ex.text for ex in examples]}
        if self.is_pair:
            missing = next((ex for ex in examples if ex.text_b is None), None)
            if missing:
                raise ValueError(f"{missing.source}: a pair task needs text_b")
            inputs["text_b"] = [ex.text_b for ex in examples]
        return inputs

    def label_id(self, example):
        """The example's label id; ValueError naming the row and label if unknown."""
        if example.label is None:
            raise ValueError(f"{example.source}: example has no label")
        if example.label not in self.label_ids:
            raise ValueError(f"{example.source}: unknown label {example.label!r}; the task's "
                             f"labels are {self.labels}")
        return self.label_ids[example.label]

    def targets(self, examples):
        return np.array([self.label_id(ex) for ex in examples], np.int32)

    def tokenize(self, raw):
        """{"text": [B][, "text_b": [B]]} strings to the same keys' ragged pieces
        int32 [B, (pieces)]."""
        return {name: self.tokenizer.tokenize(texts) for name, texts in raw.items()}

    def pack(self, tokenized):
        """Pieces to the three features [B, S]: `[CLS] text [SEP] (text_b [SEP])`."""
        names = ("text", "text_b") if self.is_pair else ("text",)
        return self.packer([tokenized[name] for name in names])

    # --- model ---------------------------------------------------------------------------
    def build_model(self, encoder):
        require_labels(self)
        inputs = encoder_inputs()
        # Only [CLS] of the last block feeds the pooler: `output_range=1` skips the other
        # positions there, the same logits for about 1/L less compute.
        pooled_output = encoder(inputs, output_range=1)["pooled_output"]  # [B, H]
        x = keras.layers.Dropout(self.dropout_rate, name="dropout")(pooled_output)
        # float32 logits: the softmax and loss stay exact under mixed precision.
        logits = keras.layers.Dense(
            len(self.labels), name="logits", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=encoder.bert_config.initializer_range))(x)  # [B, C]
        return keras.Model(inputs, logits, name="bert_classifier")

    def compile_args(self, optimizer):
        return {"optimizer": optimizer,
                "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    # --- outputs -------------------------------------------------------------------------
    def postprocess(self, logits, preprocessed):
        """logits [B, C] to `label_id` int32 [B], `label` string [B], `probabilities`
        float32 [B, C]."""
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"label_id": label_id,
                "label": tf.gather(tf.constant(self.labels), label_id),
                "probabilities": tf.nn.softmax(logits, axis=-1)}

    def predictions(self, examples, outputs):
        """[{"label": str, "probabilities": {label: float}}], one per example."""
        labels = outputs["label"].numpy()
        probabilities = outputs["probabilities"].numpy()
        return [{"label": label.decode("utf-8"),
                 "probabilities": dict(zip(self.labels, map(float, probs)))}
                for label, probs in zip(labels, probabilities)]

    def evaluate_predictions(self, examples, predictions):
        """accuracy, macro_f1 and mcc."""
        y_true = [self.label_id(ex) for ex in examples]
        y_pred = [self.label_ids[p["label"]] for p in predictions]
        return metrics.classification_metrics(y_true, y_pred)

    def write_predictions(self, path, examples, predictions):
        """JSON lines: the input text(s), `label` predicted, `probabilities`, and the
        example's own `true_label` when it has one."""
        with open(path, "w", encoding="utf-8") as f:
            for example, prediction in zip(examples, predictions):
                record = {"text": example.text}
                if self.is_pair:
                    record["text_b"] = example.text_b
                record.update(prediction)
                if example.label is not None:
                    record["true_label"] = example.label
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    # --- explanations ----------------------------------------------------------------------
    # The target is a class; its score is that class's logit. Words are those of `text`
    # (the first text of a pair), as the tokenizer splits them (punctuation apart).
    def explain_target_spec(self):
        return {"label_id": tf.TensorSpec([None], tf.int32, name="label_id")}

    def explain_target_ranges(self):
        return {"label_id": (-1, len(self.labels))}

    def parse_target(self, target, example, index):
        """`target`: None (the predicted class) or a label."""
        if target is None:
            return {"label_id": -1}
        if str(target) not in self.label_ids:
            raise ValueError(f"input {index}: unknown target label {target!r}; the task's "
                             f"labels are {self.labels}")
        return {"label_id": self.label_ids[str(target)]}

    def resolve_target(self, logits, preprocessed, target):
        label_id = target["label_id"]
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"label_id": tf.where(label_id < 0, predicted, label_id)}

    def target_score(self, logits, target, rows):
        label_id = tf.gather(target["label_id"], rows)  # [R]
        return tf.gather(logits, label_id, batch_dims=1)  # [R]

    def describe_target(self, target, words):
        return f"label {self.labels[target['label_id']]!r}"

    def explain_words(self, raw, preprocessed, target):
        words = explain_words.tokenizer_words(self.tokenizer, raw["text"])
        # Segment 0 is [CLS] text [SEP]: its pieces start at 1, and as many are kept.
        mask = tf.cast(preprocessed["input_mask"], tf.int32)
        first_segment = mask * tf.cast(preprocessed["input_type_ids"] == 0, tf.int32)
        kept = tf.reduce_sum(first_segment, axis=1) - 2
        return {**words, "piece_position": explain_words.piece_positions(
            words["piece_word"], tf.ones_like(kept), kept)}
