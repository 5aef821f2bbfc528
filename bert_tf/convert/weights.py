"""The one map between bert_tf's Keras variables and Google's TF1 BERT variable names.

Google's names (`bert/encoder/layer_0/attention/self/query/kernel`, `cls/predictions/...`)
are the interchange form of every converter in this package: a checkpoint of any format
is first read into a dict {google_name: numpy array in Google's layout}, and our variables
are laid out exactly like Google's (kernels [in, out], NSP weights [2, H]), so no array is
reshaped here.
"""
import re

import numpy as np
from absl import logging

from bert_tf.model.pretraining import BertPretrainingModel

HEAD_PREFIX = "cls/"
# Weights a checkpoint may lack; they keep their initial values, as in `transformers`:
# the pretraining heads (a sentence-embedding checkpoint has none) and the pooler
# (Hugging Face saves none for BertForMaskedLM, nor do many exported models).
OPTIONAL_PREFIXES = (HEAD_PREFIX, "bert/pooler/")

# Variables in Google checkpoints that are training state, not model weights.
_TRAINING_STATE = re.compile(r"(/adam_[mv]$|^global_step$|/Momentum$|^good_steps$|"
                             r"^loss_scale$|^current_loss_scale$)")


def _dense(prefix, layer):
    return {f"{prefix}/kernel": layer.kernel, f"{prefix}/bias": layer.bias}


def _layer_norm(prefix, layer):
    return {f"{prefix}/gamma": layer.gamma, f"{prefix}/beta": layer.beta}


def encoder_variables(encoder):
    """{google_name: keras.Variable} for a BertEncoder."""
    emb = encoder.embeddings
    names = {
        "bert/embeddings/word_embeddings": emb.word_embeddings.embeddings,
        "bert/embeddings/token_type_embeddings": emb.token_type_embeddings.embeddings,
        "bert/embeddings/position_embeddings": emb.position_embeddings,
        **_layer_norm("bert/embeddings/LayerNorm", emb.layer_norm),
    }
    for i, block in enumerate(encoder.transformer_layers):
        p = f"bert/encoder/layer_{i}"
        names.update({
            **_dense(f"{p}/attention/self/query", block.query),
            **_dense(f"{p}/attention/self/key", block.key),
            **_dense(f"{p}/attention/self/value", block.value),
            **_dense(f"{p}/attention/output/dense", block.attention_output),
            **_layer_norm(f"{p}/attention/output/LayerNorm", block.attention_layer_norm),
            **_dense(f"{p}/intermediate/dense", block.intermediate),
            **_dense(f"{p}/output/dense", block.output_dense),
            **_layer_norm(f"{p}/output/LayerNorm", block.output_layer_norm),
        })
    names.update(_dense("bert/pooler/dense", encoder.pooler))
    return names


def model_variables(model):
    """{google_name: keras.Variable} for a BertEncoder or a BertPretrainingModel."""
    if not isinstance(model, BertPretrainingModel):
        return encoder_variables(model)
    mlm, nsp = model.masked_lm, model.next_sentence
    return {
        **encoder_variables(model.encoder),
        **_dense("cls/predictions/transform/dense", mlm.transform),
        **_layer_norm("cls/predictions/transform/LayerNorm", mlm.layer_norm),
        "cls/predictions/output_bias": mlm.output_bias,
        "cls/seq_relationship/output_weights": nsp.output_weights,
        "cls/seq_relationship/output_bias": nsp.output_bias,
    }


def get_weights(model):
    """{google_name: float32 numpy array} of a model's weights."""
    return {name: np.asarray(var.numpy(), dtype=np.float32)
            for name, var in model_variables(model).items()}


def set_weights(model, weights, source="checkpoint"):
    """Assigns {google_name: array} to a model, all or nothing.

    Every check runs before the first assignment, so a failure leaves the model as it
    was. A model variable missing from `weights` is an error, except the optional ones
    (`OPTIONAL_PREFIXES`: the pretraining heads and the pooler), which keep their
    initial values with a warning that lists them. A weight the model has no place for
    is skipped with a warning, except training state (Adam slots, global_step) and the
    heads when loading into an encoder alone, which are skipped silently. A shape that
    differs from the model's is an error.

    Args:
        model: BertEncoder or BertPretrainingModel (built).
        weights: {google_name: array-like}.
        source: what the weights came from, for messages.
    Returns:
        The sorted list of the model's variable names that were not in `weights`.
    """
    variables = model_variables(model)
    missing = sorted(n for n in variables if n not in weights)
    missing_required = [n for n in missing if not n.startswith(OPTIONAL_PREFIXES)]
    if missing_required:
        raise ValueError(f"{source} lacks {len(missing_required)} encoder weights, e.g. "
                         f"{missing_required[:5]}; is it a BERT checkpoint of this size?")
    loading_encoder_only = not isinstance(model, BertPretrainingModel)
    unexpected = sorted(
        n for n in weights
        if n not in variables and not _TRAINING_STATE.search(n)
        and not (loading_encoder_only and n.startswith(HEAD_PREFIX)))
    mismatched = [f"{n}: {tuple(np.shape(weights[n]))} in {source}, {tuple(v.shape)} in model"
                  for n, v in variables.items()
                  if n in weights and tuple(np.shape(weights[n])) != tuple(v.shape)]
    if mismatched:
        raise ValueError(f"{source} does not match the model config; shape mismatches: "
                         f"{mismatched[:5]}")
    for name, var in variables.items():
        if name in weights:
            var.assign(np.asarray(weights[name], dtype=var.dtype))
    if missing:
        logging.warning("%s has no %s: they keep their initial values (train them before "
                        "relying on them)", source, ", ".join(missing))
    if unexpected:
        logging.warning("%s has %d weights that a BERT model does not use, skipped: %s",
                        source, len(unexpected), ", ".join(unexpected[:10]))
    return missing
