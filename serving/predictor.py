"""In-process prediction with an exported SavedModel, importing only TensorFlow and
TensorFlow Text (as TF Serving does): what works here works there.

    predictor = Predictor("exports/rt_sentiment/1", batch_size=64)
    rows = predictor({"text": ["A fine film.", "Dull."]})   # one {output: value} per text

Texts go in batches, sorted by length so that each batch (padded in the graph to its
longest text) holds texts of similar length; the results are put back in input order.
Inputs of other dtypes (the `explain` signature's int32 target parts) are given as
numbers, or left out: an int32 input not given is -1 for every row (explain: the
model's prediction).
The sort key is the exact packed length from the export's `sequence_lengths` signature
(its own in-graph tokenizer), or for exports without one the texts' character counts (a
proxy that leaves about 7x more padding on real text). `bert-predict` is its CLI.

`predictor.export_config` is what bert_tf's exporter wrote next to the SavedModel
(`assets.extra/export_config.json`: the dtype it computes in, its task and options), and
`predictor.dtype` that dtype ("float32", "bfloat16"; outputs are float32 either way).
"""
import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the raw-text signature)

# Written by bert_tf.export (serving_module.LENGTHS_SIGNATURE): the raw-text inputs ->
# `sequence_length` int32 [B], each row's packed length ([CLS]/[SEP], truncation included).
LENGTHS_SIGNATURE = "sequence_lengths"
# Written by bert_tf.export (saved_model.EXPORT_CONFIG_FILE): what the export is.
EXPORT_CONFIG_FILE = os.path.join("assets.extra", "export_config.json")


class Predictor:
    """A SavedModel's raw-text signature, fed length-sorted batches.

    Args:
        saved_model: str, the version folder.
        signature: str, a signature taking {input name: [B]} (tf.string texts; int32
            inputs, such as `explain`'s target parts, default to -1).
        batch_size: int, texts per signature call.
    """

    def __init__(self, saved_model, signature="serving_default", batch_size=64):
        self.loaded = tf.saved_model.load(saved_model)
        if signature not in self.loaded.signatures:
            raise ValueError(f"{saved_model} has no signature {signature!r}; it has "
                             f"{sorted(self.loaded.signatures)}")
        self.fn = self.loaded.signatures[signature]
        self.input_specs = self.fn.structured_input_signature[1]
        self.input_names = sorted(self.input_specs)
        self.lengths_fn = self.loaded.signatures.get(LENGTHS_SIGNATURE)
        self.batch_size = int(batch_size)
        self.export_config = read_export_config(saved_model)
        # Exports written before the config existed computed in float32.
        self.dtype = self.export_config.get("dtype", "float32")

    def _call(self, fn, inputs, rows):
        specs = fn.structured_input_signature[1]
        return fn(**{name: tf.constant([values[i] for i in rows], specs[name].dtype)
                     for name, values in inputs.items() if name in specs})

    def outputs(self, inputs, rows):
        """{output name: numpy [len(rows), ...]}: the signature on `rows` of `inputs`."""
        return {name: tensor.numpy() for name, tensor in self._call(self.fn, inputs, rows).items()}

    def lengths(self, inputs):
        """int numpy [N]: the sort key of each text (see the module docstring)."""
        texts = [name for name in self.input_names
                 if self.input_specs[name].dtype == tf.string]
        count = len(inputs[texts[0]])
        if self.lengths_fn is None:
            return np.sum([[len(text) for text in inputs[name]] for name in texts], axis=0)
        return np.concatenate([
            self._call(self.lengths_fn, inputs, range(start, min(start + self.batch_size,
                                                                 count)))
            ["sequence_length"].numpy() for start in range(0, count, self.batch_size)])

    def __call__(self, inputs):
        """[{output name: numpy value}], one per text in input order, of the signature on
        {input name: list of N str}. Each row keeps the padding of the batch it ran in
        (e.g. NER's per-word `tags` padded with "")."""
        count = len(next(iter(inputs.values()))) if inputs else 0
        inputs = {**{name: [-1] * count for name, spec in self.input_specs.items()
                     if spec.dtype.is_integer}, **inputs}
        if sorted(inputs) != self.input_names:
            raise ValueError(f"The signature takes inputs {self.input_names}, got "
                             f"{sorted(inputs)}")
        sizes = {name: len(texts) for name, texts in inputs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"Every input needs one text per row; got {sizes}")
        order = np.argsort(self.lengths(inputs), kind="stable")
        rows = [None] * len(order)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            outputs = self.outputs(inputs, batch)
            for position, row in enumerate(batch):
                rows[row] = {name: values[position] for name, values in outputs.items()}
        return rows


def open_predictor(path, signature="serving_default", batch_size=64):
    """The predictor for an export: a SavedModel folder (`Predictor`), or the raw-text
    file of another runtime, or its version folder (runtimes.py: OpenVINO's model.xml)."""
    from bert_tf_serving import runtimes
    runtime = runtimes.find(path)
    if runtime is None:
        return Predictor(path, signature, batch_size)
    if signature != "serving_default":
        raise ValueError(f"{path} is a {runtime.__name__} export: it has one raw-text "
                         f"function, not signature {signature!r}")
    return runtime(path, batch_size)


def predict(saved_model, inputs, signature="serving_default", batch_size=64):
    """[{output name: numpy value}] per text, in input order, of `signature` on
    {input name: list of str} (see `Predictor`, `open_predictor`)."""
    return open_predictor(saved_model, signature, batch_size)(inputs)


def read_export_config(saved_model):
    """The dict bert_tf's exporter wrote to `saved_model`/EXPORT_CONFIG_FILE ({} for a
    SavedModel without one)."""
    path = os.path.join(saved_model, EXPORT_CONFIG_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)

