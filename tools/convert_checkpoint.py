r"""Converts a BERT checkpoint between Google's TF1 layout and Hugging Face's layout.

    bert-convert-checkpoint --input=uncased_L-12_H-768_A-12 --output=bert_hf --output_format=hf
    bert-convert-checkpoint --input=bert_hf --output=bert_google --output_format=google

The weights are loaded into a bert_tf model on the way (which checks every name and
shape), written as a new folder, read back, and the two encoders' outputs compared.
"""
import numpy as np
from absl import flags, logging

from bert_tf.convert import checkpoint as checkpoint_io
from bert_tf.convert.weights import HEAD_PREFIX, get_weights, set_weights
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.convert.pretrained import load_encoder
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Checkpoint folder (or Google bert_model.ckpt prefix).")
flags.DEFINE_enum("input_format", "auto", ["auto", *checkpoint_io.FORMATS], "Input layout.")
flags.DEFINE_string("output", None, "New folder to write; must not exist.")
flags.DEFINE_enum("output_format", None, checkpoint_io.FORMATS, "Output layout.")
flags.DEFINE_bool("verify", True, "Read the output back and compare encoder outputs.")
flags.mark_flags_as_required(["input", "output", "output_format"])


def _model_for(ckpt):
    encoder = BertEncoder.from_bert_config(ckpt.config)
    has_heads = any(name.startswith(HEAD_PREFIX) for name in ckpt.weights)
    return BertPretrainingModel(encoder) if has_heads else encoder


def _encoder_output(encoder, seed=0):
    config = encoder.bert_config
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, config.vocab_size, size=(2, 16), dtype=np.int32)
    mask = np.ones_like(ids)
    mask[1, 10:] = 0
    types = np.zeros_like(ids)
    types[:, 8:] = 1 % config.type_vocab_size
    return encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types},
                   training=False)["sequence_output"].numpy()


def convert(input_path, input_format, output, output_format, verify=True):
    ckpt = checkpoint_io.read(input_path, input_format)
    model = _model_for(ckpt)
    missing_heads = set_weights(model, ckpt.weights, source=input_path)
    if missing_heads:
        logging.info("Heads not in the input, written with fresh initial values: %s",
                     missing_heads)
    written = checkpoint_io.Checkpoint(ckpt.config, get_weights(model), ckpt.vocab_path,
                                       ckpt.lower_case)
    checkpoint_io.write(written, output, output_format)
    print(f"Wrote {output_format} checkpoint with {len(written.weights)} weights to {output}")
    if verify:
        encoder = model.encoder if isinstance(model, BertPretrainingModel) else model
        diff = np.abs(_encoder_output(encoder) - _encoder_output(load_encoder(output))).max()
        print(f"Verified: encoder outputs of input and output differ by {diff:.3g} (max abs)")
        if diff > 1e-6:
            raise ValueError(f"Converted checkpoint at {output} does not reproduce the "
                             f"input's outputs (max abs diff {diff})")
    return output


def main(argv):
    del argv
    convert(FLAGS.input, FLAGS.input_format, FLAGS.output, FLAGS.output_format, FLAGS.verify)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
