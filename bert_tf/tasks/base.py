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
  `sequence_lengths(tokenized)` gives each example's packed length, by which batches are
  bucketed (see `make_dataset`);
* a head: `build_model(encoder)` is a functional keras.Model whose inputs are exactly the
  three features and whose output is the task's float32 logits;
* a loss and metrics: `compile_args(optimizer)` for `model.compile`, and
  `evaluate_predictions(examples, predictions)` for whole-set metrics;
* post-processing: `postprocess(logits, preprocessed)` (graph: logits to labels, shared
  with serving) and `predictions(examples, outputs)` (Python: per-example results).

Subclasses implement the abstract methods; the rest (datasets, `serve`, `predict`,
`evaluate`, `save` / `load_task`) is shared. Extractive QA fits the same frame: its raw
inputs are (question, context), `tokenize` keeps piece offsets, `pack` packs both,
`postprocess` picks spans. A task whose `pack` cuts one example into several rows (QA's
windows) overrides `training_batch` (labels per row) and `sequence_lengths` (the default
expects one packed row per example), and its `postprocess` returns one result per example.

Length bucketing (on by default, `bucket_by_length`): batches hold examples of similar
length, so padding each batch to its longest row wastes little. Training draws a new
random order each epoch, cuts it into windows of `BUCKET_WINDOW_BATCHES` batches, sorts
each window by length, cuts it into batches and shuffles the batches (Hugging Face
Trainer's `group_by_length` uses the same 50-batch "megabatches"): every example once per
epoch, still random, same number of batches. Prediction and evaluation sort all examples
by length and put the per-example results back in input order.

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
import numpy as np
import tensorflow as tf

from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.text.packer import SegmentPacker
from bert_tf.text.tokenizer import BertTokenizer

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
TASK_CONFIG_FILE = "task_config.json"

_TASKS = {}
_TOKENIZE_BATCH_SIZE = 256  # examples per tokenizer call when caching training data
# Training batches per length-sorted window: enough for batches of near-equal lengths,
# few enough that each batch's examples still come from a random 1/K of the data.
BUCKET_WINDOW_BATCHES = 50
# Prediction datasets carry, next to `preprocess`'s outputs, each row's position in input
# order (int32 [B]), so that results of length-sorted batches go back to that order.
EXAMPLE_INDEX = "example_index"


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

    Attributes:
        bucket_by_length: bool, the default of `make_dataset`'s `bucket_by_length`: batch
            examples of similar length together. A class attribute (a task whose
            `sequence_lengths` does not apply sets it False) that an instance may
            override (`task.bucket_by_length = False`, e.g. from a flag).
    """

    name = None  # the task's registry name, e.g. "classification"
    bucket_by_length = True

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

    def sequence_lengths(self, tokenized):
        """Graph: `tokenize`'s output [B, ...] to int32 [B], the length bucketing sorts
        by: each example's packed length ([CLS], [SEP]s and truncation included), i.e. the
        width its row of `pack` needs before padding.

        This default packs the batch and counts the mask, which fits any task whose
        `pack` returns one row per example. A task whose `pack` returns another number of
        rows (windows) overrides it with a per-example size, or sets
        `bucket_by_length = False`.
        """
        return tf.reduce_sum(self.pack(tokenized)["input_mask"], axis=1)

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

    @property
    @abc.abstractmethod
    def best_metric(self):
        """The `evaluate_predictions` metric that picks the best checkpoint (higher wins)."""

    def get_config(self):
        """The task's own settings, saved next to the model (labels, columns, ...)."""
        return {}

    # --- shared ------------------------------------------------------------------------
    def make_dataset(self, examples, batch_size, training=False, seed=None,
                     bucket_by_length=None):
        """tf.data pipeline of examples: raw strings in, tokenized and packed in the graph.

        Args:
            examples: list of the task's examples.
            batch_size: int, global batch size.
            training: bool; yields (features, labels[, weights]) batches of examples
                reshuffled each epoch; no example is dropped (at most one batch is
                smaller). Each example is tokenized once and cached; only packing runs
                per batch.
            seed: int or None, shuffle seed.
            bucket_by_length: bool or None (None: the task's `bucket_by_length`); batch
                examples of similar `sequence_lengths` together (see the module
                docstring). Ignored with `pad_to_max_length`, where every batch is S wide
                anyway.
        Returns:
            tf.data.Dataset of known cardinality ceil(N / batch_size): (features, ...)
            batches for training; for prediction, dicts of `preprocess` outputs, plus
            when bucketing `EXAMPLE_INDEX` (int32 [B], each row's position in
            `examples`), which `predict` / `evaluator` use to return results in input
            order.
        """
        if not examples:
            raise ValueError("no examples to make a dataset from")
        bucket_by_length = self._buckets(bucket_by_length)
        columns = self.raw_inputs(examples)
        if training:
            dataset = self._training_dataset(columns, self.targets(examples), batch_size,
                                             seed, bucket_by_length)
        else:
            dataset = self._prediction_dataset(columns, batch_size, bucket_by_length)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def _buckets(self, bucket_by_length):
        """Whether to bucket, given `make_dataset`'s argument (None: the task's
        default); never with `pad_to_max_length`, where every batch is S wide."""
        if bucket_by_length is None:
            bucket_by_length = self.bucket_by_length
        return bool(bucket_by_length) and not self.pad_to_max_length

    def _training_dataset(self, columns, targets, batch_size, seed, bucket_by_length):
        """(features, labels[, weights]) batches; see `make_dataset`."""
        num_examples = len(next(iter(columns.values())))
        raw = {name: tf.constant(column, tf.string) for name, column in columns.items()}

        def tokenize(raw, targets):  # [256] -> (ragged pieces, targets, lengths [256])
            tokenized = self.traced_tokenize(raw)
            return tokenized, targets, self.sequence_lengths(tokenized)

        dataset = (tf.data.Dataset.from_tensor_slices((raw, targets))
                   .batch(_TOKENIZE_BATCH_SIZE)
                   .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
                   .unbatch().cache()
                   .shuffle(num_examples, seed=seed, reshuffle_each_iteration=True))
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
                                reshuffle_each_iteration=True))
        else:
            dataset = dataset.ragged_batch(batch_size)
        return (dataset
                .map(lambda tokenized, targets, lengths: self.training_batch(tokenized, targets),
                     num_parallel_calls=tf.data.AUTOTUNE)
                # unbatch() hides the length; Keras needs it for steps and ETA.
                .apply(tf.data.experimental.assert_cardinality(
                    math.ceil(num_examples / batch_size))))

    def _prediction_dataset(self, columns, batch_size, bucket_by_length):
        """Dicts of `preprocess` outputs plus `EXAMPLE_INDEX`; see `make_dataset`."""
        if not bucket_by_length:  # input order, nothing to restore
            return (tf.data.Dataset.from_tensor_slices(
                        {name: tf.constant(column, tf.string) for name, column in columns.items()})
                    .batch(batch_size)
                    .map(self.traced_preprocess, num_parallel_calls=tf.data.AUTOTUNE))
        order = self._prediction_order(columns, bucket_by_length)
        raw = {name: tf.constant([column[i] for i in order], tf.string)
               for name, column in columns.items()}

        def preprocess(raw, index):
            return {**self.traced_preprocess(raw), EXAMPLE_INDEX: index}

        return (tf.data.Dataset.from_tensor_slices((raw, order))
                .batch(batch_size)
                .map(preprocess, num_parallel_calls=tf.data.AUTOTUNE))

    def _prediction_order(self, columns, bucket_by_length):
        """int32 numpy [N]: the order prediction batches take the examples in, shortest
        first when bucketing (ties in input order), else input order."""
        if bucket_by_length:
            # Sorting needs every length first: one tokenizing pass ahead of the real one
            # (tokenizing is a few percent of the model's cost).
            return np.argsort(self.raw_lengths(columns), kind="stable").astype(np.int32)
        return np.arange(len(next(iter(columns.values()))), dtype=np.int32)

    def raw_lengths(self, columns):
        """int32 numpy [N], the `sequence_lengths` of raw inputs {name: list of N str}."""
        count = len(next(iter(columns.values())))
        lengths = [np.zeros([0], np.int32)]
        for start in range(0, count, _TOKENIZE_BATCH_SIZE):
            chunk = {name: tf.constant(column[start:start + _TOKENIZE_BATCH_SIZE], tf.string)
                     for name, column in columns.items()}
            lengths.append(self.traced_raw_lengths(chunk).numpy())
        return np.concatenate(lengths)

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

    def predict(self, model, examples, batch_size=64, bucket_by_length=None):
        """Per-example predictions (see the task's `predictions`), in input order;
        `bucket_by_length` as in `make_dataset`.

        The batches go straight through the traced preprocess and model functions, as in
        a SavedModel: building a tf.data pipeline costs a fraction of a second to a second
        per call (its map functions are traced anew), more than preprocessing thousands
        of texts.
        """
        if not examples:
            raise ValueError("no examples to predict")
        columns = self.raw_inputs(examples)
        bucket_by_length = self._buckets(bucket_by_length)
        order = self._prediction_order(columns, bucket_by_length)

        def batches():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                raw = {name: tf.constant([column[i] for i in rows], tf.string)
                       for name, column in columns.items()}
                preprocessed = self.traced_preprocess(raw)
                yield {**preprocessed, EXAMPLE_INDEX: rows} if bucket_by_length else preprocessed

        return self._predict_batches(model, examples, batches(), self._preprocessed_spec)

    @functools.cached_property
    def _preprocessed_spec(self):
        """{name: TypeSpec} of `preprocess`'s outputs (batch and sequence sizes dynamic):
        what a prediction dataset's batches hold besides `EXAMPLE_INDEX`."""
        outputs = self.traced_preprocess.get_concrete_function().structured_outputs
        return tf.nest.map_structure(tf.type_spec_from_value, outputs)

    def evaluate(self, model, examples, batch_size=64, bucket_by_length=None):
        """{metric: float} of the model's predictions on labelled examples."""
        return self.evaluator(examples, batch_size, bucket_by_length)(model)

    def evaluator(self, examples, batch_size=64, bucket_by_length=None):
        """`evaluate_fn(model) -> {metric: float}` for `train.trainer.train`; the input
        pipeline is built (and its preprocessed batches cached) once for all epochs."""
        dataset = self.make_dataset(examples, batch_size,
                                    bucket_by_length=bucket_by_length).cache()
        return lambda model: self.evaluate_predictions(
            examples, self._predict_dataset(model, examples, dataset))

    def _predict_dataset(self, model, examples, dataset):
        """`predictions` of the model on a prediction dataset (`make_dataset`'s, or a
        task's own without `EXAMPLE_INDEX`, whose rows are then taken in order)."""
        spec = {name: value for name, value in dataset.element_spec.items()
                if name != EXAMPLE_INDEX}
        return self._predict_batches(model, examples, dataset, spec)

    def _predict_batches(self, model, examples, batches, spec):
        """`predictions` from batches of `preprocess` outputs (dicts matching `spec`),
        each with or without `EXAMPLE_INDEX`; with it, rows go back to input order."""
        if model not in self._predict_fns:  # one trace per model, reused every epoch
            # The spec has dynamic batch and sequence sizes: no retracing.
            self._predict_fns[model] = tf.function(
                functools.partial(self._head_and_postprocess, model),
                input_signature=[spec])
        predict_batch = self._predict_fns[model]
        outputs, row_indexes = [], []
        for batch in batches:
            if EXAMPLE_INDEX in batch:
                row_indexes.append(batch[EXAMPLE_INDEX])
            outputs.append(predict_batch({name: batch[name] for name in spec}))
        # Outputs are [B, ...] with fixed inner sizes, or ragged: both concatenate.
        outputs = {name: tf.concat([batch[name] for batch in outputs], axis=0)
                   for name in outputs[0]}
        if row_indexes:  # rows came sorted by length: put them back in input order
            row_indexes = tf.concat(row_indexes, axis=0)
            num_rows = next(iter(outputs.values())).shape[0]
            if row_indexes.shape[0] != num_rows:
                raise ValueError(
                    f"{type(self).__name__}: {num_rows} output rows for "
                    f"{row_indexes.shape[0]} examples; a task whose `preprocess` makes "
                    "several rows per example sets `bucket_by_length = False` or overrides "
                    "`predict`")
            input_order = tf.math.invert_permutation(row_indexes)
            outputs = {name: tf.gather(value, input_order) for name, value in outputs.items()}
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


def _sort_by_length(tokenized, targets, lengths):
    """Graph: a window of examples (batched) reordered by `lengths` [W], shortest
    first; ties keep their (random) order."""
    order = tf.argsort(lengths, stable=True)
    return tf.nest.map_structure(lambda t: tf.gather(t, order), (tokenized, targets, lengths))


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
