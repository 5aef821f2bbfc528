"""Reusing a saved BERT encoder as a Keras layer of a new model.

    from bert_tf.export.keras_layer import load_encoder_as_layer
    from bert_tf.model.encoder import encoder_inputs

    encoder = load_encoder_as_layer("runs/rt/model.keras", trainable=False)
    inputs = encoder_inputs()                                  # the three int32 [B, S]
    pooled = encoder(inputs)["pooled_output"]                  # [B, H]
    logits = keras.layers.Dense(3, name="logits")(pooled)      # [B, 3]
    model = keras.Model(inputs, logits)
    model.save("new_task.keras")   # round-trips: BertEncoder is a registered serializable

`path` is a `.keras` file holding a `BertEncoder` (e.g. `encoder.save("encoder.keras")`)
or a model that contains one (a fine-tuned task model), or a folder with exactly one
`.keras` file (a fine-tuning run's output folder). For a Google or Hugging Face checkpoint
folder use `bert_tf.convert.pretrained.load_encoder` instead.
"""
import glob
import os

import keras

from bert_tf.model.encoder import find_encoder


def _keras_file(path):
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.keras")))
        if len(files) != 1:
            raise FileNotFoundError(
                f"Expected exactly one .keras file in {path}, found {len(files)}"
                + (f": {[os.path.basename(f) for f in files]}" if files else "")
                + "; pass the file's path")
        return files[0]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No saved Keras model at {path}")
    if not path.endswith(".keras"):
        raise ValueError(f"{path} is not a .keras file; for a Google or Hugging Face "
                         "checkpoint folder use bert_tf.convert.pretrained.load_encoder")
    return path


def load_encoder_as_layer(path, trainable=True):
    """Loads the BertEncoder saved in a `.keras` file, to call as a layer of a new model.

    Args:
      path: str, a `.keras` file of a BertEncoder or of a model containing one, or a
        folder holding exactly one `.keras` file.
      trainable: bool, False freezes the encoder's weights (feature extraction).

    Returns:
      BertEncoder: a functional keras.Model taking the three int32 [B, S] features and
      returning `sequence_output` [B, S, H], `pooled_output` [B, H], `encoder_outputs`.
    """
    model = keras.saving.load_model(_keras_file(path), compile=False)
    encoder = find_encoder(model)
    encoder.trainable = trainable
    return encoder
