"""One-line loading of a pretrained encoder and its tokenizer from a local folder.

    encoder, tokenizer = bert_tf.from_pretrained("uncased_L-12_H-768_A-12")  # Google layout
    encoder, tokenizer = bert_tf.from_pretrained(corpora.minilm_path())      # HF layout

Nothing is downloaded: the folder must hold a checkpoint in Google's layout
(bert_config.json, bert_model.ckpt.*, vocab.txt) or Hugging Face's (config.json,
model.safetensors or pytorch_model.bin, vocab.txt).
"""
import dataclasses
import os

from bert_tf.convert import checkpoint as checkpoint_io
from bert_tf.convert.weights import get_weights, set_weights
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.text.tokenizer import BertTokenizer


def _build(ckpt, source, with_heads, dtype, **config_overrides):
    config = dataclasses.replace(ckpt.config, **config_overrides)
    encoder = BertEncoder.from_bert_config(config, dtype=dtype)
    model = BertPretrainingModel(encoder) if with_heads else encoder
    set_weights(model, ckpt.weights, source=source)
    return model


def load_encoder(path, checkpoint_format="auto", dtype=None, **config_overrides):
    """BertEncoder with the checkpoint's weights (heads in the checkpoint are dropped).

    `config_overrides` change fields that do not touch weights, e.g. dropout rates.
    """
    return _build(checkpoint_io.read(path, checkpoint_format), path, False, dtype,
                  **config_overrides)


def load_pretraining_model(path, checkpoint_format="auto", dtype=None,
                           **config_overrides):
    """BertPretrainingModel; heads absent from the checkpoint start from their initializers."""
    return _build(checkpoint_io.read(path, checkpoint_format), path, True, dtype,
                  **config_overrides)


def load_tokenizer(path, lower_case=None):
    """BertTokenizer from the folder's vocab.txt.

    Casing comes from `lower_case`, else the folder's tokenizer_config.json, else the vocab
    (uncased when no token has an uppercase letter).
    """
    folder = checkpoint_io.checkpoint_folder(path)
    vocab_path = os.path.join(folder, "vocab.txt")
    if not os.path.isfile(vocab_path):
        raise FileNotFoundError(f"No vocab.txt in {folder}: the tokenizer needs it")
    if lower_case is None:
        lower_case = checkpoint_io.recorded_lower_case(folder)
    return BertTokenizer.from_vocab_file(vocab_path, lower_case=lower_case)


def from_pretrained(path, checkpoint_format="auto", dtype=None, **config_overrides):
    """(BertEncoder, BertTokenizer) from a local checkpoint folder of either layout."""
    return load_encoder(path, checkpoint_format, dtype, **config_overrides), load_tokenizer(path)


def save_pretrained(model, folder, checkpoint_format="hf", vocab_path=None,
                    lower_case=None):
    """Writes an encoder or pretraining model as a new checkpoint folder ("hf" or "google")."""
    encoder = model.encoder if isinstance(model, BertPretrainingModel) else model
    ckpt = checkpoint_io.Checkpoint(encoder.bert_config, get_weights(model), vocab_path,
                                    lower_case)
    return checkpoint_io.write(ckpt, folder, checkpoint_format)
