"""Where a task's Keras model lives: built, or rebuilt with the same weights, under a
`TrainingConfig`'s strategy and dtype policy, so that training it needs no copy.

    model, strategy = place(task.build_model, model, encoder, config)
    plain = merge_adapters(model, task.build_model)   # LoRA adapters folded in
    with dtype_policy("mixed_bfloat16"):
        model = task.build_model(encoder)     # computes in bf16
"""
import contextlib

import keras

from bert_tf.model.encoder import BertEncoder, find_encoder
from bert_tf.train import lora, strategy as strategy_lib


@contextlib.contextmanager
def dtype_policy(name):
    """Sets Keras' global dtype policy for the block (models built in it compute in that
    dtype), then restores the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def place(build_model, model, encoder, config):
    """(model, strategy): a model that lives under `config`'s strategy and dtype policy.

    Args:
        build_model: the task's `build_model(encoder)`.
        model: the task's keras.Model, or None to build one on `encoder`.
        encoder: the pretrained BertEncoder to build on when `model` is None.
        config: a `TrainingConfig`.
    Returns:
        `model` itself if it already lives there; else a model built there, on
        `encoder`'s weights (no model yet) or with `model`'s weights.
    """
    strategy = strategy_lib.get_strategy(config)
    policy = config.dtype_policy
    if model is not None and lives_in(model, strategy, policy):
        return model, strategy
    source = model if model is not None else encoder
    if source is None:
        raise ValueError("There is neither a model nor an encoder to build on")
    with dtype_policy(policy), strategy.scope():
        if model is None and lives_in(encoder, strategy, policy):
            return build_model(encoder), strategy
        new_encoder = BertEncoder.from_bert_config(find_encoder(source).bert_config)
        if model is None:
            new_encoder.set_weights(encoder.get_weights())
        placed = build_model(new_encoder)
        if model is not None:
            placed.set_weights(lora.plain_weights(model))  # adapters merged, if any
    return placed, strategy


def merge_adapters(model, build_model):
    """`model` itself, or for a model with LoRA adapters the same task model built
    without them (same dtype policy, no strategy), each adapter merged into its kernel:
    what saving and exporting write (see bert_tf/train/lora.py)."""
    if not lora.has_adapters(model):
        return model
    encoder = find_encoder(model)
    with dtype_policy(encoder.dtype_policy.name):
        plain = build_model(BertEncoder.from_bert_config(encoder.bert_config))
    plain.set_weights(lora.plain_weights(model))
    return plain


def lives_in(model, strategy, policy):
    """Whether `model`'s variables were made under `strategy` and it computes in the dtype
    policy named `policy`."""
    variable = model.weights[0].value  # the tf.Variable (a distributed one under a strategy)
    return (strategy.extended.variable_created_in_scope(variable)
            and find_encoder(model).dtype_policy.name == policy)
