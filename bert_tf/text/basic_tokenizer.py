"""`BasicTokenizer`: raw text to normalized words with byte offsets, as HF splits them.

The first stage of `tokenizer.BertTokenizer` (see that module for the HF parity it
gives), in its own module so the word splitting can be read apart from WordPiece. It
also holds the input checks (`as_strings`, `as_batch`) and the traced input signature
(`STRINGS`) that both tokenizers use.
"""
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops.regex_split_ops import gen_regex_split_ops

from bert_tf.text.unicode_tables import (char_classes, icu_lowercase_gaps,
                                         punctuation_compositions, re2_class)


def as_strings(texts, what="texts"):
    """Returns `texts` (a str, list of str, or string tensor) as a tf.string tensor."""
    if isinstance(texts, (str, bytes)):
        texts = tf.constant(texts, tf.string)
    elif isinstance(texts, (list, tuple)):
        bad = [t for t in texts if not isinstance(t, (str, bytes))]
        if bad:
            raise ValueError(f"{what} must be strings, got an element {bad[0]!r} "
                             f"of type {type(bad[0]).__name__}")
        texts = tf.constant(texts, tf.string, shape=[len(texts)])
    elif not isinstance(texts, (tf.Tensor, tf.RaggedTensor)):  # e.g. a numpy array
        try:
            converted = tf.convert_to_tensor(texts)
        except (TypeError, ValueError):
            converted = None
        if converted is None or converted.dtype != tf.string:
            raise ValueError(f"{what} must be a str, a list of str or a tf.string tensor, "
                             f"got {repr(texts)[:100]} of type {type(texts).__name__}")
        texts = converted
    if texts.dtype != tf.string:
        raise ValueError(f"{what} must be a tf.string tensor, got dtype {texts.dtype.name}")
    return texts


def as_batch(texts):
    """Returns (texts as tf.string [B], whether a scalar was given and batched)."""
    texts = as_strings(texts)
    if texts.shape.rank == 0:
        return texts[tf.newaxis], True
    if texts.shape.rank != 1:
        raise ValueError(f"texts must be a vector [B] or a scalar, got shape {texts.shape}")
    return texts, False


def _masked_row_splits(row_splits, keep):
    """Row splits of a ragged tensor after dropping the flat values where `keep` is False."""
    kept_before = tf.concat([[0], tf.cumsum(tf.cast(keep, row_splits.dtype))], axis=0)
    return tf.gather(kept_before, row_splits)


# The graph-building methods of both tokenizers (BasicTokenizer below, BertTokenizer)
# are `tf.function`s with this fixed signature: traced once, so eager calls do not
# rebuild the (large) regex kernels every time, and inlined when called from another
# tf.function or from tf.data. AutoGraph is off: there is no Python control flow on
# tensors to convert, and converting TF Text's code is slow.
STRINGS = tf.TensorSpec([None], tf.string)


