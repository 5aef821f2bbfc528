"""QA's served outputs: question and context in, the answer out.

    module = TaskServingModule.for_task(qa_task, model)     # bert_tf/export/task.py
    out = module.serve_text({"question": tf.constant(["Who designed the tower?"]),
                             "context": tf.constant(["... designed by Gustave Eiffel ..."])})
    out["answer_text"]      # string [B]: "Gustave Eiffel" ("" for no answer, SQuAD v2.0)
    out["answer_start"]     # int32 [B]: character offset in the context (-1: no answer)
    out["answer_end"]       # int32 [B]: offset just past the answer (-1: no answer)
    out["score"]            # float32 [B]: start + end logit of the best span
    out["null_score_diff"]  # float32 [B]: null score - best span score
    out["nbest_text"], out["nbest_start"], out["nbest_end"], out["nbest_score"]  # [B, K]

The raw-text signature is the task's own `preprocess` / `postprocess` (long contexts are
cut into windows in the graph, answers are picked over all of an example's windows);
offsets count Unicode code points of the context (Python `str` indexes), so
`context[answer_start:answer_end] == answer_text`. The ids signature takes packed rows
`[CLS] question [SEP] context [SEP]` (one window per row) and returns sequence
positions: `start_position`, `end_position` int32 [B] (-1 when the row has no context),
`score`, `null_score` [B] and the n-best `nbest_start_position`, `nbest_end_position`,
`nbest_score` [B, K], spans restricted to the second segment.
"""
import tensorflow as tf

from bert_tf.tasks.qa.outputs import NO_ANSWER
from bert_tf.text.packer import packed_lengths


class QaServing:
    """The serving hooks of `QaTask` (see `Task.serving_outputs_ids`)."""

    def serving_outputs_ids(self, model_outputs, features):
        mask = tf.cast(features["input_mask"], tf.bool)  # [B, S]
        length = packed_lengths(features)[:, tf.newaxis]  # [B, 1]
        positions = tf.range(tf.shape(mask)[1])[None, :]
        # The second segment without its closing [SEP].
        context = (mask & tf.equal(features["input_type_ids"], 1)
                   & (positions < length - 1))
        score, start, end = self.best_spans(model_outputs, context, context)
        valid = score > -float("inf")
        return {"start_position": tf.where(valid[:, 0], start[:, 0], NO_ANSWER),
                "end_position": tf.where(valid[:, 0], end[:, 0], NO_ANSWER),
                "score": tf.where(valid[:, 0], score[:, 0], 0.0),
                "null_score": model_outputs[:, 0, 0] + model_outputs[:, 1, 0],
                "nbest_start_position": tf.where(valid, start, NO_ANSWER),
                "nbest_end_position": tf.where(valid, end, NO_ANSWER),
                "nbest_score": tf.where(valid, score, 0.0)}
