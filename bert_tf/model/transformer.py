"""TransformerBlock: one post-LayerNorm BERT layer — self-attention, then feed-forward.

Shape legend: B batch, S sequence length, H hidden size, N heads, D head size (H / N),
I intermediate size.
"""
import math

import keras
import tensorflow as tf
from keras import ops

# Added to the scores of padding positions before the softmax (computed in float32, so
# this is exact in every compute dtype): their probability underflows to 0.
_MASKED_SCORE = -1e9


@tf.custom_gradient
def gelu_exact(x):
    """The exact (erf) GELU, x * Phi(x), with a gradient that keeps only x.

    Autodiff of the composed ops keeps three more tensors of x's size alive for the
    backward pass: at the feed-forward, [B, S, I] floats each, which for BERT-base at batch
    32 x 128 is 32*128*3072*4 bytes (48 MiB) per tensor and layer (see bench/pretrain.py's
    memory budget). The forward is tf.nn.gelu's formula.
    """
    def one_plus_erf(x):
        return 1.0 + tf.math.erf(x / tf.cast(math.sqrt(2.0), x.dtype))

    def grad(upstream):
        # d/dx x Phi(x) = Phi(x) + x phi(x); recomputed from x rather than kept.
        pdf = tf.exp(-0.5 * tf.square(x)) * tf.cast(1.0 / math.sqrt(2.0 * math.pi), x.dtype)
        return upstream * (0.5 * one_plus_erf(x) + x * pdf)

    return 0.5 * x * one_plus_erf(x), grad


