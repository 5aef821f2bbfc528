"""Task: the contract every fine-tuning task fulfils, so that all of them train,
evaluate, predict, save and serve through the same code. A task is one module in
`bert_tf/tasks/` (see README.md there); this module holds the contract and the registry.

A task has

* a config dataclass (`config_class`, a `TaskConfig`): its options, each also a flag of
  `bert-finetune` and a key of `task_config.json`; the task reads them as attributes
  (`task.max_seq_length`, `task.labels`, ...);
* a reader: `read_examples(path)` parses a data file into Python examples, with errors
  that name the file and line; `examples_from(x, y)` builds them from Python lists;
  `label_vocabulary(examples)` finds the labels of training data (None for tasks
  without a label vocabulary);
* preprocessing in the TF graph: `preprocess(raw)` turns a batch of raw strings (the
  serving signature's inputs, `raw_input_spec()`) into the model features
  `input_word_ids`, `input_mask`, `input_type_ids` [B, S] plus whatever post-processing
  needs (e.g. where each word starts). It is two steps, `pack(tokenize(raw))`: `tokenize`
  gives ragged word pieces, `pack` adds [CLS]/[SEP], truncates and pads. Training,
  evaluation, prediction and the exported SavedModel all run these same functions;
  `sequence_lengths(tokenized)` gives each example's packed length, by which batches are
  bucketed (`bert_tf/data/task_dataset.py`);
* a head: `build_model(encoder)` is a functional keras.Model whose inputs are exactly the
  three features and whose output is the task's float32 logits;
* a loss and metrics: `compile_args(optimizer)` for `model.compile`, and
  `evaluate_predictions(examples, predictions)` for whole-set metrics (`best_metric`
  picks the best epoch);
* post-processing: `postprocess(logits, preprocessed)` (graph: logits to outputs, shared
  with serving) and `predictions(examples, outputs)` (Python: per-example results);
  `write_predictions` and its file name `predictions_file`;
* its export module: `serving_module_class()` (default: `TaskServingModule`);
* explanations (`bert_tf/explain`, `TaskModel.explain`), optional: what the target of an
  attribution is (`explain_target_spec`, `parse_target`, `resolve_target`,
  `target_score`, `describe_target`) and which word each piece belongs to
  (`explain_words`). A task without them cannot explain (a clear error says so).

The shared machinery lives beside it: tf.data pipelines and length bucketing in
`bert_tf/data/task_dataset.py`, the prediction loop in `bert_tf/tasks/prediction.py`,
training in `bert_tf/train/finetune.py`, the user-facing `TaskModel` in
`bert_tf/task_model.py`. Extractive QA fits the same frame: its raw inputs are
(question, context), `tokenize` keeps piece offsets, `pack` packs both, `postprocess`
picks spans. A task whose `pack` cuts one example into several rows (QA's windows)
overrides `training_batch` (labels per row) and `sequence_lengths` (the default expects
one packed row per example), and its `postprocess` returns one result per example.

    task = ClassificationTask(tokenizer, max_seq_length=128, labels=["neg", "pos"])
    model = task.build_model(encoder)
    dataset = task.make_dataset(task.read_examples("train.jsonl"), 32, training=True)
    task.save(model, "out/export")           # model.keras, vocab.txt, task_config.json
    task, model = load_task("out/export")
"""
import abc
import dataclasses
import functools
import importlib
import json
import os

import keras
import tensorflow as tf

from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.common.fields import config_field
from bert_tf.text.packer import SegmentPacker, packed_lengths
from bert_tf.text.tokenizer import BertTokenizer

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
TASK_CONFIG_FILE = "task_config.json"

_TASKS = {}
BUILTIN_TASKS = ("classification", "ner", "qa")  # modules of bert_tf/tasks/


def register_task(cls):
    """Class decorator: makes a Task known by its `name` (`get_task_class`,
    `load_task`, `bert-finetune --task`). A task named N lives in module
    `bert_tf.tasks.N`, which `get_task_class` imports on demand."""
    _TASKS[cls.name] = cls
    return cls


def task_names():
    """The registered tasks' names, bert_tf's own included (imported to register them)."""
    for name in BUILTIN_TASKS:
        if name not in _TASKS:
            importlib.import_module(f"bert_tf.tasks.{name}")
    return sorted(_TASKS)


