"""Word pieces to words: summing piece scores per word, character offsets of words.

All graph functions: the library's `explain` and the served `explain` signature share
them. A task says which piece sits at which sequence position and belongs to which word
(`Task.explain_words`); these turn position scores [B, S] into word scores.
"""
import tensorflow as tf

NO_POSITION = -1  # a piece cut off by truncation


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


def tokenizer_words(tokenizer, texts):
    """The words of `texts` [B] as the tokenizer splits them (its basic tokenizer), as
    `explain_words` hooks return them: {"text", "word_start", "word_end" (ragged byte
    offsets [B, (words)]), "piece_word" (ragged [B, (pieces)]: each piece's word)}; the
    task adds each piece's "piece_position"."""
    _, starts, ends = tokenizer.basic_tokenizer.split_with_offsets(texts)
    _, piece_word, _, _ = tokenizer.tokenize_with_offsets(texts)
    return {"text": texts, "word_start": starts, "word_end": ends, "piece_word": piece_word}
