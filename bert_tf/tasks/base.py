"""Task: the contract every fine-tuning task fulfils, so that all of them train,
evaluate, predict, save, serve and explain through the same code. A task is one folder,
`bert_tf/tasks/<name>/` (README.md there walks through adding one).

A task has

* a config dataclass (`config_class`, a `TaskConfig`): its options, each also a flag of
  `bert-finetune` and a key of `task_config.json`; read as attributes (`task.labels`);
* a reader: `read_examples(path)` (errors name the file and line), `examples_from(x, y)`
  for Python lists, and `label_vocabulary(examples)` where training data gives labels;
* preprocessing in the TF graph, `preprocess(raw) = pack(tokenize(raw))`: raw strings
  [B] (`raw_input_spec()`) to ragged word pieces, then to the features `input_word_ids`,
  `input_mask`, `input_type_ids` [B, S] plus what post-processing needs. Training,
  evaluation, prediction and the SavedModel all run these same functions;
  `sequence_lengths` gives the packed lengths that batches are bucketed by;
* a head, `build_model(encoder)`: the three features in, float32 logits out;
* a loss and metrics: `compile_args(optimizer)`, `evaluate_predictions` (whole-set
  metrics; `default_monitor` is the one epoch selection and early stopping watch
  unless the training config names another);
* post-processing: `postprocess(logits, preprocessed)` (graph) and `predictions`
  (Python, per example); `write_predictions` to `predictions_file`;
* serving outputs (`serving_preprocess`, `serving_outputs`, `serving_outputs_ids`:
  by default the above), which `bert_tf/export` turns into signatures;
* optionally, explanation targets: the `ExplainTarget` hooks (explain_target.py).

A task whose `pack` cuts one example into several rows (QA's windows) overrides
`training_batch` (labels per row) and `sequence_lengths`, and its `postprocess` returns
one result per example. The shared machinery: `registry.py`, `saving.py`,
`examples.py`, `prediction.py` and `metrics.py` here, `bert_tf/data/task_dataset.py`
(tf.data and length bucketing), `bert_tf/train/finetune.py`, `bert_tf/task_model/`.

    task = ClassificationTask(tokenizer, max_seq_length=128, labels=["neg", "pos"])
    model = task.build_model(encoder)
    dataset = task.make_dataset(task.read_examples("train.jsonl"), 32, training=True)
    task.save(model, "out/export")           # model.keras, vocab.txt, task_config.json
    task, model = load_task("out/export")
"""
import abc
import dataclasses
import functools

import tensorflow as tf

from bert_tf.common.fields import config_field
from bert_tf.data import task_dataset
from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.tasks import examples, prediction, saving
from bert_tf.text.packer import SegmentPacker, packed_lengths
from bert_tf.text.tokenizer import BertTokenizer


def model_features(preprocessed):
    """The three model inputs out of `Task.preprocess`'s output (which may hold more)."""
    return {name: preprocessed[name] for name in INPUT_NAMES}


def require_labels(task):
    """ValueError unless the task's label vocabulary is known (a model needs its size)."""
    if not task.labels:
        raise ValueError(f"The {task.name} task has no labels yet: give labels=[...], or "
                         "let training data supply them (TaskModel.fit)")


@dataclasses.dataclass
class TaskConfig:
    """Options every task has. Subclasses add theirs (and may change these defaults)."""

    max_seq_length: int = config_field(128, "Tokens per packed sequence, [CLS] and [SEP] "
                                            "included.")
    pad_to_max_length: bool = config_field(False, "Pad every batch to max_seq_length "
                                                  "(fixed shapes, e.g. for TPUs) instead of "
                                                  "to its longest sequence.")

    def __post_init__(self):
        if isinstance(self.max_seq_length, bool) or int(self.max_seq_length) < 3:
            raise ValueError(f"max_seq_length must be >= 3, got {self.max_seq_length!r}")
        self.max_seq_length = int(self.max_seq_length)
        self.pad_to_max_length = bool(self.pad_to_max_length)


