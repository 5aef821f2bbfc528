"""The prediction loop of every task: raw examples to per-example predictions in input
order, through the task's traced preprocess, the model and `postprocess`.

    predictions = predict(task, model, examples, batch_size=64)
    evaluate_fn = evaluator(task, eval_examples)      # per-epoch metrics while training
    metrics = evaluate_fn(model)
"""
import functools
import weakref

import tensorflow as tf

from bert_tf.data import task_dataset
from bert_tf.data.task_dataset import EXAMPLE_INDEX

# task -> {model -> traced prediction function}: one trace per (task, model), reused by
# every call and epoch (the specs have dynamic batch and sequence sizes: no retracing).
_TRACED = weakref.WeakKeyDictionary()


def predict(task, model, examples, batch_size=64, bucket_by_length=None):
    """Per-example predictions (see the task's `predictions`), in input order;
    `bucket_by_length` as in `make_dataset`.

    The batches go straight through the traced preprocess and model functions, as in
    a SavedModel: building a tf.data pipeline costs a fraction of a second to a second
    per call (its map functions are traced anew), more than preprocessing thousands
    of texts.
    """
    if not examples:
        raise ValueError("no examples to predict")
    columns = task.raw_inputs(examples)
    bucket_by_length = task_dataset.buckets(task, bucket_by_length)
    order = task_dataset.prediction_order(task, columns, bucket_by_length)

    def batches():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            raw = {name: tf.constant([column[i] for i in rows], tf.string)
                   for name, column in columns.items()}
            preprocessed = task.traced_preprocess(raw)
            yield {**preprocessed, EXAMPLE_INDEX: rows} if bucket_by_length else preprocessed

    return _predict_batches(task, model, examples, batches(), _preprocessed_spec(task))


def _preprocessed_spec(task):
    """{name: TypeSpec} of `preprocess`'s outputs (batch and sequence sizes dynamic):
    what a prediction dataset's batches hold besides `EXAMPLE_INDEX`."""
    outputs = task.traced_preprocess.get_concrete_function().structured_outputs
    return tf.nest.map_structure(tf.type_spec_from_value, outputs)


def evaluator(task, examples, batch_size=64, bucket_by_length=None):
    """`evaluate_fn(model) -> {metric: float}` for `train.trainer.train`; the input
    pipeline is built (and its preprocessed batches cached) once for all epochs."""
    dataset = task.make_dataset(examples, batch_size,
                                bucket_by_length=bucket_by_length).cache()
    spec = {name: value for name, value in dataset.element_spec.items()
            if name != EXAMPLE_INDEX}
    return lambda model: task.evaluate_predictions(
        examples, _predict_batches(task, model, examples, dataset, spec))


def _predict_batches(task, model, examples, batches, spec):
    """`predictions` from batches of `preprocess` outputs (dicts matching `spec`),
    each with or without `EXAMPLE_INDEX`; with it, rows go back to input order."""
    traced = _TRACED.setdefault(task, weakref.WeakKeyDictionary())
    if model not in traced:
        traced[model] = tf.function(functools.partial(task.head_and_postprocess, model),
                                    input_signature=[spec])
    predict_batch = traced[model]
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
                f"{type(task).__name__}: {num_rows} output rows for "
                f"{row_indexes.shape[0]} examples; a task whose `preprocess` makes "
                "several rows per example sets `bucket_by_length = False` or overrides "
                "`predict`")
        input_order = tf.math.invert_permutation(row_indexes)
        outputs = {name: tf.gather(value, input_order) for name, value in outputs.items()}
    return task.predictions(examples, outputs)
