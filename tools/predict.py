r"""Runs raw texts through an exported SavedModel in this process (no TF Serving needed).

    bert-predict --saved_model=exports/rt_sentiment/1 --text="A fine film." --text="Dull."
    bert-predict --saved_model=exports/rt_sentiment/1 --input_file=reviews.txt

Prints one JSON line per text with the signature's outputs. Imports only TensorFlow and
TensorFlow Text, as TF Serving does: what works here works there.
"""
import json

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of the raw-text signature)
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("saved_model", None, "SavedModel folder (<export_base>/<name>/<version>).")
flags.DEFINE_multi_string("text", None, "A text to predict (repeat for a batch).")
flags.DEFINE_multi_string("text_b", None, "Second texts of a pair task, one per --text.")
flags.DEFINE_string("input_file", None, "UTF-8 file with one text per line.")
flags.DEFINE_string("signature", "serving_default", "Signature to run.")
flags.mark_flag_as_required("saved_model")


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def predict(saved_model, inputs, signature="serving_default"):
    """{output name: numpy array} of `signature` on {input name: list of str}."""
    loaded = tf.saved_model.load(saved_model)
    if signature not in loaded.signatures:
        raise ValueError(f"{saved_model} has no signature {signature!r}; it has "
                         f"{sorted(loaded.signatures)}")
    fn = loaded.signatures[signature]
    expected = sorted(fn.structured_input_signature[1])
    if sorted(inputs) != expected:
        raise ValueError(f"Signature {signature!r} takes inputs {expected}, got {sorted(inputs)}")
    outputs = fn(**{name: tf.constant(values, tf.string) for name, values in inputs.items()})
    return {name: tensor.numpy() for name, tensor in outputs.items()}


def main(argv):
    del argv
    texts = list(FLAGS.text or [])
    if FLAGS.input_file:
        with open(FLAGS.input_file, encoding="utf-8") as f:
            texts += [line.rstrip("\n") for line in f if line.strip()]
    if not texts:
        raise app.UsageError("Give texts with --text or --input_file")
    inputs = {"text": texts}
    if FLAGS.text_b:
        if len(FLAGS.text_b) != len(texts):
            raise app.UsageError(f"{len(texts)} texts but {len(FLAGS.text_b)} --text_b")
        inputs["text_b"] = FLAGS.text_b
    outputs = predict(FLAGS.saved_model, inputs, FLAGS.signature)
    for i, text in enumerate(texts):
        row = {name: _jsonable(values[i]) for name, values in outputs.items()}
        print(json.dumps({"text": text, **row}, ensure_ascii=False))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
