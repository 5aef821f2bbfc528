"""Extractive question answering on SQuAD v1.1 / v2.0 JSON.

Data: `{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}`. One example
per question. `answer_start` counts code points of the context (Python `str` indexes),
and `context[answer_start:answer_start + len(text)]` must be the answer text. v2.0
questions with `"is_impossible": true` have no answer; they need
`version_2_with_negative=True`.

Windows: a context longer than the sequence leaves room for is cut into windows of at
most `max_seq_length - len(question) - 3` pieces that start every `doc_stride` pieces
(the last window ends at the context's end), each packed as `[CLS] question [SEP] window
[SEP]`; questions keep their first `max_query_length` pieces. All of it runs in the graph
(`pack`), so training, evaluation and the exported SavedModel cut windows identically.
A training batch holds all the windows of `batch_size` examples. A window that does not
hold the whole answer (and every window of an unanswerable question) is labelled with
the [CLS] position as start and end, as in google-research/bert and Hugging Face.

Model: the encoder's sequence output -> Dense(2) -> start and end logits, [W, 2, S] for
W windows; the loss is the mean of the start and end cross-entropies.

Answers (graph, `postprocess`): in every window, each start piece that has its most
context there (the window where the piece is farthest from an edge, as google-research/
bert's `_check_is_max_context`) is paired with each end piece up to
`max_answer_length` pieces on, scored start logit + end logit; the `n_best_size` best
spans of all windows of an example are its n-best list. The null score is the lowest
[CLS] score over the example's windows; with v2.0, the answer is "" when
null score - best span score > `null_score_diff_threshold`. Answer text is the context's
substring under the span's pieces (`BertTokenizer.tokenize_with_piece_offsets`), with
character offsets into the context. Metrics are the official SQuAD v1.1 / v2.0 scoring
(`metrics.squad_metrics`).
"""
import dataclasses
import json
import os

import keras
import tensorflow as tf

from bert_tf.data import files
from bert_tf.explain import words as explain_words
from bert_tf.model.encoder import encoder_inputs
from bert_tf.common.fields import config_field
from bert_tf.tasks import metrics
from bert_tf.tasks.base import Task, TaskConfig, model_features, register_task

NO_ANSWER = -1  # answer offsets of unanswerable questions and of "no answer" predictions


@dataclasses.dataclass(frozen=True)
class QaExample:
    """One question on a context.

    Attributes:
        id: the question's SQuAD id (unique in a file).
        question: str.
        context: str.
        answers: tuple of (text, char start) pairs; empty for an unanswerable v2.0
            question; None for unlabelled prediction input.
        source: "file: question <id>", for error messages.
    """
    id: str
    question: str
    context: str
    answers: tuple | None
    source: str = ""

    @property
    def is_labelled(self):
        return self.answers is not None

    @property
    def is_impossible(self):
        return self.answers == ()


def _require(value, kind, where, what):
    if not isinstance(value, kind):
        raise ValueError(f"{where}: {what} must be a {kind.__name__}, got "
                         f"{type(value).__name__}")
    return value


