"""BertEmbeddings: word + position + segment embeddings, then LayerNorm and dropout."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(keras.layers.Layer):
    """Sums the three embeddings of every input position.

    Shapes: B batch, S sequence length (<= max_position_embeddings), H hidden size.

    Args:
        vocab_size: word-piece vocabulary size.
        hidden_size: embedding width H.
        max_position_embeddings: rows of the position table.
        type_vocab_size: number of segment ids.
        initializer_range: stddev of the truncated-normal initializer.
        layer_norm_eps: LayerNorm epsilon.
        hidden_dropout_prob: dropout on the normalized sum.

    Call args:
        input_word_ids: int32 [B, S].
        input_type_ids: int32 [B, S].
    Returns:
        float [B, S, H].

    Attribution hook (`bert_tf/explain/attributions.py`): while `interpolation` is a pair
    (alpha float [B, S], baseline_word_ids int32 [B, S]), each position's word embedding
    is replaced by `baseline + alpha * (word - baseline)`, the straight path of
    Integrated Gradients from the baseline's embedding (alpha 0) to the input's (alpha
    1); d output / d alpha_t is then the attribution density of token t, summed over the
    hidden dimension. It is None otherwise, and calls cost nothing extra. Set it only
    through `bert_tf.explain.attributions.interpolated`.
    """

    interpolation = None

    def __init__(self, vocab_size, hidden_size, max_position_embeddings, type_vocab_size,
                 initializer_range=0.02, layer_norm_eps=1e-12, hidden_dropout_prob=0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob

        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.word_embeddings = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=init, dtype=self.dtype_policy,
            name="word_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=init, dtype=self.dtype_policy,
            name="token_type_embeddings")
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=self.dtype_policy, name="layer_norm")
        self.dropout = keras.layers.Dropout(hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.word_embeddings.build()
        self.token_type_embeddings.build()
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_position_embeddings, self.hidden_size),
            initializer=keras.initializers.TruncatedNormal(stddev=self.initializer_range))
        self.layer_norm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, input_word_ids, input_type_ids, training=None):
        seq_length = ops.shape(input_word_ids)[1]
        positions = ops.cast(self.position_embeddings[:seq_length], self.compute_dtype)
        words = self.word_embeddings(input_word_ids)  # [B, S, H]
        if self.interpolation is not None:
            alpha, baseline_word_ids = self.interpolation
            baseline = self.word_embeddings(baseline_word_ids)
            alpha = ops.cast(alpha, self.compute_dtype)[:, :, None]  # [B, S, 1]
            words = baseline + alpha * (words - baseline)
        x = (words
             + self.token_type_embeddings(input_type_ids)
             + positions[None])  # [B, S, H]
        return self.dropout(self.layer_norm(x), training=training)

    def get_config(self):
        return {**super().get_config(),
                "vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
                "max_position_embeddings": self.max_position_embeddings,
                "type_vocab_size": self.type_vocab_size,
                "initializer_range": self.initializer_range,
                "layer_norm_eps": self.layer_norm_eps,
                "hidden_dropout_prob": self.hidden_dropout_prob}

    @classmethod
    def from_config(cls, config):
        # `.keras` files saved before the name was unified with BertConfig's call it
        # dropout_rate: they still load.
        config = dict(config)
        if "dropout_rate" in config:
            config["hidden_dropout_prob"] = config.pop("dropout_rate")
        return cls(**config)
