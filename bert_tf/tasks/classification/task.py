"""Sentence (pair) classification: sentiment, NLI, paraphrase, GLUE.

The label vocabulary comes from `labels` or, sorted, from the training file. Model: the
encoder's pooled [CLS] output -> dropout -> Dense(num_labels) logits [B, C]. At serving
time an empty string is valid input: it packs to `[CLS] [SEP]` and gets a prediction like
any other text.
"""
import collections
import dataclasses
import functools
import json

import keras
import numpy as np
import tensorflow as tf

from bert_tf.common.fields import config_field
from bert_tf.model.encoder import encoder_inputs
from bert_tf.tasks import metrics
from bert_tf.tasks.base import Task, TaskConfig, require_labels
from bert_tf.tasks.classification.explain import ClassificationExplainTarget
from bert_tf.tasks.classification.reading import (TextExample, examples_from_rows,
                                                  label_vocabulary, read_examples)
from bert_tf.tasks.registry import register_task


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
    class_weight: str | None = config_field(
        None, "Training-loss weight of each class, for imbalanced data: 'balanced' (N / "
        "(classes x count of the class) in the training data, as scikit-learn's), or "
        "'label:weight,...' (Python: a {label: weight} dict; unnamed labels weigh 1). "
        "Saved as the resolved {label: weight}.")

    def __post_init__(self):
        super().__post_init__()
        self.class_weight = _parse_class_weight(self.class_weight)
        self.labels = [str(label) for label in self.labels]
        if self.labels and len(self.labels) < 2:
            raise ValueError(f"Classification needs at least 2 labels, got {self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"Labels must be distinct, got {self.labels}")


@register_task
class ClassificationTask(ClassificationExplainTarget, Task):
    """Single-text or text-pair classification.

    Options (`ClassificationConfig`): labels (the label vocabulary; label id = position;
    may stay empty until training data gives it, see `label_vocabulary`), text_column,
    text_b_column, label_column (see `read_examples`; a task with a `text_b_column` is a
    pair task, raw inputs `text` and `text_b`), dropout_rate (on the pooled output),
    class_weight (per-class loss weights).
    """

    name = "classification"
    config_class = ClassificationConfig
    predictions_file = "predictions.jsonl"

    @property
    def is_pair(self):
        return self.text_b_column is not None

    @property
    def default_monitor(self):
        # The validation loss, not accuracy: on imbalanced data an epoch that predicts
        # the majority class scores a high accuracy (and an MCC of 0) but a poor loss.
        return "loss"

    # --- data --------------------------------------------------------------------------
    def read_examples(self, path, require_labels=True):
        return read_examples(path, self.text_column, self.text_b_column, self.label_column,
                             require_labels)

    def examples_from(self, inputs, labels=None):
        """`inputs`: texts, or (text, text_b) pairs for a pair task; `labels`: None or
        one label per input. Without `labels` an input may carry its label last, as
        corpora hold them: (text, label), or (text, text_b, label) for a pair task."""
        if labels is not None and len(labels) != len(inputs):
            raise ValueError(f"{len(inputs)} inputs but {len(labels)} labels")
        width = 2 if self.is_pair else 1  # texts per input
        accepted = ("(text, text_b) pairs or (text, text_b, label) triples (a pair task)"
                    if self.is_pair else "texts or (text, label) pairs (a single-text task; "
                    "for text pairs create it with text_b_column='text_b')")
        examples = []
        for i, value in enumerate(inputs):
            values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
            carries_label = labels is None and len(values) == width + 1
            texts = values[:width]
            if (len(values) != width and not carries_label) or not all(
                    isinstance(text, str) for text in texts):
                raise ValueError(f"input {i}: got {value!r}; this task takes {accepted}" +
                                 ("" if labels is None else ", with labels given apart"))
            label = values[-1] if carries_label else None if labels is None else labels[i]
            examples.append(TextExample(texts[0], texts[1] if self.is_pair else None,
                                        None if label is None else str(label), f"input {i}"))
        return examples

    def examples_from_records(self, records, name, require_labels=True):
        """Rows by the column options (`text_column`, `text_b_column`, `label_column`)."""
        return examples_from_rows(records, name, self.text_column, self.text_b_column,
                                  self.label_column, require_labels)

    def label_vocabulary(self, examples):
        return label_vocabulary(examples)

    def fitted_to(self, examples):
        """Also resolves class_weight='balanced' from the training labels."""
        task = super().fitted_to(examples)
        if task.class_weight != "balanced":
            return task
        counts = collections.Counter(task.label_id(ex) for ex in examples)
        return task.replace(class_weight={
            label: len(examples) / (len(task.labels) * counts[i])
            for i, label in enumerate(task.labels) if counts[i]})

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

    def training_batch(self, tokenized, targets):
        """With class weights, each example's weight is its label's (keras' sample
        weights: the loss is the weighted mean over the batch)."""
        features, labels = super().training_batch(tokenized, targets)
        if not self.class_weight:
            return features, labels
        return features, labels, tf.gather(self._weight_by_id, labels)

    @functools.cached_property
    def _weight_by_id(self):
        unknown = sorted(set(self.class_weight) - set(self.labels))
        if unknown:
            raise ValueError(f"class_weight names labels {unknown} the task does not have; "
                             f"its labels are {self.labels}")
        return tf.constant([float(self.class_weight.get(label, 1.0))
                            for label in self.labels], tf.float32)

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
        """accuracy, macro_f1, mcc and loss (mean cross-entropy)."""
        y_true = [self.label_id(ex) for ex in examples]
        y_pred = [self.label_ids[p["label"]] for p in predictions]
        probabilities = [[p["probabilities"][label] for label in self.labels]
                         for p in predictions]
        return metrics.classification_metrics(y_true, y_pred, probabilities)

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


def _parse_class_weight(value):
    """None, "balanced", or {label: float} from a dict or "label:weight,..." string."""
    if value is None or value == "balanced" or value == "":
        return value or None
    if isinstance(value, str):
        pairs = [item.rpartition(":") for item in value.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError(f"class_weight {value!r}: give 'balanced' or "
                             "'label:weight,label:weight'")
        value = {label.strip(): weight for label, _, weight in pairs}
    if not isinstance(value, dict):
        raise ValueError(f"class_weight must be 'balanced' or {{label: weight}}, got {value!r}")
    weights = {}
    for label, weight in value.items():
        try:
            weights[str(label)] = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"class_weight of {label!r} must be a number, got "
                             f"{weight!r}") from None
        if weights[str(label)] < 0:
            raise ValueError(f"class_weight of {label!r} must be >= 0, got {weight!r}")
    return weights
