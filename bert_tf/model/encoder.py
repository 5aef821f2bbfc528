"""BertEncoder: embeddings, L Transformer blocks and the pooler, as a functional Keras model.

    encoder = BertEncoder.from_bert_config(BertConfig.from_preset("tiny"))
    outputs = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types})
    outputs["sequence_output"]   # [B, S, H], last layer
    outputs["pooled_output"]     # [B, H], tanh(dense([CLS] of the last layer))
    outputs["encoder_outputs"]   # list of L tensors [B, S, H], one per block
    encoder(features, output_attentions=True)["attention_probs"]
                                 # list of L float32 tensors [B, N, S, S], one per block
"""
import dataclasses

import keras

from bert_tf.model.config import BertConfig
from bert_tf.model.embeddings import BertEmbeddings
from bert_tf.model.transformer import TransformerBlock

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def encoder_inputs():
    """The three int32 [B, S] inputs every model in bert_tf takes, by their shared names."""
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in INPUT_NAMES}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(keras.Model):
    """The BERT encoder. Constructor args are the fields of `BertConfig`, plus `dtype`
    (a Keras dtype policy such as "mixed_bfloat16") and Keras model kwargs."""

    def __init__(self, vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
                 intermediate_size, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512,
                 type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                 dtype=None, **kwargs):
        # Validates the values and keeps them for get_config().
        self.bert_config = BertConfig(
            vocab_size=vocab_size, hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size, hidden_act=hidden_act,
            hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps)

        # === Layers ===
        self.embeddings = BertEmbeddings(
            vocab_size, hidden_size, max_position_embeddings, type_vocab_size,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps,
            hidden_dropout_prob=hidden_dropout_prob, dtype=dtype, name="embeddings")
        self.transformer_layers = [
            TransformerBlock(
                hidden_size, num_attention_heads, intermediate_size, hidden_act=hidden_act,
                hidden_dropout_prob=hidden_dropout_prob,
                attention_probs_dropout_prob=attention_probs_dropout_prob,
                initializer_range=initializer_range, layer_norm_eps=layer_norm_eps,
                dtype=dtype, name=f"transformer_layer_{i}")
            for i in range(num_hidden_layers)]
        self.pooler = keras.layers.Dense(
            hidden_size, activation="tanh", dtype=dtype, name="pooler",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))

        # === Functional model ===
        inputs = encoder_inputs()
        super().__init__(inputs=inputs, outputs=self._forward(inputs), dtype=dtype, **kwargs)
        if dtype is not None:
            # Keras' functional Model drops `dtype` (it keeps the global policy): set the
            # policy the layers have, for get_config and for heads built on the encoder.
            self.dtype_policy = dtype

    def call(self, inputs, training=None, output_range=None, output_attentions=False):
        """`output_range`: int T or None; the last block computes the first T positions
        only, so `sequence_output` and the last `encoder_outputs` are [B, T, H]. A head
        that reads the pooled output alone passes 1: the same pooled output for about
        1/L less compute.

        `output_attentions`: also return "attention_probs", one float32 [B, N, S, S]
        per block (the last one [B, N, T, S] with `output_range`): softmax
        probabilities before dropout, as Hugging Face's `output_attentions=True` gives
        them in inference. Off by default, and then nothing extra is computed."""
        return self._forward(inputs, training, output_range, output_attentions)

    def compute_output_spec(self, inputs, training=None, output_range=None,
                            output_attentions=False):
        spec = super().compute_output_spec(inputs, training)  # the functional graph's
        if output_range is None and not output_attentions:
            return spec
        blocks = self.transformer_layers
        hidden = spec["encoder_outputs"]
        last = blocks[-1].compute_output_spec(hidden[-1], inputs["input_mask"],
                                              output_range=output_range)
        spec = {**spec, "sequence_output": last, "encoder_outputs": [*hidden[:-1], last]}
        if output_attentions:
            # Every block's input has the full sequence's spec.
            spec["attention_probs"] = [
                block.compute_output_spec(
                    hidden[0], inputs["input_mask"], output_attentions=True,
                    output_range=output_range if i == len(blocks) - 1 else None)[1]
                for i, block in enumerate(blocks)]
        return spec

    def _forward(self, inputs, training=None, output_range=None, output_attentions=False):
        # The functional graph is built from this, and calls run it: one forward pass
        # whether or not `output_range` or `output_attentions` is set.
        x = self.embeddings(inputs["input_word_ids"], inputs["input_type_ids"],
                            training=training)
        encoder_outputs, attention_probs = [], []
        last = len(self.transformer_layers) - 1
        for i, block in enumerate(self.transformer_layers):
            x = block(x, inputs["input_mask"], training=training,
                      output_range=output_range if i == last else None,
                      output_attentions=output_attentions)
            if output_attentions:
                x, probs = x
                attention_probs.append(probs)  # [B, N, S, S]
            encoder_outputs.append(x)
        pooled_output = self.pooler(x[:, 0, :])  # [B, H] from the [CLS] position
        outputs = {"sequence_output": x, "pooled_output": pooled_output,
                   "encoder_outputs": encoder_outputs}
        if output_attentions:
            outputs["attention_probs"] = attention_probs
        return outputs

    @classmethod
    def from_bert_config(cls, config, **kwargs):
        return cls(**dataclasses.asdict(config), **kwargs)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy),
                **dataclasses.asdict(self.bert_config)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def find_encoder(model):
    """The one `BertEncoder` in `model` (`model` itself, or a layer nested in it).

    Raises:
      ValueError: `model` holds no BertEncoder, or more than one.
    """
    if isinstance(model, BertEncoder):
        return model
    found = list(_encoders_in(model))
    if len(found) != 1:
        raise ValueError(f"Model {model.name!r} holds {len(found)} BertEncoder layers; "
                         "expected exactly one")
    return found[0]


def _encoders_in(model):
    for layer in model.layers:
        if isinstance(layer, BertEncoder):
            yield layer
        elif isinstance(layer, keras.Model):
            yield from _encoders_in(layer)
