"""What classification explains: a class, whose score is that class's logit. Words are
those of `text` (the first text of a pair), as the tokenizer splits them (punctuation
apart)."""
import tensorflow as tf

from bert_tf.tasks.explain_target import ExplainTarget, piece_positions, tokenizer_words


class ClassificationExplainTarget(ExplainTarget):
    """The `ExplainTarget` hooks of `ClassificationTask`."""

    def explain_target_spec(self):
        return {"label_id": tf.TensorSpec([None], tf.int32, name="label_id")}

    def explain_target_ranges(self):
        return {"label_id": (-1, len(self.labels))}

    def parse_target(self, target, example, index):
        """`target`: None (the predicted class) or a label."""
        if target is None:
            return {"label_id": -1}
        if str(target) not in self.label_ids:
            raise ValueError(f"input {index}: unknown target label {target!r}; the task's "
                             f"labels are {self.labels}")
        return {"label_id": self.label_ids[str(target)]}

    def resolve_target(self, logits, preprocessed, target):
        label_id = target["label_id"]
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"label_id": tf.where(label_id < 0, predicted, label_id)}

    def target_score(self, logits, target, rows):
        label_id = tf.gather(target["label_id"], rows)  # [R]
        return tf.gather(logits, label_id, batch_dims=1)  # [R]

    def describe_target(self, target, words):
        return f"label {self.labels[target['label_id']]!r}"

    def explain_words(self, raw, preprocessed, target):
        words = tokenizer_words(self.tokenizer, raw["text"])
        # Segment 0 is [CLS] text [SEP]: its pieces start at 1, and as many are kept.
        mask = tf.cast(preprocessed["input_mask"], tf.int32)
        first_segment = mask * tf.cast(preprocessed["input_type_ids"] == 0, tf.int32)
        kept = tf.reduce_sum(first_segment, axis=1) - 2
        return {**words, "piece_position": piece_positions(
            words["piece_word"], tf.ones_like(kept), kept)}
