"""The embedding task's model parts: pooling of the encoder's token vectors into one
vector per text (with optional L2 normalisation), and the contrastive loss it trains
with. Both follow sentence-transformers, so that its checkpoints embed here exactly as
they do there (`models.Pooling`, `models.Normalize`, `losses.MultipleNegativesRankingLoss`).

Shape legend: B batch, S sequence length, H hidden size.
"""
import keras
from keras import ops

POOLING_MODES = ("mean", "cls", "max")


@keras.saving.register_keras_serializable(package="bert_tf")
class EmbeddingPooling(keras.layers.Layer):
    """Token vectors [B, S, H] and input_mask [B, S] -> one float32 vector per row [B, H].

    mean: the average over the unmasked tokens ([CLS] and [SEP] included, as in
    sentence-transformers); cls: the first token's vector (the raw [CLS] state, not the
    pooler's); max: the element-wise maximum over the unmasked tokens. With `normalize`
    each vector is scaled to unit L2 norm, so that a dot product is the cosine.
    """

    def __init__(self, pooling="mean", normalize=True, **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
        self.pooling = pooling
        self.normalize = bool(normalize)

    def call(self, sequence_output, input_mask):
        vectors = ops.cast(sequence_output, "float32")
        mask = ops.cast(input_mask, "float32")[:, :, None]  # [B, S, 1]
        if self.pooling == "cls":
            pooled = vectors[:, 0]
        elif self.pooling == "max":
            pooled = ops.max(ops.where(mask > 0, vectors, -1e9), axis=1)
        else:  # sentence-transformers clamps the count at 1e-9: an all-pad row gives 0
            pooled = ops.sum(vectors * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1e-9)
        if self.normalize:  # torch.nn.functional.normalize's eps
            pooled = pooled / ops.maximum(ops.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return pooled

    def compute_output_shape(self, sequence_output_shape, input_mask_shape):
        return (sequence_output_shape[0], sequence_output_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="bert_tf")
class InBatchNegativesLoss(keras.losses.Loss):
    """Contrastive loss of text pairs with in-batch negatives (sentence-transformers'
    MultipleNegativesRankingLoss): each first text must pick its own second text among
    all second texts of the batch, by cosine similarity times `scale`.

    y_pred holds the pairs interleaved, rows [a0, b0, a1, b1, ...] (so that a strategy
    that splits the batch across replicas keeps pairs together); y_true is ignored.
    Returns the cross-entropy per pair [B / 2].
    """

    def __init__(self, scale=20.0, name="in_batch_negatives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = float(scale)

    def call(self, y_true, y_pred):
        del y_true  # the positives are the pairs' own rows
        anchors, positives = y_pred[0::2], y_pred[1::2]
        anchors = anchors / ops.maximum(ops.norm(anchors, axis=-1, keepdims=True), 1e-12)
        positives = positives / ops.maximum(ops.norm(positives, axis=-1, keepdims=True), 1e-12)
        scores = self.scale * ops.matmul(anchors, ops.transpose(positives))  # [P, P]
        targets = ops.arange(ops.shape(scores)[0])
        return keras.losses.sparse_categorical_crossentropy(targets, scores, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
