"""What QA explains: the start or the end of the predicted answer, that position's start
(end) logit in the window the answer comes from. Words are the context's, as the
tokenizer splits them; the question's pieces are attributed too but not listed."""
import tensorflow as tf

from bert_tf.tasks.explain_target import ExplainTarget, tokenizer_words
from bert_tf.text.words import NO_POSITION


class QaExplainTarget(ExplainTarget):
    """The `ExplainTarget` hooks of `QaTask`."""

    explain_text_input = "context"
    _ENDS = ("start", "end")

    def explain_target_spec(self):
        """`answer_end`: 0 the start, 1 the end (-1: the start)."""
        return {"answer_end": tf.TensorSpec([None], tf.int32, name="answer_end")}

    def explain_target_ranges(self):
        return {"answer_end": (-1, 2)}

    def parse_target(self, target, example, index):
        """`target`: "start" (default) or "end" of the predicted answer."""
        target = "start" if target is None else target
        if target not in self._ENDS:
            raise ValueError(f"input {index}: a QA target is 'start' or 'end' (of the "
                             f"predicted answer), got {target!r}")
        return {"answer_end": self._ENDS.index(target)}

    def resolve_target(self, logits, preprocessed, target):
        piece = preprocessed["context_piece"]  # [W, S]
        score, start, end = self.best_spans(logits, preprocessed["is_max_context"], piece >= 0)
        example = tf.cast(preprocessed["window_example"], tf.int32)  # [W]
        batch = preprocessed["context_starts"].nrows(out_type=tf.int32)
        best = tf.math.unsorted_segment_max(score[:, 0], example, batch)  # [B]
        window_index = tf.range(tf.shape(example)[0])
        window = tf.math.unsorted_segment_min(
            tf.where(score[:, 0] >= tf.gather(best, example), window_index,
                     tf.int32.max), example, batch)  # [B], the first best window
        window = tf.minimum(window, tf.shape(example)[0] - 1)
        which = tf.maximum(target["answer_end"], 0)  # -1: the start
        position = tf.where(which == 0, tf.gather(start[:, 0], window),
                            tf.gather(end[:, 0], window))
        return {"answer_end": which, "window": window, "position": position}

    def explain_rows(self, preprocessed, target):
        return target["window"]

    def target_score(self, logits, target, rows):
        which = tf.gather(target["answer_end"], rows)
        position = tf.gather(target["position"], rows)
        at = tf.gather(logits, which, batch_dims=1)  # [R, S]
        return tf.gather(at, position, batch_dims=1)

    def describe_target(self, target, words):
        return f"the answer's {self._ENDS[target['answer_end']]}"

    def explain_words(self, raw, preprocessed, target):
        words = tokenizer_words(self.tokenizer, raw["context"])
        piece_word = words["piece_word"]
        # Positions of the context pieces in each example's explained window.
        piece = tf.gather(preprocessed["context_piece"], target["window"])  # [B, S]
        found = tf.where(piece >= 0)  # [N, 2]: (example, position)
        total = tf.size(piece_word.flat_values, tf.int64)
        position = tf.tensor_scatter_nd_update(
            tf.fill([total], NO_POSITION),
            tf.gather_nd(piece, found)[:, None], tf.cast(found[:, 1], tf.int32))
        return {**words, "piece_position": piece_word.with_flat_values(position)}
