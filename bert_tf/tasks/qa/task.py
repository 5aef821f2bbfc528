"""Extractive question answering on SQuAD v1.1 / v2.0 JSON.

Data: SQuAD JSON (`bert_tf/data/squad.py`), one example per question; v2.0 questions
without an answer need `version_2_with_negative=True`.

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

Answers: outputs.py; served outputs: serving.py; explanations: explain.py; scoring:
scoring.py.
"""
import dataclasses

import keras
import tensorflow as tf

from bert_tf.common.fields import config_field
from bert_tf.data.squad import QaExample, read_squad
from bert_tf.model.encoder import encoder_inputs
from bert_tf.tasks.base import Task, TaskConfig, model_features
from bert_tf.tasks.qa.explain import QaExplainTarget
from bert_tf.tasks.qa.outputs import NO_ANSWER, QaOutputs
from bert_tf.tasks.qa.serving import QaServing
from bert_tf.tasks.registry import register_task


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
class QaTask(QaExplainTarget, QaServing, QaOutputs, Task):
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
    def default_monitor(self):
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
