"""ExplainTarget: what a task that can explain its predictions adds to the `Task`
contract, so that `bert_tf.explain` (TaskModel.explain, bert-explain) and the exported
`explain` signature work for it without knowing the task. A task class lists it among its
bases (`class MyTask(MyExplainTarget, Task)`, the hooks in `tasks/<name>/explain.py`);
a task without it cannot explain, and says so.

A target is a dict of int32 [B] tensors named by the task (`explain_target_spec`), -1
meaning "the model's prediction"; the attribution explains one float score per example
(`target_score`), e.g. the logit of the target class. The helpers below give the words
and pieces of a text in the form `explain_words` returns.
"""
import abc

import tensorflow as tf

from bert_tf.text.words import NO_POSITION


class ExplainTarget(abc.ABC):
    """The explanation hooks of a task (mixed into its `Task` subclass). A task that lists
    this class but lacks a hook cannot be built: the error names the missing hook."""

    @abc.abstractmethod
    def explain_target_spec(self):
        """{name: tf.TensorSpec([None], tf.int32)}: the target's parts."""

    @abc.abstractmethod
    def explain_target_ranges(self):
        """{name: (low, high)}: the values each target part may take, low <= v < high
        (the served `explain` signature flags rows outside them)."""

    @abc.abstractmethod
    def parse_target(self, target, example, index):
        """Python: a user's target for one example (None: the prediction) to {name: int}
        (-1: predicted); ValueError naming the input and the problem."""

    @abc.abstractmethod
    def resolve_target(self, logits, preprocessed, target):
        """Graph: the target with each -1 replaced by the model's prediction."""

    @abc.abstractmethod
    def target_score(self, logits, target, rows):
        """Graph: logits of R rows, `target` [B] per example, `rows` int32 [R] (each row's
        example) to the float [R] score the attributions explain."""

    @abc.abstractmethod
    def describe_target(self, target, words):
        """Python: {name: int} resolved target and the example's words to a short text."""

    def explain_rows(self, preprocessed, target):
        """Graph: int32 [B], the packed row explained for each example (its only row,
        by default; QA: the window holding the answer)."""
        return tf.range(tf.shape(preprocessed["input_word_ids"])[0])

    explain_text_input = "text"  # the raw input whose words are scored

    @abc.abstractmethod
    def explain_words(self, raw, preprocessed, target):
        """Graph: which word each sequence position of the explained rows belongs to.
        Returns {"text": string [B], the text the words are cut from (the raw input
        `explain_text_input`); "word_start", "word_end": ragged int [B, (words)] byte
        offsets in it; "piece_position", "piece_word": ragged int32 [B, (pieces)], each
        piece's sequence position (-1 when truncated away) and word}."""



def piece_positions(pieces, first_position, kept):
    """Sequence positions of a segment's pieces.

    Args:
        pieces: ragged [B, (pieces)] (only its row lengths are used).
        first_position: int32 [B], position of the segment's first piece.
        kept: int32 [B], how many of its pieces the packer kept.
    Returns:
        ragged int32 [B, (pieces)]: the position, or NO_POSITION for a cut piece.
    """
    index = tf.cast(tf.ragged.range(pieces.row_lengths()), tf.int32)  # [B, (pieces)]
    flat_rows = tf.cast(index.value_rowids(), tf.int32)
    flat = index.flat_values
    position = tf.where(flat < tf.gather(kept, flat_rows), flat + tf.gather(first_position,
                                                                            flat_rows),
                        NO_POSITION)
    return index.with_flat_values(position)


def tokenizer_words(tokenizer, texts):
    """The words of `texts` [B] as the tokenizer splits them (its basic tokenizer), as
    `explain_words` hooks return them: {"text", "word_start", "word_end" (ragged byte
    offsets [B, (words)]), "piece_word" (ragged [B, (pieces)]: each piece's word)}; the
    task adds each piece's "piece_position"."""
    _, starts, ends = tokenizer.basic_tokenizer.split_with_offsets(texts)
    _, piece_word, _, _ = tokenizer.tokenize_with_offsets(texts)
    return {"text": texts, "word_start": starts, "word_end": ends, "piece_word": piece_word}
