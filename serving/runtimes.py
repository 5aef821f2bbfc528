"""bert-predict on the raw-text exports for other CPU runtimes (`bert-export --format=`):
the same length-sorted batches and rows as `Predictor` on a SavedModel.

    predictor = OpenVinoPredictor("exports/rt_ov/1")        # or .../1/model.xml
    rows = predictor({"text": ["A fine film.", "Dull."]})  # label_id, label, probabilities

`find(path)` says which runtime an export is for, from its files: `model.xml` in the
version folder (or the .xml itself) is OpenVINO's. Each version folder's
`export_config.json` (bert_tf/export/runtime.py) holds the dtype the runtime computes in
and the task; the SavedModel's `error` output has no counterpart (the runtime's own
tokenizer makes every row's features).
"""
import json
import os

import numpy as np
import tensorflow as tf

from bert_tf_serving.predictor import Predictor

EXPORT_CONFIG_FILE = "export_config.json"  # bert_tf.export.runtime.EXPORT_CONFIG_FILE
OPENVINO_MODEL, OPENVINO_TOKENIZER = "model.xml", "tokenizer.xml"  # bert_tf.export.openvino
OPENVINO_PRECISION = {"float32": "f32", "bfloat16": "bf16"}


def _version_folder(path):
    return os.path.dirname(path) if os.path.isfile(path) else path


def _read_config(folder):
    path = os.path.join(folder, EXPORT_CONFIG_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class OpenVinoPredictor(Predictor):
    """A `bert-export --format=openvino` version (`path`: its folder or model.xml),
    compiled for the CPU in the export's dtype (OpenVINO's INFERENCE_PRECISION_HINT;
    `dtype` overrides it); batches sorted by the exact packed lengths of the export's
    tokenizer.xml."""

    def __init__(self, path, batch_size=64, dtype=None):  # pylint: disable=super-init-not-called
        import openvino as ov
        import openvino_tokenizers  # noqa: F401  (registers the tokenizer's operations)

        folder = _version_folder(path)
        self.export_config = _read_config(folder)
        self.dtype = dtype or self.export_config.get("dtype", "float32")
        core = ov.Core()
        self.compiled = core.compile_model(
            os.path.join(folder, OPENVINO_MODEL), "CPU",
            {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[self.dtype]})
        tokenizer = os.path.join(folder, OPENVINO_TOKENIZER)
        self.tokenizer = (core.compile_model(tokenizer, "CPU") if os.path.isfile(tokenizer)
                          else None)
        name = self.compiled.inputs[0].any_name
        self.input_specs = {name: tf.TensorSpec([None], tf.string, name=name)}
        self.input_names = [name]
        self.batch_size = int(batch_size)

    def outputs(self, inputs, rows):
        texts = np.array([inputs[self.input_names[0]][i] for i in rows])
        return {port.any_name: value for port, value in self.compiled(texts).items()}

    def lengths(self, inputs):
        texts = inputs[self.input_names[0]]
        if self.tokenizer is None:
            return np.array([len(text) for text in texts])
        return np.concatenate([
            self.tokenizer(np.array(texts[start:start + self.batch_size]))["attention_mask"]
            .sum(axis=1) for start in range(0, len(texts), self.batch_size)])


def find(path):
    """The predictor class for the runtime export at `path`, or None (a SavedModel)."""
    folder = _version_folder(path)
    if path.endswith(".xml") or os.path.isfile(os.path.join(folder, OPENVINO_MODEL)):
        return OpenVinoPredictor
    return None