def activation_fn(name):
    """The feed-forward activation that a config's `hidden_act` names."""
    if name == "gelu":  # the exact (erf) GELU, as in the published weights' HF configs
        return gelu_exact
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: keras.activations.gelu(x, approximate=True)
    return keras.activations.get(name)


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(keras.layers.Layer):
    """Multi-head self-attention and a feed-forward net, each with a residual + LayerNorm.

    Args:
        hidden_size: H.
        num_attention_heads: N; H must divide by N.
        intermediate_size: I.
        hidden_act: activation name, see `activation_fn`.
        hidden_dropout_prob: dropout on each residual branch.
        attention_probs_dropout_prob: dropout on attention probabilities.
        initializer_range: stddev of the truncated-normal kernel initializer.
        layer_norm_eps: LayerNorm epsilon.

    Call args:
        x: float [B, S, H].
        input_mask: int [B, S], 1 for real tokens and 0 for padding.
        output_range: int T or None (all S): compute the outputs of the first T
            positions only.
        output_attentions: also return the attention probabilities (off by default;
            when off nothing extra is computed or kept).
    Returns:
        float [B, T, H]; with `output_attentions`, the pair (that, float32 attention
        probabilities [B, N, T, S], before dropout: row t is how query t spreads its
        attention over the S keys, 0 on padding keys).
    """

    def __init__(self, hidden_size, num_attention_heads, intermediate_size, hidden_act="gelu",
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 initializer_range=0.02, layer_norm_eps=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.head_size = hidden_size // num_attention_heads

        def dense(units, name, activation=None):
            return keras.layers.Dense(
                units, activation=activation, name=name, dtype=self.dtype_policy,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=layer_norm_eps, name=name, dtype=self.dtype_policy)

        # Attention.
        self.query = dense(hidden_size, "query")
        self.key = dense(hidden_size, "key")
        self.value = dense(hidden_size, "value")
        self.attention_output = dense(hidden_size, "attention_output")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        # Feed-forward.
        self.intermediate = dense(intermediate_size, "intermediate", activation_fn(hidden_act))
        self.output_dense = dense(hidden_size, "output")
        self.output_layer_norm = layer_norm("output_layer_norm")
        self.attention_dropout = keras.layers.Dropout(attention_probs_dropout_prob,
                                                      dtype=self.dtype_policy)
        self.hidden_dropout = keras.layers.Dropout(hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape):
        hidden_shape = (None, None, self.hidden_size)
        for layer in (self.query, self.key, self.value, self.attention_output,
                      self.intermediate):
            layer.build(hidden_shape)
        self.output_dense.build((None, None, self.intermediate_size))
        self.attention_layer_norm.build(hidden_shape)
        self.output_layer_norm.build(hidden_shape)
        self.built = True

    def _split_heads(self, x, batch, seq):
        x = ops.reshape(x, (batch, seq, self.num_attention_heads, self.head_size))
        return ops.transpose(x, (0, 2, 1, 3))  # [B, N, S, D]

    def _self_attention(self, target, source, input_mask, batch, target_seq, seq, training):
        """target [B*T, H] attends to source [B*S, H] -> [B*T, H]."""
        # Scaling the queries ([B*T, H]) is cheaper than scaling the scores ([B, N, T, S]).
        query = self._split_heads(self.query(target) * (1.0 / math.sqrt(self.head_size)),
                                  batch, target_seq)
        key = self._split_heads(self.key(source), batch, seq)
        value = self._split_heads(self.value(source), batch, seq)

        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))  # [B, N, T, S]
        # Softmax in float32 for mixed precision; padding keys get no attention.
        mask = ops.cast(input_mask, "float32")[:, None, None, :]  # [B, 1, 1, S]
        scores = ops.cast(scores, "float32") + (1.0 - mask) * _MASKED_SCORE
        probs_float32 = ops.softmax(scores, axis=-1)  # [B, N, T, S]
        probs = ops.cast(probs_float32, self.compute_dtype)
        probs = self.attention_dropout(probs, training=training)

        context = ops.matmul(probs, value)  # [B, N, T, D]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)),
                              (-1, self.hidden_size))  # [B*T, H]
        return self.attention_output(context), probs_float32

    def call(self, x, input_mask, training=None, output_range=None, output_attentions=False):
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        # Only the first `output_range` positions are outputs (T of them; all S when
        # None): their queries still attend to every position, but the rest of the
        # block runs on T rows. A head that reads [CLS] alone needs T = 1 in the last
        # block (tensorflow/models' `output_range`).
        target = x if output_range is None else x[:, :output_range, :]
        target_seq = ops.shape(target)[1]
        # The dense layers see [B*S, H] matrices, as in google-research/bert's
        # `reshape_to_matrix`: a 2-D MatMul directly followed by its bias add (and GELU)
        # is what TF's graph optimizer fuses into one oneDNN kernel; a 3-D input would
        # put reshapes between them.
        source = ops.reshape(x, (-1, self.hidden_size))  # [B*S, H]
        target = ops.reshape(target, (-1, self.hidden_size))  # [B*T, H]
        attention, probs = self._self_attention(target, source, input_mask, batch,
                                                target_seq, seq, training)
        x = self.attention_layer_norm(target + self.hidden_dropout(attention, training=training))
        ffn = self.output_dense(self.intermediate(x))  # [B*T, I] -> [B*T, H]
        x = self.output_layer_norm(x + self.hidden_dropout(ffn, training=training))
        x = ops.reshape(x, (batch, target_seq, self.hidden_size))
        return (x, probs) if output_attentions else x

    def compute_output_spec(self, x, input_mask, training=None, output_range=None,
                            output_attentions=False):
        seq = x.shape[1]
        if output_range is not None and seq is not None:
            seq = min(seq, output_range)
        output = keras.KerasTensor((x.shape[0], seq, self.hidden_size), dtype=self.compute_dtype)
        if not output_attentions:
            return output
        probs = keras.KerasTensor((x.shape[0], self.num_attention_heads, seq, x.shape[1]),
                                  dtype="float32")
        return output, probs

    def get_config(self):
        return {**super().get_config(),
                "hidden_size": self.hidden_size,
                "num_attention_heads": self.num_attention_heads,
                "intermediate_size": self.intermediate_size, "hidden_act": self.hidden_act,
                "hidden_dropout_prob": self.hidden_dropout_prob,
                "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
                "initializer_range": self.initializer_range,
                "layer_norm_eps": self.layer_norm_eps}
