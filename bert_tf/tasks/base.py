"""Task: what every fine-tuning task is made of, so that all of them train, evaluate,
predict, save and serve through the same code.

A task is

* a reader: `read_examples(path)` parses a data file into Python examples, with errors
  that name the file and line;
* preprocessing in the TF graph: `preprocess(raw)` turns a batch of raw strings (the
  serving signature's inputs, `raw_input_spec()`) into the model features
  `input_word_ids`, `input_mask`, `input_type_ids` [B, S] plus whatever post-processing
  needs (e.g. where each word starts). It is two steps, `pack(tokenize(raw))`: `tokenize`
  gives ragged word pieces, `pack` adds [CLS]/[SEP], truncates and pads. Training,
  evaluation, prediction and the exported SavedModel all run these same functions
  (training tokenizes each example once, caches it, and packs the reshuffled batches);
* a head: `build_model(encoder)` is a functional keras.Model whose inputs are exactly the
  three features and whose output is the task's float32 logits;
* a loss and metrics: `compile_args(optimizer)` for `model.compile`, and
  `evaluate_predictions(examples, predictions)` for whole-set metrics;
* post-processing: `postprocess(logits, preprocessed)` (graph: logits to labels, shared
  with serving) and `predictions(examples, outputs)` (Python: per-example results).

Subclasses implement the abstract methods; the rest (datasets, `serve`, `predict`,
`evaluate`, `save` / `load_task`) is shared. Extractive QA fits the same frame: its raw
inputs are (question, context), `tokenize` keeps piece offsets, `pack` packs both,
`postprocess` picks spans; a task that splits one example into several windows overrides
`make_dataset` and `predictions`.

    task = ClassificationTask(tokenizer, max_seq_length=128, labels=["neg", "pos"])
    with strategy.scope():
        model = task.build_model(encoder)
    train(model, task.make_dataset(examples, 32, training=True), ...)
    task.save(model, "out/export")           # model.keras, vocab.txt, task_config.json
    task, model = load_task("out/export")
"""
import abc
import functools
import importlib
import json
import math
import os
import weakref

import keras
import tensorflow as tf

from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.text.packer import SegmentPacker
from bert_tf.text.tokenizer import BertTokenizer

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
TASK_CONFIG_FILE = "task_config.json"

_TASKS = {}
_TOKENIZE_BATCH_SIZE = 256  # examples per tokenizer call when caching training data


def register_task(cls):
    """Class decorator: makes a Task loadable by its `name` in `load_task`. A task named
    N lives in module `bert_tf.tasks.N`, which `load_task` imports on demand."""
    _TASKS[cls.name] = cls
    return cls


def model_features(preprocessed):
    """The three model inputs out of `Task.preprocess`'s output (which may hold more)."""
    return {name: preprocessed[name] for name in INPUT_NAMES}


