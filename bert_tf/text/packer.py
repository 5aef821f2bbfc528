"""Packs one or two tokenized segments into BERT's fixed-shape model inputs."""
import tensorflow as tf
import tensorflow_text as tf_text


class SegmentPacker(tf.Module):
    """Builds `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated and padded.

    Truncation matches HF's `truncation="longest_first"` (slow tokenizer): tokens are
    dropped from the end of the longer segment, from the second one on a tie, so the
    first segment keeps ceil(budget / 2) when both are long. That is what
    `tensorflow_text.RoundRobinTrimmer` allocates: one token to each segment in turn,
    the first segment first, until the budget is spent.

    Example:
      packer = SegmentPacker(128, cls_id=tok.cls_id, sep_id=tok.sep_id, pad_id=tok.pad_id)
      features = packer([tok.tokenize(questions), tok.tokenize(contexts)])

    Args:
      max_seq_length: length of the packed sequence S, special tokens included.
      cls_id: id of [CLS], put first.
      sep_id: id of [SEP], put after each segment.
      pad_id: id that fills `input_word_ids` after the last [SEP].
      pad_to_max_length: pad every batch to `max_seq_length`; if False, pad only to the
        batch's longest packed row (for length bucketing).
      name: module name.
    """

    def __init__(self, max_seq_length, cls_id, sep_id, pad_id=0, pad_to_max_length=True,
                 name=None):
        super().__init__(name=name)
        if max_seq_length < 3:
            raise ValueError(f"max_seq_length must be at least 3 ([CLS] a [SEP]), got "
                             f"{max_seq_length}")
        self._max_seq_length = int(max_seq_length)
        self._cls_id = int(cls_id)
        self._sep_id = int(sep_id)
        self._pad_id = int(pad_id)
        self._pad_to_max_length = bool(pad_to_max_length)

    @property
    def max_seq_length(self):
        return self._max_seq_length

    @tf.autograph.experimental.do_not_convert
    def __call__(self, segments):
        """Packs segments.

        Args:
          segments: list of 1 or 2 ragged int tensors, each [B, (tokens)] or
            [B, (words), (pieces)] (words are merged), with the same B.

        Returns:
          dict of int32 Tensors [B, S]: `input_word_ids` (ids, then pad_id),
          `input_mask` (1 on [CLS], tokens and [SEP]s, else 0) and `input_type_ids`
          (0 for [CLS], the first segment and its [SEP]; 1 for the second segment and
          the last [SEP]; 0 on padding). S is `max_seq_length`, or with
          `pad_to_max_length=False` the longest packed row of the batch.
        """
        if not isinstance(segments, (list, tuple)):
            raise ValueError(f"segments must be a list of 1 or 2 ragged tensors, "
                             f"got a {type(segments).__name__}")
        if not 1 <= len(segments) <= 2:
            raise ValueError(f"BERT packs 1 or 2 segments, got {len(segments)}")
        num_special = len(segments) + 1  # [CLS] and one [SEP] per segment.
        if self._max_seq_length < num_special + 1:
            raise ValueError(f"max_seq_length {self._max_seq_length} leaves no room for "
                             "tokens of "
                             f"{len(segments)} segments ({num_special} special tokens)")
        segments = [self._as_ragged_2d(s) for s in segments]
        trimmer = tf_text.RoundRobinTrimmer(max_seq_length=self._max_seq_length - num_special)
        segments = trimmer.trim(segments)
        cls, sep = (tf.RaggedTensor.from_tensor(tf.fill([segments[0].nrows(), 1], token_id),
                                                row_splits_dtype=tf.int64)
                    for token_id in (self._cls_id, self._sep_id))
        pieces = [cls, segments[0], sep] + ([segments[1], sep] if len(segments) == 2 else [])
        word_ids = _concat_rows(pieces)
        if self._pad_to_max_length:
            length = self._max_seq_length
        else:
            length = word_ids.bounding_shape(axis=1, out_type=tf.int32)
        word_ids, mask = tf_text.pad_model_inputs(word_ids, length, pad_value=self._pad_id)
        # Type 1 from the second segment on (past `[CLS] a [SEP]`), 0 on padding.
        first_length = tf.cast(segments[0].row_lengths(), tf.int32)[:, None] + 2
        type_ids = mask * tf.cast(tf.range(length)[None, :] >= first_length, tf.int32)
        return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}

    @staticmethod
    def _as_ragged_2d(segment):
        if not isinstance(segment, tf.RaggedTensor):
            raise ValueError(
                f"each segment must be a tf.RaggedTensor, got {type(segment).__name__}")
        if not segment.dtype.is_integer:
            raise ValueError(f"segments must hold integer ids, got dtype {segment.dtype.name}")
        if segment.shape.rank == 3:
            segment = segment.merge_dims(1, 2)
        elif segment.shape.rank != 2:
            raise ValueError(f"segments must be [B, (tokens)] or [B, (words), (pieces)], "
                             f"got shape {segment.shape}")
        return tf.cast(segment, tf.int32).with_row_splits_dtype(tf.int64)


def _concat_rows(pieces):
    """`tf.concat(pieces, axis=1)` of ragged [B, (n)] tensors (one row-splits dtype),
    without an integer Transpose.

    TF's ragged concat along axis 1 (and so `tensorflow_text.combine_segments`) orders
    the rows by transposing an integer index matrix. With TF's oneDNN kernels on (as
    bert_tf runs TF: bert_tf/__init__.py), the oneDNN graph rewrite turns down every
    Transpose that is not floating point, on every CPU, and logs it once as an error:
    "oneDNN supports DT_INT64 only on platforms with AVX-512" (DT_INT32 for int32
    splits). Here the same row order comes from a broadcast sum instead.
    """
    rows = pieces[0].nrows()
    stacked = tf.concat(pieces, axis=0)  # all rows of pieces[0], then of pieces[1], ...
    piece_offsets = rows * tf.range(len(pieces), dtype=rows.dtype)
    order = tf.reshape(tf.range(rows)[:, None] + piece_offsets[None, :], [-1])
    interleaved = tf.gather(stacked, order)  # row r's pieces one after another
    return tf.RaggedTensor.from_row_splits(interleaved.values,
                                           interleaved.row_splits[::len(pieces)],
                                           validate=False)


def packed_lengths(features):
    """int32 [B]: each packed row's length, [CLS] and [SEP]s included (its input_mask
    count), from `SegmentPacker`'s features."""
    return tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=1)