def get_task_class(name):
    """The Task class registered as `name`; ValueError naming the known ones."""
    if isinstance(name, str) and name.isidentifier() and name not in _TASKS:
        try:
            importlib.import_module(f"bert_tf.tasks.{name}")
        except ModuleNotFoundError:
            pass  # reported below
    if name not in _TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {task_names()}")
    return _TASKS[name]


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
        bucket_by_length: bool, the default of `make_dataset`'s `bucket_by_length`: batch
            examples of similar length together. A class attribute (a task whose
            `sequence_lengths` does not apply sets it False) that an instance may
            override (`task.bucket_by_length = False`, e.g. from a setting).
    """

    name = None  # the task's registry name, e.g. "classification"
    config_class = TaskConfig
    predictions_file = "predictions.jsonl"  # file name of `write_predictions`' output
    bucket_by_length = True

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

    def label_vocabulary(self, examples):
        """The labels found in training examples, for a task whose options include a
        label vocabulary (`labels`); None for tasks without one."""
        return None

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
        if isinstance(data, (str, os.PathLike)):
            if labels is not None:
                raise ValueError("labels come from the data file; pass labels=None")
            return self.read_examples(os.fspath(data), require_labels=require_labels)
        if isinstance(data, tf.data.Dataset):
            if labels is not None:
                raise ValueError("labels come from the dataset's (input, label) pairs")
            data, labels = _from_dataset(data)
        data = list(data)
        if not data:
            raise ValueError("no examples: the data is empty")
        if hasattr(data[0], "is_labelled"):  # already the task's examples
            return data
        examples = self.examples_from(data, labels)
        if require_labels and labels is None:
            raise ValueError("no labels: pass them with the inputs (labels, or a file or "
                             "dataset that holds them)")
        return examples

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
        """Graph: `tokenize`'s output [B, ...] to int32 [B], the length bucketing sorts
        by: each example's packed length ([CLS], [SEP]s and truncation included), i.e. the
        width its row of `pack` needs before padding.

        This default packs the batch and counts the mask, which fits any task whose
        `pack` returns one row per example. A task whose `pack` returns another number of
        rows (windows) overrides it with a per-example size, or sets
        `bucket_by_length = False`.
        """
        return packed_lengths(self.pack(tokenized))

    @property
    @abc.abstractmethod
    def best_metric(self):
        """The `evaluate_predictions` metric that picks the best checkpoint (higher wins)."""

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

    def serving_module_class(self):
        """The export module class that serves this task (bert_tf/export/)."""
        from bert_tf.export.task import TaskServingModule
        return TaskServingModule

    # --- explanations (bert_tf/explain) --------------------------------------------------
    # A target is a dict of int32 [B] tensors named by the task (`explain_target_spec`),
    # -1 meaning "the model's prediction"; the attribution explains one float score per
    # example (`target_score`), e.g. the logit of the target class.
    def explain_target_spec(self):
        """{name: tf.TensorSpec([None], tf.int32)}: the target's parts."""
        raise NotImplementedError(f"The {self.name} task cannot explain its predictions "
                                  "(it defines no explain_* hooks, see bert_tf/tasks/base.py)")

    def explain_target_ranges(self):
        """{name: (low, high)}: the values each target part may take, low <= v < high
        (the served `explain` signature flags rows outside them)."""
        raise NotImplementedError

    def parse_target(self, target, example, index):
        """Python: a user's target for one example (None: the prediction) to {name: int}
        (-1: predicted); ValueError naming the input and the problem."""
        self.explain_target_spec()
        raise NotImplementedError

    def resolve_target(self, logits, preprocessed, target):
        """Graph: the target with each -1 replaced by the model's prediction."""
        raise NotImplementedError

    def target_score(self, logits, target, rows):
        """Graph: logits of R rows, `target` [B] per example, `rows` int32 [R] (each row's
        example) to the float [R] score the attributions explain."""
        raise NotImplementedError

    def describe_target(self, target, words):
        """Python: {name: int} resolved target and the example's words to a short text."""
        raise NotImplementedError

    def explain_rows(self, preprocessed, target):
        """Graph: int32 [B], the packed row explained for each example (its only row,
        by default; QA: the window holding the answer)."""
        return tf.range(tf.shape(preprocessed["input_word_ids"])[0])

    explain_text_input = "text"  # the raw input whose words are scored

    def explain_words(self, raw, preprocessed, target):
        """Graph: which word each sequence position of the explained rows belongs to.
        Returns {"text": string [B], the text the words are cut from (the raw input
        `explain_text_input`); "word_start", "word_end": ragged int [B, (words)] byte
        offsets in it; "piece_position", "piece_word": ragged int32 [B, (pieces)], each
        piece's sequence position (-1 when truncated away) and word}."""
        raise NotImplementedError

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
    def make_dataset(self, examples, batch_size, training=False, seed=None,
                     bucket_by_length=None):
        """See `bert_tf.data.task_dataset.make_dataset`."""
        from bert_tf.data import task_dataset
        return task_dataset.make_dataset(self, examples, batch_size, training, seed,
                                         bucket_by_length)

    def raw_lengths(self, columns):
        """See `bert_tf.data.task_dataset.raw_lengths`."""
        from bert_tf.data import task_dataset
        return task_dataset.raw_lengths(self, columns)

    def serve(self, model, raw):
        """Raw strings {name: tf.string [B]} to post-processed outputs: what an exported
        model computes."""
        return self.head_and_postprocess(model, self.traced_preprocess(raw))

    def head_and_postprocess(self, model, preprocessed):
        """Graph: `preprocess` outputs through the model and `postprocess`."""
        logits = model(model_features(preprocessed), training=False)
        return self.postprocess(logits, preprocessed)

    def predict(self, model, examples, batch_size=64, bucket_by_length=None):
        """See `bert_tf.tasks.prediction.predict`."""
        from bert_tf.tasks import prediction
        return prediction.predict(self, model, examples, batch_size, bucket_by_length)

    def evaluate(self, model, examples, batch_size=64, bucket_by_length=None):
        """{metric: float} of the model's predictions on labelled examples."""
        return self.evaluator(examples, batch_size, bucket_by_length)(model)

    def evaluator(self, examples, batch_size=64, bucket_by_length=None):
        """See `bert_tf.tasks.prediction.evaluator`."""
        from bert_tf.tasks import prediction
        return prediction.evaluator(self, examples, batch_size, bucket_by_length)

    def save(self, model, folder):
        """Writes what `load_task` (and export) needs: the model as .keras, the vocab and
        `task_config.json` (task name, casing, the task's options)."""
        os.makedirs(folder, exist_ok=True)
        model.save(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, VOCAB_FILE), "w", encoding="utf-8") as f:
            f.write("".join(token + "\n" for token in self.tokenizer.vocab))
        config = {"task": self.name, "lower_case": self.tokenizer.lower_case,
                  **self.get_config()}
        with open(os.path.join(folder, TASK_CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")


def _from_dataset(dataset):
    """(inputs, labels or None) as Python lists from a dataset of raw inputs or
    (input, label) pairs; strings are decoded from UTF-8."""
    inputs, labels = [], []
    for element in dataset.as_numpy_iterator():
        if isinstance(element, tuple) and len(element) == 2:
            inputs.append(_decode(element[0]))
            labels.append(_decode(element[1]))
        else:
            inputs.append(_decode(element))
    return inputs, (labels if labels else None)


def _decode(value):
    """numpy / bytes values of a dataset element to Python str / lists / dicts."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {key: _decode(v) for key, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_decode(v) for v in value)
    if hasattr(value, "tolist"):
        return _decode(value.tolist())
    return value


def load_task(folder):
    """(task, model) from a folder written by `Task.save`.

    Raises:
        FileNotFoundError naming the missing file; ValueError for an unknown task.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Model folder {folder} does not exist")
    for file_name in (TASK_CONFIG_FILE, MODEL_FILE, VOCAB_FILE):
        if not os.path.isfile(os.path.join(folder, file_name)):
            raise FileNotFoundError(f"{folder} has no {file_name}: not a saved bert_tf task "
                                    "model (see Task.save)")
    with open(os.path.join(folder, TASK_CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    name = config.pop("task", None)
    try:
        task_class = get_task_class(name)
    except ValueError as e:
        raise ValueError(f"{folder}/{TASK_CONFIG_FILE}: {e}") from None
    tokenizer = BertTokenizer.from_vocab_file(os.path.join(folder, VOCAB_FILE),
                                              lower_case=config.pop("lower_case"))
    task = task_class(tokenizer, **config)
    # Custom objects (BertEncoder & co.) are registered when bert_tf.model is imported.
    model = keras.saving.load_model(os.path.join(folder, MODEL_FILE), compile=False)
    return task, model