class Task(abc.ABC):
    """Base class of fine-tuning tasks.

    Args:
        tokenizer: BertTokenizer of the encoder's vocabulary.
        max_seq_length: int S, tokens per packed sequence, [CLS] and [SEP]s included.
        pad_to_max_length: bool, pad every batch to S (fixed shapes, e.g. for TPUs);
            False pads each batch to its longest sequence, which is faster elsewhere.
    """

    name = None  # the task's registry name, e.g. "classification"

    def __init__(self, tokenizer, max_seq_length=128, pad_to_max_length=False):
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.max_seq_length = int(max_seq_length)
        self.pad_to_max_length = bool(pad_to_max_length)
        self.packer = SegmentPacker(self.max_seq_length, cls_id=tokenizer.cls_id,
                                    sep_id=tokenizer.sep_id, pad_id=tokenizer.pad_id,
                                    pad_to_seq_length=self.pad_to_max_length)
        self._predict_fns = weakref.WeakKeyDictionary()

    # --- what a task defines ------------------------------------------------------
    @abc.abstractmethod
    def read_examples(self, path, require_labels=True):
        """Parses a data file into a list of examples (each with a `source` "file:line"
        and an `is_labelled` property); ValueError naming file:line."""

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

    @abc.abstractmethod
    def build_model(self, encoder):
        """A keras.Model: the three features in, the task's float32 logits out."""

    @abc.abstractmethod
    def compile_args(self, optimizer):
        """`model.compile` arguments: optimizer, loss, metrics."""

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

    # --- targets for training ---------------------------------------------------------
    @abc.abstractmethod
    def targets(self, examples):
        """The examples' training targets as a tensor-like (e.g. label ids [N]); a
        ValueError naming the example for a missing or unknown label."""

    def training_batch(self, tokenized, targets):
        """Graph: (tokenized, targets) batch to (features, labels[, sample_weights])."""
        return model_features(self.pack(tokenized)), targets

    # Tracing the tokenizer takes seconds: each of these is traced once per task and
    # shared by every dataset and the serving path.
    @functools.cached_property
    def traced_tokenize(self):
        return tf.function(self.tokenize, input_signature=[self.raw_input_spec()])

    @functools.cached_property
    def traced_preprocess(self):
        return tf.function(self.preprocess, input_signature=[self.raw_input_spec()])

    @property
    @abc.abstractmethod
    def best_metric(self):
        """The `evaluate_predictions` metric that picks the best checkpoint (higher wins)."""

    def get_config(self):
        """The task's own settings, saved next to the model (labels, columns, ...)."""
        return {}

    # --- shared ------------------------------------------------------------------------
    def make_dataset(self, examples, batch_size, training=False, seed=None):
        """tf.data pipeline of examples: raw strings in, tokenized and packed in the graph.

        Args:
            examples: list of the task's examples.
            batch_size: int, global batch size.
            training: bool; yields (features, labels[, weights]) batches of examples
                reshuffled each epoch; no example is dropped (the last batch may be
                smaller). Each example is tokenized once and cached; only packing runs
                per batch.
            seed: int or None, shuffle seed.
        Returns:
            tf.data.Dataset of (features, ...) batches for training; of `preprocess`
            outputs for prediction.
        """
        if not examples:
            raise ValueError("no examples to make a dataset from")
        raw = {name: tf.constant(column, tf.string)
               for name, column in self.raw_inputs(examples).items()}
        if training:
            dataset = tf.data.Dataset.from_tensor_slices((raw, self.targets(examples)))
            dataset = (dataset.batch(_TOKENIZE_BATCH_SIZE)
                       .map(lambda raw, targets: (self.traced_tokenize(raw), targets),
                            num_parallel_calls=tf.data.AUTOTUNE)
                       .unbatch().cache()
                       .shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
                       .ragged_batch(batch_size)
                       .map(self.training_batch, num_parallel_calls=tf.data.AUTOTUNE)
                       # unbatch() hides the length; Keras needs it for steps and ETA.
                       .apply(tf.data.experimental.assert_cardinality(
                           math.ceil(len(examples) / batch_size))))
        else:
            dataset = tf.data.Dataset.from_tensor_slices(raw).batch(batch_size).map(
                self.traced_preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def serve(self, model, raw):
        """Raw strings to post-processed outputs: what an exported model computes.

        Args:
            model: the task's keras.Model.
            raw: {name: tf.string [B]} as in `raw_input_spec()`.
        """
        return self._head_and_postprocess(model, self.traced_preprocess(raw))

    def _head_and_postprocess(self, model, preprocessed):
        logits = model(model_features(preprocessed), training=False)
        return self.postprocess(logits, preprocessed)

    def predict(self, model, examples, batch_size=64):
        """Per-example predictions (see the task's `predictions`)."""
        return self._predict_dataset(model, examples, self.make_dataset(examples, batch_size))

    def evaluate(self, model, examples, batch_size=64):
        """{metric: float} of the model's predictions on labelled examples."""
        return self.evaluator(examples, batch_size)(model)

    def evaluator(self, examples, batch_size=64):
        """`evaluate_fn(model) -> {metric: float}` for `train.trainer.train`; the input
        pipeline is built (and its preprocessed batches cached) once for all epochs."""
        dataset = self.make_dataset(examples, batch_size).cache()
        return lambda model: self.evaluate_predictions(
            examples, self._predict_dataset(model, examples, dataset))

    def _predict_dataset(self, model, examples, dataset):
        if model not in self._predict_fns:  # one trace per model, reused every epoch
            # The dataset's spec has dynamic batch and sequence sizes: no retracing.
            self._predict_fns[model] = tf.function(
                functools.partial(self._head_and_postprocess, model),
                input_signature=[dataset.element_spec])
        predict_batch = self._predict_fns[model]
        batches = [predict_batch(batch) for batch in dataset]
        # Outputs are [B, ...] with fixed inner sizes, or ragged: both concatenate.
        outputs = {name: tf.concat([batch[name] for batch in batches], axis=0)
                   for name in batches[0]}
        return self.predictions(examples, outputs)

    def save(self, model, folder):
        """Writes what `load_task` (and export) needs: the model as .keras, the vocab and
        `task_config.json` (task name, casing, sequence length, the task's settings)."""
        os.makedirs(folder, exist_ok=True)
        model.save(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, VOCAB_FILE), "w", encoding="utf-8") as f:
            f.write("".join(token + "\n" for token in self.tokenizer.vocab))
        config = {"task": self.name, "lower_case": self.tokenizer.lower_case,
                  "max_seq_length": self.max_seq_length,
                  "pad_to_max_length": self.pad_to_max_length, **self.get_config()}
        with open(os.path.join(folder, TASK_CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")


def load_task(folder):
    """(task, model) from a folder written by `Task.save`.

    Raises:
        FileNotFoundError naming the missing file; ValueError for an unknown task.
    """
    for file_name in (TASK_CONFIG_FILE, MODEL_FILE, VOCAB_FILE):
        if not os.path.isfile(os.path.join(folder, file_name)):
            raise FileNotFoundError(f"{folder} has no {file_name}: not a saved bert_tf task "
                                    "model (see Task.save)")
    with open(os.path.join(folder, TASK_CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    name = config.pop("task", None)
    if isinstance(name, str) and name.isidentifier() and name not in _TASKS:
        try:
            importlib.import_module(f"bert_tf.tasks.{name}")
        except ModuleNotFoundError:
            pass  # reported below
    if name not in _TASKS:
        raise ValueError(f"{folder}/{TASK_CONFIG_FILE} names task {name!r}; known tasks: "
                         f"{sorted(_TASKS)}")
    tokenizer = BertTokenizer.from_vocab_file(os.path.join(folder, VOCAB_FILE),
                                              lower_case=config.pop("lower_case"))
    task = _TASKS[name](tokenizer, **config)
    # Custom objects (BertEncoder & co.) are registered when bert_tf.model is imported.
    model = keras.saving.load_model(os.path.join(folder, MODEL_FILE), compile=False)
    return task, model