class BasicTokenizer(tf.Module):
    """Splits text into normalized words the way HF's `BasicTokenizer` does.

    Per character: NUL, U+FFFD and control/format/unassigned characters (category
    C*, except tab, LF and CR) are deleted, joining their neighbours; whitespace
    (tab, LF, CR, Zs, U+2028, U+2029) separates words; every punctuation mark (ASCII
    non-alphanumerics and category P*) and CJK ideograph is a word of its own. Each
    word is then NFC-normalized or, when lower-casing, lower-cased (ICU full
    lower-casing, like Python's `str.lower`) and stripped of accents (NFD, category Mn
    dropped). Words left empty (a lone accent) are dropped.

    Args:
      lower_case: lower-case and strip accents, as uncased BERT vocabs expect.
      name: module name.
    """

    def __init__(self, lower_case, name=None):
        super().__init__(name=name)
        self._lower_case = bool(lower_case)
        deleted, whitespace, split_off = char_classes(self._lower_case)
        self._deleted = deleted
        self._delimiters = f"{whitespace}|{split_off}"
        self._kept_delimiters = split_off
        if self._lower_case:
            gaps = sorted(icu_lowercase_gaps().items())
            self._gap_pattern = f"(?s).*{re2_class([u for u, _ in gaps])}.*" if gaps else None
            self._gap_upper = tf.constant([u for u, _ in gaps], tf.int32)
            self._gap_lower = tf.constant([l for _, l in gaps], tf.int32)
            self._compositions = []
        else:
            # Lower-casing strips the overlay of "≠" anyway, so only cased mode needs these.
            self._compositions = punctuation_compositions()

    @property
    def lower_case(self):
        return self._lower_case

    def split_with_offsets(self, texts):
        """Splits texts into normalized words with their byte offsets.

        Args:
          texts: tf.string Tensor [B] or list of str (a scalar drops the batch dim).

        Returns:
          (words, starts, ends): ragged [B, (words)]; `words` are tf.string, `starts`
          and `ends` int64 byte offsets of each word in the ORIGINAL text, so
          `texts[b][starts[b, i]:ends[b, i]]` is the raw text of word i.
        """
        texts, scalar = as_batch(texts)
        outputs = self._split_with_offsets(texts)
        return tuple(x[0] for x in outputs) if scalar else outputs

    def split(self, texts):
        """Like `split_with_offsets`, without the offsets: ragged tf.string [B, (words)]."""
        return self.split_with_offsets(texts)[0]

    @tf.function(input_signature=[STRINGS], autograph=False)
    def _split_with_offsets(self, texts):
        # regex_split stops at a NUL byte; U+0001 is deleted just the same and, being
        # one byte too, leaves the offsets intact.
        to_split = tf.strings.regex_replace(texts, r"\x00", "\x01")
        for pattern, rewrite in self._compositions:
            to_split = tf.strings.regex_replace(to_split, pattern, rewrite)
        raw, starts, ends, row_splits = self._split(to_split)
        # A raw word made only of deleted characters vanishes; the rest keep order.
        cleaned = tf.strings.regex_replace(raw, self._deleted, "")
        present = tf.not_equal(cleaned, "")
        row_splits = _masked_row_splits(row_splits, present)
        starts = tf.boolean_mask(starts, present)
        ends = tf.boolean_mask(ends, present)
        if self._lower_case:
            # Lower-case whole texts, not single words: Σ becomes final ς or medial σ
            # by its neighbours across punctuation ("ΑΣ.Β" -> "ασ.β"), as with HF's
            # `str.lower()` on whitespace-separated words. Lower-casing keeps every
            # character's class, so re-splitting gives exactly the words kept above.
            lowered = tf.strings.lower(
                tf.strings.regex_replace(texts, self._deleted, ""), encoding="utf-8")
            words, _, _, lowered_row_splits = self._split(lowered)
            tf.debugging.assert_equal(
                lowered_row_splits, row_splits,
                message="BasicTokenizer: lower-casing changed the word split")
            # NFC before lower-casing would be undone by this NFD, so it is skipped.
            words = tf_text.normalize_utf8(self._lower_icu_gaps(words), "NFD")
            words = tf.strings.regex_replace(words, r"\p{Mn}", "")
        else:
            words = tf_text.normalize_utf8(tf.boolean_mask(cleaned, present), "NFC")
        nonempty = tf.not_equal(words, "")
        row_splits = _masked_row_splits(row_splits, nonempty)
        return tuple(
            tf.RaggedTensor.from_row_splits(tf.boolean_mask(values, nonempty), row_splits,
                                            validate=False)
            for values in (words, starts, ends))

    def _split(self, texts):
        """Splits texts [B] at whitespace, keeping split-off characters as words.

        This is `tensorflow_text.regex_split_with_offsets` without its ragged
        wrapping, whose validation puts two dozen asserts into every traced graph.

        Returns:
          (words, starts, ends, row_splits): flat words with their byte offsets, and
          the row splits that group them by text.
        """
        return gen_regex_split_ops.regex_split_with_offsets(
            texts, f"({self._delimiters})", f"({self._kept_delimiters})")

    def _lower_icu_gaps(self, words):
        """Lower-cases the letters TF's ICU does not know (see `unicode_tables.icu_lowercase_gaps`).

        Args:
          words: 1-D tf.string Tensor, already lower-cased by ICU.
        """
        if self._gap_pattern is None:
            return words
        needs_fix = tf.strings.regex_full_match(words, self._gap_pattern)

        def fix():
            where = tf.where(needs_fix)
            chars = tf.strings.unicode_decode(tf.gather_nd(words, where), "UTF-8")
            flat = chars.flat_values
            at = tf.minimum(tf.searchsorted(self._gap_upper, flat),
                            tf.size(self._gap_upper) - 1)
            flat = tf.where(tf.gather(self._gap_upper, at) == flat,
                            tf.gather(self._gap_lower, at), flat)
            fixed = tf.strings.unicode_encode(chars.with_flat_values(flat), "UTF-8")
            return tf.tensor_scatter_nd_update(words, where, fixed)

        return tf.cond(tf.reduce_any(needs_fix), fix, lambda: words)