def read_squad(path, require_labels=True, version_2_with_negative=False):
    """Reads a SQuAD-format JSON file.

    Args:
        path: the file.
        require_labels: every question must have answers (or, with v2.0, be marked
            impossible). When False, questions without answers get `answers=None`.
        version_2_with_negative: allow unanswerable questions (`is_impossible`).
    Returns:
        list of QaExample, in file order.
    Raises:
        FileNotFoundError; ValueError naming the file and question for malformed JSON,
        missing fields, empty texts, answers that are not at `answer_start` in the
        context, duplicate ids, or an impossible question without v2.0.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SQuAD file not found: {path}")
    try:
        document = json.loads(files.read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError(f"{path}: expected a SQuAD object with a 'data' list")
    examples, seen = [], set()
    for a, article in enumerate(document["data"]):
        paragraphs = _require(article, dict, f"{path}: data[{a}]", "an article").get(
            "paragraphs")
        for p, paragraph in enumerate(_require(paragraphs, list, f"{path}: data[{a}]",
                                               "'paragraphs'")):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _require(_require(paragraph, dict, where, "a paragraph").get("context"),
                               str, where, "'context'")
            if not context.strip():
                raise ValueError(f"{where}: empty context")
            for qa in _require(paragraph.get("qas"), list, where, "'qas'"):
                examples.append(_read_question(qa, context, path, where, require_labels,
                                               version_2_with_negative))
                if examples[-1].id in seen:
                    raise ValueError(f"{where}: question id {examples[-1].id!r} appears twice")
                seen.add(examples[-1].id)
    if not examples:
        raise ValueError(f"{path} has no questions")
    return examples


def _read_question(qa, context, path, where, require_labels, version_2_with_negative):
    _require(qa, dict, where, "a question")
    qid = qa.get("id")
    if not isinstance(qid, (str, int)) or str(qid) == "":
        raise ValueError(f"{where}: a question has no 'id'")
    where = f"{path}: question {qid}"
    question = _require(qa.get("question"), str, where, "'question'")
    if not question.strip():
        raise ValueError(f"{where}: empty question")
    impossible = bool(qa.get("is_impossible", False))
    if impossible and not version_2_with_negative:
        raise ValueError(f"{where}: is_impossible is set, but the task is SQuAD v1.1; "
                         "use version_2_with_negative (--version_2_with_negative)")
    raw_answers = qa.get("answers")
    if raw_answers is None or (not raw_answers and not impossible):
        if require_labels:
            raise ValueError(f"{where}: no answers (and not is_impossible)")
        return QaExample(str(qid), question, context, None, where)
    answers = []
    for answer in [] if impossible else _require(raw_answers, list, where, "'answers'"):
        text = _require(_require(answer, dict, where, "an answer").get("text"), str, where,
                        "an answer's 'text'")
        start = answer.get("answer_start")
        if not isinstance(start, int) or context[start:start + len(text)] != text or not text:
            raise ValueError(f"{where}: answer {text!r} is not at answer_start {start!r} "
                             "of the context")
        answers.append((text, start))
    return QaExample(str(qid), question, context, tuple(answers), where)


@dataclasses.dataclass
class QaConfig(TaskConfig):
    """Options of `QaTask` (each a `bert-finetune` flag)."""

    max_seq_length: int = config_field(384, "Tokens per packed window, [CLS] and [SEP]s "
                                            "included (SQuAD's usual 384).")
    doc_stride: int = config_field(128, "Pieces between the starts of a long context's "
                                        "windows.")
    max_query_length: int = config_field(64, "Question pieces kept.")
    max_answer_length: int = config_field(30, "The longest answer, in pieces.")
    n_best_size: int = config_field(20, "Spans in each example's n-best list.")
    version_2_with_negative: bool = config_field(False, "SQuAD v2.0: questions may have "
                                                        "no answer.")
    null_score_diff_threshold: float = config_field(0.0, "v2.0: answer nothing when the "
                                                         "null score beats the best span's "
                                                         "by more than this.")

    def __post_init__(self):
        super().__post_init__()
        if self.max_query_length < 1 or self.max_query_length + 4 > self.max_seq_length:
            raise ValueError(f"max_query_length must be in [1, max_seq_length - 4 = "
                             f"{self.max_seq_length - 4}], got {self.max_query_length}")
        for name in ("doc_stride", "max_answer_length", "n_best_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.null_score_diff_threshold = float(self.null_score_diff_threshold)


@register_task
class QaTask(Task):
    """Extractive QA, SQuAD v1.1 / v2.0 style.

    Options (`QaConfig`): doc_stride, max_query_length, max_answer_length, n_best_size,
    version_2_with_negative, null_score_diff_threshold.
    """

    name = "qa"
    config_class = QaConfig
    # {id: answer} as the official scoring script reads it; n-best lists and v2.0 null
    # odds are written beside it.
    predictions_file = "predictions.json"

    @property
    def best_metric(self):
        return "f1"

    # --- data --------------------------------------------------------------------------
    def read_examples(self, path, require_labels=True):
        return read_squad(path, require_labels, self.version_2_with_negative)

    def examples_from(self, inputs, labels=None):
        """`inputs`: (question, context) pairs or {"question", "context"} dicts;
        `labels`: None, or per input its answers: an (answer text, character start) pair,
        a list of such pairs, or None / [] for no answer (v2.0)."""
        if labels is not None and len(labels) != len(inputs):
            raise ValueError(f"{len(inputs)} questions but {len(labels)} answers")
        examples = []
        for i, value in enumerate(inputs):
            where = f"question {i}"
            if isinstance(value, dict):
                value = (value.get("question"), value.get("context"))
            if (not isinstance(value, (tuple, list)) or len(value) != 2
                    or not all(isinstance(v, str) and v.strip() for v in value)):
                raise ValueError(f"{where}: expected a non-empty (question, context) pair, "
                                 f"got {value!r}")
            answers = None if labels is None else _answers(labels[i], value[1], where)
            if answers == () and not self.version_2_with_negative:
                raise ValueError(f"{where}: no answer, which needs "
                                 "version_2_with_negative=True")
            examples.append(QaExample(str(i), value[0], value[1], answers, where))
        return examples

    def serving_module_class(self):
        from bert_tf.export.qa import QaServingModule
        return QaServingModule

    def raw_input_spec(self):
        return {"question": tf.TensorSpec([None], tf.string, name="question"),
                "context": tf.TensorSpec([None], tf.string, name="context")}

    def raw_inputs(self, examples):
        return {"question": [ex.question for ex in examples],
                "context": [ex.context for ex in examples]}

    def targets(self, examples):
        """UTF-8 byte start and end (exclusive) of each example's first answer in its
        context, int32 [N, 2]; (-1, -1) for an unanswerable question."""
        spans = []
        for ex in examples:
            if not ex.is_labelled:
                raise ValueError(f"{ex.source}: question has no answer to train on")
            if ex.is_impossible:
                spans.append((NO_ANSWER, NO_ANSWER))
                continue
            text, start = ex.answers[0]
            byte_start = len(ex.context[:start].encode("utf-8"))
            spans.append((byte_start, byte_start + len(text.encode("utf-8"))))
        return tf.constant(spans, tf.int32, shape=[len(spans), 2])

    def tokenize(self, raw):
        """{"question", "context": [B]} to ragged int32 [B, (pieces)]: `question`
        (truncated to max_query_length), `context`, and the context pieces' byte spans
        `context_starts`, `context_ends`."""
        question = self.tokenizer.tokenize(raw["question"])[:, :self.max_query_length]
        context, starts, ends = self.tokenizer.tokenize_with_piece_offsets(raw["context"])
        return {"question": question, "context": context, "context_starts": starts,
                "context_ends": ends}

    def sequence_lengths(self, tokenized):
        """The packed length of each example's (first) window, int32 [B], which length
        bucketing sorts by: `[CLS] question [SEP] context [SEP]`, at most S."""
        length = (tokenized["question"].row_lengths() + tokenized["context"].row_lengths()
                  + 3)
        return tf.cast(tf.minimum(length, self.max_seq_length), tf.int32)

    def windows(self, tokenized):
        """Where the windows of each context start and end, as google-research/bert's
        `doc_spans`.

        Returns:
            dict of int64 [W] over the W windows of the batch, in example order:
            `example` (its row in the batch), `start` (first context piece) and
            `length` (context pieces).
        """
        context_length = tokenized["context"].row_lengths()  # [B]
        room = self.max_seq_length - 3 - tokenized["question"].row_lengths()  # [B]
        stride = tf.minimum(room, self.doc_stride)
        # ceil((P - room) / stride) more windows once the first is full.
        count = 1 + tf.maximum(context_length - room + stride - 1, 0) // stride
        example = tf.repeat(tf.range(tf.size(count, tf.int64)), count)
        start = tf.ragged.range(count).flat_values * tf.gather(stride, example)
        length = tf.minimum(tf.gather(context_length, example) - start,
                            tf.gather(room, example))
        return {"example": example, "start": start, "length": length}

    def pack(self, tokenized):
        """Windows packed as `[CLS] question [SEP] window [SEP]`: the three features
        [W, S] and, for `postprocess`:

          `window_example` int64 [W]: the window's example (row of the batch);
          `context_piece` int64 [W, S]: the example-batch index of the context piece
              at each position (into `context_starts.flat_values`), -1 elsewhere;
          `is_max_context` bool [W, S]: whether the piece there has its most context
              in this window (google-research/bert's rule; the first such window wins
              a tie);
          `context_starts`, `context_ends`: `tokenize`'s, ragged [B, (pieces)].
        """
        windows = self.windows(tokenized)
        example, start, length = windows["example"], windows["start"], windows["length"]
        context = tokenized["context"]
        # Batch-wide index of every piece of every window: ragged [W, (length)].
        first_piece = tf.gather(context.row_starts(), example) + start
        pieces = tf.ragged.range(first_piece, first_piece + length)
        question = tf.gather(tokenized["question"], example)
        features = self.packer([question, tf.gather(context.flat_values, pieces)])

        # google-research/bert's score of a piece in a window, x100 to stay integer:
        # 100 * min(pieces left of it, pieces right of it) + the window's length.
        position = pieces - tf.expand_dims(first_piece, 1)  # [W, (length)]
        window_length = tf.expand_dims(length, 1)
        score = (100 * tf.minimum(position, window_length - 1 - position)
                 + window_length).flat_values
        window = tf.cast(pieces.value_rowids(), tf.int64)
        num_pieces = tf.size(context.flat_values, tf.int64)
        best = tf.math.unsorted_segment_max(score, pieces.flat_values, num_pieces)
        best_window = tf.math.unsorted_segment_min(
            tf.where(score == tf.gather(best, pieces.flat_values), window,
                     tf.int64.max), pieces.flat_values, num_pieces)
        is_max = tf.equal(tf.gather(best_window, pieces.flat_values), window)

        # Onto sequence positions: the window follows [CLS] question [SEP].
        offset = tf.cast(tf.gather(question.row_lengths(), pieces.value_rowids()), tf.int64) + 2
        sequence_position = offset + position.flat_values
        indices = tf.stack([window, sequence_position], axis=1)
        shape = tf.cast(tf.shape(features["input_word_ids"]), tf.int64)
        features["context_piece"] = tf.tensor_scatter_nd_update(
            tf.fill(shape, tf.constant(-1, tf.int64)), indices, pieces.flat_values)
        features["is_max_context"] = tf.scatter_nd(indices, is_max, shape)
        features["window_example"] = example
        features["context_starts"] = tokenized["context_starts"]
        features["context_ends"] = tokenized["context_ends"]
        return features

    def preprocess(self, raw):
        features = self.pack(self.tokenize(raw))
        features["context"] = raw["context"]  # answers are cut out of it
        return features

    def training_batch(self, tokenized, targets):
        """Window features and their (start, end) sequence positions [W, 2]: the answer's
        first and last piece when the window holds all of it, else [CLS] (0, 0)."""
        features = self.pack(tokenized)
        piece = features["context_piece"]  # [W, S]
        answer = tf.gather(targets, features["window_example"])  # [W, 2] byte span
        starts = tf.gather(features["context_starts"].flat_values, tf.maximum(piece, 0))
        ends = tf.gather(features["context_ends"].flat_values, tf.maximum(piece, 0))
        in_context = piece >= 0
        # The first piece that ends after the answer's start and the last that starts
        # before its end.
        starts_answer = in_context & (ends > answer[:, :1]) & (starts < answer[:, 1:])
        has_answer = tf.reduce_any(starts_answer, axis=1)
        first = tf.argmax(tf.cast(starts_answer, tf.int32), axis=1, output_type=tf.int32)
        last = (tf.shape(piece)[1] - 1 - tf.argmax(tf.reverse(tf.cast(starts_answer, tf.int32),
                                                              [1]), axis=1,
                                                   output_type=tf.int32))
        # The whole answer is in the window if its first and last piece are, i.e. no
        # piece of the context outside the window overlaps the answer either.
        window_start_byte = tf.reduce_min(tf.where(in_context, starts, tf.int32.max), axis=1)
        window_end_byte = tf.reduce_max(tf.where(in_context, ends, -1), axis=1)
        inside = (has_answer & (answer[:, 0] >= 0) & (answer[:, 0] >= window_start_byte)
                  & (answer[:, 1] <= window_end_byte))
        labels = tf.where(tf.expand_dims(inside, 1), tf.stack([first, last], axis=1), 0)
        return model_features(features), labels

    # --- model ---------------------------------------------------------------------------
    def build_model(self, encoder):
        # Spans come from the sequence output only: a frozen pooler gets no (missing)
        # gradients.
        encoder.pooler.trainable = False
        inputs = encoder_inputs()
        sequence_output = encoder(inputs)["sequence_output"]  # [W, S, H]
        logits = keras.layers.Dense(
            2, name="span_logits", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=encoder.bert_config.initializer_range))(sequence_output)  # [W, S, 2]
        logits = keras.layers.Permute((2, 1), name="start_end", dtype="float32")(logits)
        return keras.Model(inputs, logits, name="bert_span_labeler")  # [W, 2, S]

    def compile_args(self, optimizer):
        # Over the last axis for start and end alike, averaged: (start + end loss) / 2.
        return {"optimizer": optimizer,
                "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="position_accuracy")]}

    # --- outputs -------------------------------------------------------------------------
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
            return metrics.squad_metrics(answers, predicted)
        return metrics.squad_metrics(
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

    # --- explanations ----------------------------------------------------------------------
    # The target is the start or the end of the predicted answer: that position's start
    # (end) logit, in the window the answer comes from. Words are the context's, as the
    # tokenizer splits them; the question's pieces are attributed too but not listed.
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
        words = explain_words.tokenizer_words(self.tokenizer, raw["context"])
        piece_word = words["piece_word"]
        # Positions of the context pieces in each example's explained window.
        piece = tf.gather(preprocessed["context_piece"], target["window"])  # [B, S]
        found = tf.where(piece >= 0)  # [N, 2]: (example, position)
        total = tf.size(piece_word.flat_values, tf.int64)
        position = tf.tensor_scatter_nd_update(
            tf.fill([total], explain_words.NO_POSITION),
            tf.gather_nd(piece, found)[:, None], tf.cast(found[:, 1], tf.int32))
        return {**words, "piece_position": piece_word.with_flat_values(position)}


def _answers(label, context, where):
    """A Python answer label (see `QaTask.examples_from`) as QaExample.answers."""
    if label is None or (isinstance(label, (list, tuple)) and not label):
        return ()
    pairs = [label] if isinstance(label[0], str) else list(label)
    answers = []
    for pair in pairs:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not isinstance(pair[0], str) or not isinstance(pair[1], int)):
            raise ValueError(f"{where}: an answer is an (answer text, character start) pair, "
                             f"got {pair!r}")
        text, start = pair
        if context[start:start + len(text)] != text:
            raise ValueError(f"{where}: the context at {start} reads "
                             f"{context[start:start + len(text)]!r}, not the answer {text!r}")
        answers.append((text, start))
    return tuple(answers)


def _substrings(texts, byte_start, byte_end):
    """Substrings of texts [B] between byte offsets [B, K], with their character
    offsets: (text [B, K], char_start, char_end int32 [B, K])."""
    texts = tf.broadcast_to(tf.expand_dims(texts, 1), tf.shape(byte_start))
    length = tf.maximum(byte_end - byte_start, 0)
    text = tf.strings.substr(texts, byte_start, length)
    char_start = tf.strings.length(tf.strings.substr(texts, tf.zeros_like(byte_start), byte_start),
                                   unit="UTF8_CHAR")
    return text, char_start, char_start + tf.strings.length(text, unit="UTF8_CHAR")

