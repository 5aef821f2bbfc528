"""Word pieces to words: summing piece scores per word, character offsets of words.

All graph functions: the library's `explain` and the served `explain` signature share
them. A task says which piece sits at which sequence position and belongs to which word
(`ExplainTarget.explain_words`, bert_tf/tasks/explain_target.py); these turn position
scores [B, S] into word scores.
"""
import tensorflow as tf

from bert_tf.text.words import NO_POSITION


def word_scores(position_scores, piece_position, piece_word, num_words):
    """Sums each word's piece scores.

    Args:
        position_scores: float [B, S].
        piece_position: ragged int32 [B, (pieces)], NO_POSITION for cut pieces.
        piece_word: ragged int32 [B, (pieces)], the piece's word index in its example.
        num_words: int [B].
    Returns:
        ragged float32 [B, (words)].
    """
    rows = tf.cast(piece_position.value_rowids(), tf.int32)
    position = piece_position.flat_values
    score = tf.gather_nd(position_scores,
                         tf.stack([rows, tf.maximum(position, 0)], axis=1))
    score = tf.where(position == NO_POSITION, tf.zeros_like(score), score)
    num_words = tf.cast(num_words, tf.int64)
    word_starts = tf.cumsum(num_words, exclusive=True)  # [B]
    segment = tf.gather(word_starts, rows) + tf.cast(piece_word.flat_values, tf.int64)
    total = tf.reduce_sum(num_words)
    return tf.RaggedTensor.from_row_lengths(
        tf.math.unsorted_segment_sum(score, segment, total), num_words)


def char_offsets(texts, byte_offsets):
    """Byte offsets into `texts` [B] (ragged int [B, (n)]) as character (Unicode code
    point) offsets, ragged int32 [B, (n)]."""
    rows = byte_offsets.value_rowids()
    text = tf.gather(texts, rows)
    prefix = tf.strings.substr(text, tf.zeros_like(byte_offsets.flat_values),
                               byte_offsets.flat_values)
    return byte_offsets.with_flat_values(
        tf.cast(tf.strings.length(prefix, unit="UTF8_CHAR"), tf.int32))
