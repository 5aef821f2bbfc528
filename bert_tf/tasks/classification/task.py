"""Sentence (pair) classification: sentiment, NLI, paraphrase, GLUE.

The label vocabulary comes from `labels` or, sorted, from the training file. Model: the
encoder's pooled [CLS] output -> dropout -> Dense(num_labels) logits [B, C]. At serving
time an empty string is valid input: it packs to `[CLS] [SEP]` and gets a prediction like
any other text.
"""
import dataclasses
import json

import keras
import numpy as np
import tensorflow as tf

from bert_tf.common.fields import config_field
from bert_tf.model.encoder import encoder_inputs
from bert_tf.tasks import metrics
from bert_tf.tasks.base import Task, TaskConfig, require_labels
from bert_tf.tasks.classification.explain import ClassificationExplainTarget
from bert_tf.tasks.classification.reading import TextExample, label_vocabulary, read_examples
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

    def __post_init__(self):
        super().__post_init__()
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
    pair task, raw inputs `text` and `text_b`), dropout_rate (on the pooled output).
    """

    name = "classification"
    config_class = ClassificationConfig
    predictions_file = "predictions.jsonl"

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
