"""The BERT pretraining objective: one replica's share of the masked-LM + next-sentence
loss (`pretraining_loss`), the sums it returns for the metrics (`STAT_NAMES`), and the
metrics made of those sums (`metrics_from_stats`).
"""
import keras
import tensorflow as tf

# Sums each replica returns per micro-batch; the logged metrics are ratios of them.
STAT_NAMES = ("sequences", "mlm_loss_sum", "mlm_correct", "mlm_predictions",
              "nsp_loss_sum", "nsp_correct")


def pretraining_loss(features, outputs, global_batch_size):
    """One replica's share of the pretraining loss, and sums for the metrics.

    The masked-LM loss of a sequence is the mean cross-entropy over its predictions
    (weighted by `masked_lm_weights`, so padding slots count 0); the loss is the mean over
    sequences of that plus the NSP cross-entropy. As a mean over sequences, it splits
    exactly over replicas and accumulated micro-batches.

    Args:
        features: dict with `masked_lm_ids` int32 [b, P], `masked_lm_weights` float32
            [b, P], `next_sentence_labels` int32 [b] (b: this replica's rows).
        outputs: the model's `mlm_logits` float32 [b, P, V] and `nsp_logits` float32 [b, 2].
        global_batch_size: int B, sequences in the batch over all replicas.
    Returns:
        (loss, stats): the scalar loss divided by B (the replicas' losses sum to the
        batch mean), and float32 scalar sums keyed by STAT_NAMES.
    """
    weights = features["masked_lm_weights"]                                   # [b, P]
    mlm_logits = outputs["mlm_logits"]
    mlm_cross_entropy = keras.losses.sparse_categorical_crossentropy(
        features["masked_lm_ids"], mlm_logits, from_logits=True)              # [b, P]
    predictions = tf.reduce_sum(weights, axis=1)                              # [b]
    mlm_loss = (tf.reduce_sum(mlm_cross_entropy * weights, axis=1)
                / tf.maximum(predictions, 1.0))                               # [b]
    labels = features["next_sentence_labels"]                                 # [b]
    nsp_loss = keras.losses.sparse_categorical_crossentropy(
        labels, outputs["nsp_logits"], from_logits=True)                      # [b]
    loss = tf.reduce_sum(mlm_loss + nsp_loss) / global_batch_size

    mlm_hits = tf.cast(tf.equal(tf.argmax(mlm_logits, axis=-1, output_type=tf.int32),
                                features["masked_lm_ids"]), tf.float32)
    nsp_hits = tf.cast(tf.equal(tf.argmax(outputs["nsp_logits"], axis=-1,
                                          output_type=tf.int32), labels), tf.float32)
    stats = {"sequences": tf.cast(tf.shape(labels)[0], tf.float32),
             "mlm_loss_sum": tf.reduce_sum(mlm_loss),
             "mlm_correct": tf.reduce_sum(mlm_hits * weights),
             "mlm_predictions": tf.reduce_sum(predictions),
             "nsp_loss_sum": tf.reduce_sum(nsp_loss),
             "nsp_correct": tf.reduce_sum(nsp_hits)}
    return loss, stats


def metrics_from_stats(stats):
    """{loss, mlm_loss, nsp_loss, mlm_accuracy, nsp_accuracy} from summed STAT_NAMES."""
    sequences = max(stats["sequences"], 1.0)
    return {"loss": (stats["mlm_loss_sum"] + stats["nsp_loss_sum"]) / sequences,
            "mlm_loss": stats["mlm_loss_sum"] / sequences,
            "nsp_loss": stats["nsp_loss_sum"] / sequences,
            "mlm_accuracy": stats["mlm_correct"] / max(stats["mlm_predictions"], 1.0),
            "nsp_accuracy": stats["nsp_correct"] / sequences}