class Task(abc.ABC):
    """Base class of fine-tuning tasks.

    Args:
        tokenizer: BertTokenizer of the encoder's vocabulary.
        max_seq_length: int S (may be given by position), tokens per packed sequence.
        **options: the fields of the task's `config_class`.

    Attributes:
        config: the task's `config_class` instance; its fields read as attributes of
            the task (`task.labels` is `task.config.labels`).
        bucket_by_length: bool, `make_dataset`'s default: batch examples of similar
            length together (a class may set it False; an instance may override it).
    """

    name = None  # the task's registry name, e.g. "classification"
    config_class = TaskConfig
    predictions_file = "predictions.jsonl"  # file name of `write_predictions`' output
    bucket_by_length = True
    # A second name of the exported raw-text signature (`serving_default`), for clients
    # that call it by what it does (embedding: "embed"); None: no second name.
    text_signature_alias = None

    def __init__(self, tokenizer, max_seq_length=None, **options):
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer, got {type(tokenizer).__name__}")
        if max_seq_length is not None:
            options["max_seq_length"] = max_seq_length
        fields = {field.name for field in dataclasses.fields(self.config_class)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no option(s) {unknown}; its options "
                            f"are {sorted(fields)}")
        self.config = self.config_class(**options)
        self.tokenizer = tokenizer
        self.packer = SegmentPacker(self.max_seq_length, cls_id=tokenizer.cls_id,
                                    sep_id=tokenizer.sep_id, pad_id=tokenizer.pad_id,
                                    pad_to_max_length=self.pad_to_max_length)

    def __getattr__(self, name):
        # Only called for names not found otherwise: the config's fields.
        config = self.__dict__.get("config")
        if config is not None and name in {f.name for f in dataclasses.fields(config)}:
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def checkpoint_options(cls, checkpoint):
        """Options a pretrained checkpoint folder carries for this task (a
        sentence-transformers folder's pooling); `TaskModel.from_pretrained` starts from
        them and the user's options override them. None by default: {}."""
        return {}

    def replace(self, **changes):
        """A task of the same kind and tokenizer with some options changed."""
        return type(self)(self.tokenizer, **{**self.get_config(), **changes})

    def get_config(self):
        """The task's options, saved next to the model (`task_config.json`)."""
        return dataclasses.asdict(self.config)

    # --- data --------------------------------------------------------------------------
    @abc.abstractmethod
    def read_examples(self, path, require_labels=True):
        """Parses a data file into a list of examples (each with a `source` "file:line"
        and an `is_labelled` property); ValueError naming file:line."""

    @abc.abstractmethod
    def examples_from(self, inputs, labels=None):
        """Examples from Python values: `inputs` a list of the task's raw inputs (e.g.
        texts), `labels` None or a list of the same length; ValueError naming the row."""

    def examples_from_records(self, records, name, require_labels=True):
        """Examples from table rows, `(where, {column: value})` pairs (a pandas
        DataFrame's rows, `where` naming the row), by the task's column options; a
        task that reads no tables says so."""
        raise ValueError(f"The {self.name} task does not take {name}: pass a data file, "
                         "Python lists or the task's examples")

    def label_vocabulary(self, examples):
        """The labels found in training examples, for a task whose options include a
        label vocabulary (`labels`); None for tasks without one."""
        return None

    def fitted_to(self, examples):
        """This task with what the training examples decide filled in (`fit` calls it
        before training): here the labels of a task still without them."""
        if self.needs_labels():
            return self.replace(labels=self.label_vocabulary(examples))
        return self

    @functools.cached_property
    def label_ids(self):  # for a task with a label vocabulary: id = position in `labels`
        return {label: i for i, label in enumerate(self.labels)}

    def needs_labels(self):
        """True when the task has a label vocabulary option that is still empty."""
        return "labels" in self.get_config() and not self.config.labels

    def make_examples(self, data, labels=None, require_labels=True):
        """The task's examples from any form of data a user passes.

        Args:
            data: a file path (read with `read_examples`); a list of the task's examples;
                a list of raw inputs (with `labels`, see `examples_from`); or a
                `tf.data.Dataset` of raw inputs or (input, label) pairs, as strings.
            labels: list or None, with a list of raw inputs.
            require_labels: a file row without a label is an error.
        """
        return examples.make_examples(self, data, labels, require_labels)

    @abc.abstractmethod
    def raw_input_spec(self):
        """{name: tf.TensorSpec([None], tf.string)}: the raw inputs `preprocess` takes."""

    @abc.abstractmethod
    def raw_inputs(self, examples):
        """{name: list of str}, the examples' raw inputs as columns."""

    @abc.abstractmethod
    def tokenize(self, raw):
        """Graph: raw string inputs [B] to a dict of ragged tensors [B, ...] (pieces)."""

    @abc.abstractmethod
    def pack(self, tokenized):
        """Graph: `tokenize`'s output to the model features [B, S] (+ extras)."""

    def preprocess(self, raw):
        """Graph: raw string inputs [B] to the model features [B, S] (+ extras)."""
        return self.pack(self.tokenize(raw))

    # --- model and training ------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, encoder):
        """A keras.Model: the three features in, the task's float32 logits out."""

    @abc.abstractmethod
    def compile_args(self, optimizer):
        """`model.compile` arguments: optimizer, loss, metrics."""

    @abc.abstractmethod
    def targets(self, examples):
        """The examples' training targets as a tensor-like (e.g. label ids [N]); a
        ValueError naming the example for a missing or unknown label."""

    def training_batch(self, tokenized, targets):
        """Graph: (tokenized, targets) batch to (features, labels[, sample_weights])."""
        return model_features(self.pack(tokenized)), targets

    def sequence_lengths(self, tokenized):
        """Graph: `tokenize`'s output [B, ...] to int32 [B], each example's packed length
        ([CLS], [SEP]s and truncation included), which length bucketing sorts by. This
        default packs and counts, for tasks whose `pack` gives one row per example; one
        that cuts windows overrides it, or sets `bucket_by_length = False`."""
        return packed_lengths(self.pack(tokenized))

    @property
    @abc.abstractmethod
    def default_monitor(self):
        """The `evaluate_predictions` metric that `TrainingConfig.monitor` defaults to:
        what picks the best epoch (keep_epoch="best") and drives early stopping (its
        direction: min for a name ending in "loss", else max)."""

    # --- outputs -------------------------------------------------------------------------
    @abc.abstractmethod
    def postprocess(self, logits, preprocessed):
        """Graph: logits (+ `preprocess` extras) to named output tensors."""

    @abc.abstractmethod
    def predictions(self, examples, outputs):
        """Python: per-example predictions from the concatenated `postprocess` outputs."""

    @abc.abstractmethod
    def evaluate_predictions(self, examples, predictions):
        """{metric name: float} of `predictions` against the examples' labels."""

    @abc.abstractmethod
    def write_predictions(self, path, examples, predictions):
        """Writes one prediction per example to `path`."""

    # --- serving (bert_tf/export calls these; a task never imports export) -------------
    def serving_preprocess(self, raw):
        """Graph: what the exported raw-text signature runs before the model; by default
        `preprocess`. A task whose served outputs need more of the text (NER's character
        offsets) adds it here."""
        return self.preprocess(raw)

    def serving_outputs(self, logits, preprocessed):
        """Graph: the raw-text signature's outputs, {name: dense [B, ...]} (TF Serving
        returns dense tensors); by default `postprocess`."""
        return self.postprocess(logits, preprocessed)

    def serving_outputs_ids(self, logits, features):
        """Graph: the ids signature's outputs, which have only the three features to go
        on; by default `serving_outputs`."""
        return self.serving_outputs(logits, features)

    # Tracing the tokenizer takes seconds: each of these is traced once per task and
    # shared by every dataset and the serving path.
    @functools.cached_property
    def traced_tokenize(self):
        return tf.function(self.tokenize, input_signature=[self.raw_input_spec()])

    @functools.cached_property
    def traced_preprocess(self):
        return tf.function(self.preprocess, input_signature=[self.raw_input_spec()])

    @functools.cached_property
    def traced_raw_lengths(self):
        """Raw string inputs [B] to `sequence_lengths` int32 [B]."""
        return tf.function(lambda raw: self.sequence_lengths(self.traced_tokenize(raw)),
                           input_signature=[self.raw_input_spec()])

    # --- the shared machinery, by its usual names ------------------------------------
    def make_dataset(self, examples, batch_size, training=False, seed=None, bucket_by_length=None):
        """See `bert_tf.data.task_dataset.make_dataset`."""
        return task_dataset.make_dataset(self, examples, batch_size, training, seed,
                                         bucket_by_length)

    def raw_lengths(self, columns):
        """See `bert_tf.data.task_dataset.raw_lengths`."""
        return task_dataset.raw_lengths(self, columns)

    def serve(self, model, raw):
        """Raw strings {name: tf.string [B]} through the model to `postprocess`'s outputs."""
        return self.head_and_postprocess(model, self.traced_preprocess(raw))

    def head_and_postprocess(self, model, preprocessed):
        """Graph: `preprocess` outputs through the model and `postprocess`."""
        logits = model(model_features(preprocessed), training=False)
        return self.postprocess(logits, preprocessed)

    def predict(self, model, examples, batch_size=64, bucket_by_length=None):
        """See `bert_tf.tasks.prediction.predict`."""
        return prediction.predict(self, model, examples, batch_size, bucket_by_length)

    def evaluate(self, model, examples, batch_size=64, bucket_by_length=None):
        """{metric: float} of the model's predictions on labelled examples."""
        return self.evaluator(examples, batch_size, bucket_by_length)(model)

    def evaluator(self, examples, batch_size=64, bucket_by_length=None):
        """See `bert_tf.tasks.prediction.evaluator`."""
        return prediction.evaluator(self, examples, batch_size, bucket_by_length)

    def save(self, model, folder):
        """See `bert_tf.tasks.saving.save_task`."""
        saving.save_task(self, model, folder)
