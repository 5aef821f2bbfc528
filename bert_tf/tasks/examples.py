"""A task's examples from any form of data a user passes: a file path, a list of the
task's examples, Python lists of raw inputs (and labels), or a `tf.data.Dataset`."""
import os

import tensorflow as tf


def make_examples(task, data, labels=None, require_labels=True):
    """The task's examples (see `Task.make_examples`).

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
        return task.read_examples(os.fspath(data), require_labels=require_labels)
    if isinstance(data, tf.data.Dataset):
        if labels is not None:
            raise ValueError("labels come from the dataset's (input, label) pairs")
        data, labels = _from_dataset(data)
    data = list(data)
    if not data:
        raise ValueError("no examples: the data is empty")
    if hasattr(data[0], "is_labelled"):  # already the task's examples
        return data
    examples = task.examples_from(data, labels)
    if require_labels and labels is None:
        raise ValueError("no labels: pass them with the inputs (labels, or a file or "
                         "dataset that holds them)")
    return examples


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
