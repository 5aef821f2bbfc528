"""QA's outputs: spans from start and end logits, answers, predictions, scores.

Answers (graph, `postprocess`): in every window, each start piece that has its most
context there (the window where the piece is farthest from an edge, as google-research/
bert's `_check_is_max_context`) is paired with each end piece up to
`max_answer_length` pieces on, scored start logit + end logit; the `n_best_size` best
spans of all windows of an example are its n-best list. The null score is the lowest
[CLS] score over the example's windows; with v2.0, the answer is "" when
null score - best span score > `null_score_diff_threshold`. Answer text is the context's
substring under the span's pieces (`BertTokenizer.tokenize_with_piece_offsets`), with
character offsets into the context. Metrics are the official SQuAD v1.1 / v2.0 scoring
(`scoring.squad_metrics`).
"""
import json
import os

import tensorflow as tf

from bert_tf.tasks.qa import scoring

NO_ANSWER = -1  # answer offsets of unanswerable questions and of "no answer" predictions


class QaOutputs:
    """The output hooks of `QaTask` (see `Task.postprocess`, `predictions`, ...)."""

    def best_spans(self, logits, start_allowed, end_allowed):
        """The `n_best_size` best spans of each window.

        Args:
            logits: float [W, 2, S], start and end logits.
            start_allowed, end_allowed: bool [W, S], positions a span may start / end at.
        Returns:
            (score, start, end): [W, K] each, K = min(n_best_size, S * max_answer_length);
            spans by falling score start logit + end logit, -inf where there is none.
        """
        start_logits, end_logits = logits[:, 0], logits[:, 1]  # [W, S]
        answer_length = self.max_answer_length
        length = tf.shape(start_logits)[1]
        end_scores = tf.where(end_allowed, end_logits, -float("inf"))
        end_scores = tf.pad(end_scores, [[0, 0], [0, answer_length - 1]],
                            constant_values=-float("inf"))  # [W, S + A - 1]
        # [W, S, A]: the span from s to s + a.
        ends = tf.range(length)[:, None] + tf.range(answer_length)[None, :]  # [S, A]
        scores = (tf.where(start_allowed, start_logits, -float("inf"))[:, :, None]
                  + tf.gather(end_scores, ends, axis=1))
        k = tf.minimum(self.n_best_size, length * answer_length)
        best, index = tf.math.top_k(tf.reshape(scores, [tf.shape(scores)[0], -1]), k)
        start = index // answer_length
        return best, start, start + index % answer_length

    def postprocess(self, logits, preprocessed):
        """logits [W, 2, S] of the windows to each example's answer and n-best list.

        Returns:
            dict over the B examples (K = n_best_size; the n-best list pads with ""
            and -1 offsets, score 0):
              `answer_text` string [B] ("" for no answer), `answer_start`,
              `answer_end` int32 [B] (character offsets into the context, -1 for no
              answer), `score` float32 [B] (best span's start + end logit),
              `null_score` [B] (lowest [CLS] start + end logit of its windows),
              `null_score_diff` [B] (null_score - score; SQuAD v2.0's "null odds"),
              `nbest_text` [B, K], `nbest_start`, `nbest_end` int32 [B, K],
              `nbest_score` float32 [B, K].
        """
        piece = preprocessed["context_piece"]  # [W, S]
        example = preprocessed["window_example"]  # [W]
        offsets = (preprocessed["context_starts"], preprocessed["context_ends"])
        num_examples = offsets[0].nrows()
        score, start, end = self.best_spans(logits, preprocessed["is_max_context"], piece >= 0)
        # Every window's candidates, per example: [B, (windows * K)].
        candidates = tf.RaggedTensor.from_value_rowids(
            tf.stack([score, tf.cast(tf.gather(piece, start, batch_dims=1), tf.float32),
                      tf.cast(tf.gather(piece, end, batch_dims=1), tf.float32)], -1),
            example, nrows=num_examples).merge_dims(1, 2)
        candidates = candidates.to_tensor(-float("inf"))  # [B, C, 3]
        k = tf.minimum(self.n_best_size, tf.shape(candidates)[1])
        best_score, best = tf.math.top_k(candidates[:, :, 0], k)  # [B, K]
        chosen = tf.gather(candidates, best, batch_dims=1)
        valid = best_score > -float("inf")
        first_piece = tf.where(valid, tf.cast(chosen[:, :, 1], tf.int64), 0)
        last_piece = tf.where(valid, tf.cast(chosen[:, :, 2], tf.int64), 0)
        # One spare offset: a batch without any context piece still gathers (the
        # invalid spans' index 0), and its answers are masked out below.
        byte_start = tf.gather(tf.concat([offsets[0].flat_values, [0]], 0), first_piece)
        byte_end = tf.gather(tf.concat([offsets[1].flat_values, [0]], 0), last_piece)
        text, char_start, char_end = _substrings(preprocessed["context"], byte_start, byte_end)
        text = tf.where(valid, text, "")
        char_start = tf.where(valid, char_start, NO_ANSWER)
        char_end = tf.where(valid, char_end, NO_ANSWER)
        best_score = tf.where(valid, best_score, 0.0)

        null_score = tf.math.unsorted_segment_min(logits[:, 0, 0] + logits[:, 1, 0], example,
                                                  num_examples)  # [B]
        has_span = valid[:, 0]
        span_score = tf.where(has_span, best_score[:, 0], -float("inf"))
        null_diff = null_score - span_score
        answered = has_span
        if self.version_2_with_negative:
            answered &= null_diff <= self.null_score_diff_threshold
        return {"answer_text": tf.where(answered, text[:, 0], ""),
                "answer_start": tf.where(answered, char_start[:, 0], NO_ANSWER),
                "answer_end": tf.where(answered, char_end[:, 0], NO_ANSWER),
                "score": best_score[:, 0], "null_score": null_score,
                # Without any span the null answer wins outright: the largest float.
                "null_score_diff": tf.minimum(null_diff, tf.float32.max),
                "nbest_text": text, "nbest_start": char_start, "nbest_end": char_end,
                "nbest_score": best_score}

    def predictions(self, examples, outputs):
        """Per example: {"text", "start", "end" (character offsets, -1 for no answer),
        "score", "null_score_diff", "nbest": [{"text", "start", "end", "score"}]}."""
        columns = {name: value.numpy().tolist() for name, value in outputs.items()}
        results = []
        for i in range(len(examples)):
            nbest = [{"text": text.decode("utf-8"), "start": start, "end": end, "score": score}
                     for text, start, end, score in zip(
                         columns["nbest_text"][i], columns["nbest_start"][i],
                         columns["nbest_end"][i], columns["nbest_score"][i]) if start >= 0]
            results.append({"text": columns["answer_text"][i].decode("utf-8"),
                            "start": columns["answer_start"][i],
                            "end": columns["answer_end"][i], "score": columns["score"][i],
                            "null_score_diff": columns["null_score_diff"][i], "nbest": nbest})
        return results

    def evaluate_predictions(self, examples, predictions):
        """Official SQuAD scores in percent: v1.1 `exact_match`, `f1`; v2.0 also the
        HasAns/NoAns splits and the best null threshold (`best_f1_thresh`)."""
        for ex in examples:
            if not ex.is_labelled:
                raise ValueError(f"{ex.source}: question has no answers to score against")
        answers = {ex.id: [text for text, _ in ex.answers] for ex in examples}
        predicted = {ex.id: p["text"] for ex, p in zip(examples, predictions)}
        if not self.version_2_with_negative:
            return scoring.squad_metrics(answers, predicted)
        return scoring.squad_metrics(
            answers, predicted,
            null_odds={ex.id: p["null_score_diff"] for ex, p in zip(examples, predictions)},
            span_predictions={ex.id: p["nbest"][0]["text"] if p["nbest"] else ""
                              for ex, p in zip(examples, predictions)})

    def write_predictions(self, path, examples, predictions):
        """`path`: {id: answer text}, the official scoring script's input. Beside it,
        `<path stem>_nbest.json` ({id: n-best list}) and, for v2.0,
        `<path stem>_null_odds.json` ({id: null_score_diff}, the script's --na-prob-file).
        """
        stem = os.path.splitext(path)[0]
        files = {path: {ex.id: p["text"] for ex, p in zip(examples, predictions)},
                 f"{stem}_nbest.json": {ex.id: p["nbest"] for ex, p in zip(examples, predictions)}}
        if self.version_2_with_negative:
            files[f"{stem}_null_odds.json"] = {ex.id: p["null_score_diff"]
                                               for ex, p in zip(examples, predictions)}
        for file_path, content in files.items():
            with open(file_path, "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2, ensure_ascii=False)
                f.write("\n")


def _substrings(texts, byte_start, byte_end):
    """Substrings of texts [B] between byte offsets [B, K], with their character
    offsets: (text [B, K], char_start, char_end int32 [B, K])."""
    texts = tf.broadcast_to(tf.expand_dims(texts, 1), tf.shape(byte_start))
    length = tf.maximum(byte_end - byte_start, 0)
    text = tf.strings.substr(texts, byte_start, length)
    char_start = tf.strings.length(tf.strings.substr(texts, tf.zeros_like(byte_start), byte_start),
                                   unit="UTF8_CHAR")
    return text, char_start, char_start + tf.strings.length(text, unit="UTF8_CHAR")
