"""A task's examples from any form of data a user passes: a file path, a list of the
task's examples, Python lists of raw inputs (and labels), a pandas DataFrame (columns
named as the task's column options), or a `tf.data.Dataset`."""
import os

import tensorflow as tf


def make_examples(task, data, labels=None, require_labels=True):
    """The task's examples; the arguments are those of `Task.make_examples`."""
    if isinstance(data, (str, os.PathLike)):
        if labels is not None:
            raise ValueError("labels come from the data file; pass labels=None")
        return task.read_examples(os.fspath(data), require_labels=require_labels)
    if _is_data_frame(data):
        if labels is not None:
            raise ValueError("labels come from the DataFrame's label column; pass "
                             "labels=None")
        return task.examples_from_records(_data_frame_records(data), "a DataFrame",
                                          require_labels)
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
    unlabelled = next((ex for ex in examples if not ex.is_labelled), None)
    if require_labels and unlabelled is not None:
        raise ValueError(f"{unlabelled.source}: no label; pass labels with the inputs "
                         "(labels=, inputs that carry them, or a file or dataset that "
                         "holds them)")
    return examples


def training_examples(task, x, y=None, validation_data=None):
    """(task, training examples, validation examples or None) for `TaskModel.fit`,
    checked before any training step: labels the task does not know are an error now,
    not mid-epoch. A task still without labels gets those of the training data (the task
    returned is then a new one). `validation_data` takes the forms of `x`, a list's labels
    as a pair `(x_val, y_val)`."""
    train = make_examples(task, x, y)
    validation = None
    if validation_data is not None:
        pair = (isinstance(validation_data, tuple) and len(validation_data) == 2
                and not isinstance(validation_data[0], str))
        validation = (make_examples(task, *validation_data) if pair
                      else make_examples(task, validation_data))
    task = task.fitted_to(train)
    task.targets(train)
    if validation:
        task.targets(validation)
    return task, train, validation


def prediction_examples(task, x):
    """The task's examples of prediction input (labels optional; labels the task does
    not know are an error here too, naming the row)."""
    found = make_examples(task, x, require_labels=False)
    labelled = [example for example in found if example.is_labelled]
    if labelled:
        task.targets(labelled)
    return found


def _is_data_frame(data):
    # pandas stays optional: a DataFrame is known by what it has.
    return hasattr(data, "columns") and hasattr(data, "to_dict") and hasattr(data, "index")


def _data_frame_records(frame):
    """`(where, {column: value})` per row; missing values (NaN, None) are absent."""
    for index, row in zip(frame.index, frame.to_dict("records")):
        yield f"DataFrame row {index}", {
            str(column): value for column, value in row.items()
            if value is not None and value == value}  # NaN != NaN


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
