"""Where each word piece came from in the original text, in the TF graph: the byte span
a piece stands for ("##" excluded), and the mapping of per-word values (word index, word
offsets) onto the pieces of each word. `BertTokenizer.tokenize_with_offsets` and
`tokenize_with_piece_offsets` are built from these.
"""
import tensorflow as tf

SUFFIX_INDICATOR = "##"


def piece_byte_lengths(vocab):
    """int32 [vocab]: the bytes of text each token stands for ("##" excluded)."""
    return tf.constant(
        [len(token.encode("utf-8")) - (len(SUFFIX_INDICATOR)
                                       if token.startswith(SUFFIX_INDICATOR) else 0)
         for token in vocab], tf.int32)


def per_piece(words, pieces, values):
    """[B, (pieces)] of `values` [pieces], regrouped by text.

    Args:
      words: ragged [B, (words)], the words the pieces came from.
      pieces: ragged [words, (pieces)], the pieces of each word.
      values: [total pieces], one value per piece.
    """
    return words.with_flat_values(pieces.with_flat_values(values)).merge_dims(1, 2)


def word_offsets(words, pieces, starts, ends):
    """(ids, word_index, starts, ends), each ragged int32 [B, (pieces)]: each piece, the
    index of its word within its text, and that word's byte offsets.

    Args:
      words: ragged [B, (words)] of `BasicTokenizer.split_with_offsets`.
      pieces: ragged int32 [words, (pieces)], the word-piece ids of each word.
      starts, ends: ragged int [B, (words)], the words' byte offsets.
    """
    word_index = tf.cast(  # Of each word, within its text.
        tf.range(tf.size(words.flat_values, out_type=tf.int64))
        - tf.gather(words.row_splits, words.value_rowids()), tf.int32)

    def repeated(per_word):  # [words] values, repeated for each piece of the word.
        return per_piece(words, pieces, tf.gather(per_word, pieces.value_rowids()))

    return (per_piece(words, pieces, pieces.flat_values), repeated(word_index),
            repeated(tf.cast(starts.flat_values, tf.int32)),
            repeated(tf.cast(ends.flat_values, tf.int32)))


def piece_offsets(words, pieces, starts, ends, byte_lengths):
    """(ids, starts, ends), each ragged int32 [B, (pieces)]: each piece and its own byte
    span, splitting its word's span by the pieces' lengths when those add up to the
    word's length (else every piece spans the whole word).

    Args:
      words, pieces, starts, ends: as for `word_offsets`.
      byte_lengths: int32 [vocab] of `piece_byte_lengths`.
    """
    lengths = tf.gather(byte_lengths, pieces.flat_values)  # [pieces]
    piece_word = pieces.value_rowids()
    # Offset of each piece within its word: an exclusive cumsum restarted per word
    # (the appended total keeps row_starts of piece-less words in range).
    before = tf.concat([tf.cumsum(lengths, exclusive=True), [tf.reduce_sum(lengths)]], 0)
    within = before[:-1] - tf.gather(tf.gather(before, pieces.row_starts()), piece_word)
    word_start = tf.cast(starts.flat_values, tf.int32)  # [words]
    word_end = tf.cast(ends.flat_values, tf.int32)
    word_pieces_length = tf.math.unsorted_segment_sum(lengths, piece_word,
                                                      tf.size(word_start))
    exact = tf.gather(tf.equal(word_pieces_length, word_end - word_start), piece_word)
    start = tf.gather(word_start, piece_word)  # [pieces]
    piece_start = tf.where(exact, start + within, start)
    piece_end = tf.where(exact, piece_start + lengths, tf.gather(word_end, piece_word))
    return (per_piece(words, pieces, pieces.flat_values),
            per_piece(words, pieces, piece_start), per_piece(words, pieces, piece_end))
