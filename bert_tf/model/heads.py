"""Pretraining heads: masked-LM (output weights tied to the word embeddings) and NSP.

Shape legend: B batch, S sequence length, P masked positions per sequence, H hidden,
V vocabulary.
"""
import keras
from keras import ops

from bert_tf.model.transformer import activation_fn


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(keras.layers.Layer):
    """Predicts the word pieces at masked positions.

    dense + activation + LayerNorm, then logits against the word-embedding table
    (weight tying, as in BERT: the output projection is the embedding matrix transposed)
    plus a per-token output bias.

    Args:
        word_embeddings: the encoder's `keras.layers.Embedding` for word pieces.
        hidden_act: activation of the transform, as in the config.
        initializer_range: stddev of the truncated-normal initializer.
        layer_norm_eps: LayerNorm epsilon.

    Call args:
        sequence_output: float [B, S, H].
        masked_lm_positions: int32 [B, P], indices into S.
    Returns:
        logits float32 [B, P, V].
    """

    def __init__(self, word_embeddings, hidden_act="gelu", initializer_range=0.02,
                 layer_norm_eps=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.word_embeddings = word_embeddings
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        hidden_size = word_embeddings.output_dim
        self.transform = keras.layers.Dense(
            hidden_size, activation=activation_fn(hidden_act), name="transform",
            dtype=self.dtype_policy,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, name="layer_norm", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        hidden_size = self.word_embeddings.output_dim
        self.transform.build((None, None, hidden_size))
        self.layer_norm.build((None, None, hidden_size))
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.word_embeddings.input_dim,), initializer="zeros")
        self.built = True

    def call(self, sequence_output, masked_lm_positions):
        # Row b's positions taken from the [B * S, H] rows: Keras' take_along_axis would
        # transpose the integer positions, and TF's oneDNN graph rewrite turns down every
        # Transpose that is not floating point, on every CPU, logging it as an error
        # ("oneDNN supports DT_INT64 only on platforms with AVX-512").
        batch_size, seq_length = ops.shape(sequence_output)[0], ops.shape(sequence_output)[1]
        row_starts = ops.cast(ops.arange(batch_size) * seq_length, masked_lm_positions.dtype)
        rows = ops.reshape(sequence_output, (-1, sequence_output.shape[-1]))
        x = ops.take(rows, masked_lm_positions + row_starts[:, None], axis=0)
        x = self.layer_norm(self.transform(x))  # [B, P, H]
        table = ops.cast(self.word_embeddings.embeddings, self.compute_dtype)  # [V, H]
        logits = ops.matmul(x, ops.transpose(table)) + ops.cast(self.output_bias,
                                                                self.compute_dtype)
        return ops.cast(logits, "float32")  # losses in float32 under mixed precision

    def compute_output_shape(self, sequence_output_shape, masked_lm_positions_shape):
        return (*masked_lm_positions_shape, self.word_embeddings.input_dim)

    def get_config(self):
        # The embedding layer is shared, not owned: whoever builds the head passes it.
        return {**super().get_config(), "hidden_act": self.hidden_act,
                "initializer_range": self.initializer_range,
                "layer_norm_eps": self.layer_norm_eps}


@keras.saving.register_keras_serializable(package="bert_tf")
class NextSentenceHead(keras.layers.Layer):
    """Is segment B the text that follows segment A? Logits [B, 2] from the pooled output.

    The weight is kept as [2, H], the layout of Google's `cls/seq_relationship`.
    Index 0 means "B follows A" (IsNext), as in Google's data and checkpoints.
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range

    def build(self, pooled_output_shape):
        self.output_weights = self.add_weight(
            name="output_weights", shape=(2, pooled_output_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))
        self.output_bias = self.add_weight(name="output_bias", shape=(2,), initializer="zeros")
        self.built = True

    def call(self, pooled_output):
        logits = ops.matmul(pooled_output, ops.transpose(self.output_weights)) + self.output_bias
        return ops.cast(logits, "float32")

    def compute_output_shape(self, pooled_output_shape):
        return (pooled_output_shape[0], 2)

    def get_config(self):
        return {**super().get_config(), "initializer_range": self.initializer_range}
