"""BERT WordPiece tokenization inside the TensorFlow graph, id-for-id with Hugging Face.

`BertTokenizer` gives the same ids as `transformers`' slow Python BERT tokenizer
(`BertTokenizerLegacy` in transformers 5, `BertTokenizer` before it) for the same
vocab and casing. It is a `tf.Module` built only from TF / TF Text ops, so it runs in
`tf.function`, `tf.data.Dataset.map` and exported SavedModels.

Two stages, as in HF:

  * `BasicTokenizer` splits raw text into words: it deletes control characters,
    splits on whitespace, makes every punctuation mark and CJK ideograph a word of
    its own, and normalizes each word (NFC; or, when lower-casing, lower case then
    NFD with accents dropped). It splits the ORIGINAL text, so every word keeps its
    byte offsets into the string the caller passed in (for NER and QA).
  * `tensorflow_text.FastWordpieceTokenizer` (C++) splits each word into pieces by
    greedy longest match, with "##" marking a continuation piece.

Known differences from HF's slow tokenizer, none of which real corpora trigger:

  * A literal special-token string in the text ("[SEP]", "[MASK]", ...) is
    tokenized as ordinary text, as google-research/bert does; HF maps it to the
    special id. (Encoding user text as control tokens is rarely what a caller wants.)
  * Lower-casing only: a Greek capital sigma next to a character new in Unicode 14
    (e.g. U+0898 ARABIC SMALL HIGH WORD AL-JUZ) may take the other sigma form, as
    TF's ICU predates Unicode 14 and does not know the neighbour is case-ignorable.
  * Invalid UTF-8 (HF only takes valid `str`): the word holding it becomes [UNK].

Every code point of Unicode, in contexts exercising each rule, has been checked
against HF's BasicTokenizer (tests/test_tokenizer.py, marked slow).
"""
import collections
import functools
import os
import sys
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.python.ops.regex_split_ops import gen_regex_split_ops

# HF's `BasicTokenizer._is_chinese_char`: these code points become words of their own.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
_SUFFIX_INDICATOR = "##"


def _re2_class(code_points):
    """An RE2 character class matching exactly the given sorted code points."""
    code_points = np.asarray(code_points, np.int64)
    breaks = np.flatnonzero(np.diff(code_points) != 1) + 1
    los = code_points[np.concatenate([[0], breaks])]
    his = code_points[np.concatenate([breaks - 1, [len(code_points) - 1]])]
    return "[" + "".join(
        f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in zip(los, his)
    ) + "]"


def _hf_normalize_char(char, lower_case):
    """What HF's word normalization makes of a lone character (NFC, then lower/NFD/strip)."""
    char = unicodedata.normalize("NFC", char)
    if lower_case:
        char = unicodedata.normalize("NFD", char.lower())
        char = "".join(c for c in char if unicodedata.category(c) != "Mn")
    return char


_CodePoints = collections.namedtuple(
    "_CodePoints", "deleted whitespace split_off decomposable lowerable marks")


@functools.lru_cache(maxsize=1)
def _code_points():
    """Code points by their role in HF's `BasicTokenizer`, from Python's `unicodedata`.

    Returns:
      `_CodePoints`: `deleted` (RE2 class) are the characters HF drops: NUL, U+FFFD
      and all of category C* except tab, LF, CR; `whitespace` (RE2 class) separates
      words: Zs and what `str.split()` splits on. Sorted lists of the rest:
      `split_off` become a word of their own (punctuation and CJK ideographs);
      `decomposable` have a canonical decomposition; `lowerable` are changed by
      `str.lower()`; `marks` have a non-zero canonical combining class.
    """
    deleted, whitespace, split_off, decomposable, lowerable, marks = [], [], [], [], [], []
    cjk = {cp for lo, hi in _CJK_RANGES for cp in range(lo, hi + 1)}
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:  # Surrogates cannot occur in valid UTF-8.
            continue
        char = chr(cp)
        category = unicodedata.category(char)
        if category[0] == "C":
            (whitespace if char in "\t\n\r" else deleted).append(cp)
        elif category[0] == "Z":  # Zs turns into " "; Zl and Zp split in `str.split()`.
            whitespace.append(cp)
        elif cp == 0xFFFD:
            deleted.append(cp)
        elif cp in cjk or _is_punctuation(char):
            split_off.append(cp)
        else:
            if not unicodedata.is_normalized("NFD", char):
                decomposable.append(cp)
            if char.lower() != char:
                lowerable.append(cp)
            if unicodedata.combining(char):
                marks.append(cp)
    return _CodePoints(_re2_class(deleted), _re2_class(whitespace), split_off, decomposable,
                       lowerable, marks)


@functools.lru_cache(maxsize=2)
def _char_classes(lower_case):
    """RE2 classes (deleted, whitespace, split_off) for HF's BasicTokenizer rules.

    The classes come from this interpreter's `unicodedata`, the very tables HF
    consults, not from RE2's `\\p{..}` tables, which follow a newer Unicode version:
    a code point unassigned in Python's tables (so deleted by HF as category Cn) may
    be punctuation to RE2, which would split a word HF keeps whole.

    Args:
      lower_case: whether words are lower-cased and stripped of accents.
    """
    points = _code_points()
    # HF splits punctuation off AFTER normalizing, so a character that normalizes to
    # a punctuation mark is split off too: U+1FEF GREEK VARIA becomes "`", and when
    # lower-casing, "≠" becomes "=" once its combining overlay is stripped.
    split_off = sorted(points.split_off + [
        cp for cp in points.decomposable
        if len(normalized := _hf_normalize_char(chr(cp), lower_case)) == 1
        and _is_punctuation(normalized)])
    return points.deleted, points.whitespace, _re2_class(split_off)


@functools.lru_cache(maxsize=1)
def _punctuation_compositions():
    """Same-length rewrites for punctuation that NFC composes into a non-punctuation char.

    HF composes the whole text (NFC) before splitting off punctuation, so "=" with a
    following U+0338 COMBINING LONG SOLIDUS OVERLAY is "≠", a symbol inside its word.
    Deleted characters between the two do not stop it (HF deletes them first), nor do
    combining marks that canonical ordering moves behind the overlay. Each rewrite
    puts the composite in place of "=" and the overlay, keeping what lay between,
    which has the same UTF-8 length, so the byte offsets stay true.

    Returns:
      list of (RE2 pattern, replacement) for `tf.strings.regex_replace`.
    """
    points = _code_points()
    split_off = set(points.split_off)
    rewrites = []
    for cp in points.decomposable:
        composite = chr(cp)
        parts = unicodedata.normalize("NFD", composite)
        if (len(parts) != 2 or ord(parts[0]) not in split_off
                or unicodedata.normalize("NFC", parts) != composite
                or len(composite.encode()) != len(parts.encode())):
            continue
        starter, mark = parts
        # Canonical ordering puts `mark` ahead of a character whose parts all have a
        # higher combining class.
        movable = _re2_class(sorted(
            c for c in set(points.marks + points.decomposable)
            if all(unicodedata.combining(part) > unicodedata.combining(mark)
                   for part in unicodedata.normalize("NFD", chr(c)))))
        rewrites.append(
            (f"\\x{{{ord(starter):X}}}((?:{points.deleted}|{movable})*)\\x{{{ord(mark):X}}}",
             composite + "\\1"))
    return rewrites


@functools.lru_cache(maxsize=1)
def _icu_lowercase_gaps():
    """Letters `str.lower()` lower-cases but TF's ICU leaves alone: {code point: lower}.

    TF's ICU tables predate Unicode 14, whose new capitals (Vithkuqi, some Latin and
    Glagolitic letters) Python 3.11 knows. Only one-to-one mappings occur.
    """
    uppers = [chr(cp) for cp in _code_points().lowerable]
    with tf.init_scope():  # Eager even when a tokenizer is built inside a tf.function.
        icu = tf.strings.lower(tf.constant(uppers), encoding="utf-8").numpy()
    return {ord(c): ord(c.lower()) for c, lowered in zip(uppers, icu)
            if lowered.decode("utf-8") != c.lower() and len(c.lower()) == 1}


def _is_punctuation(char):
    """HF's `_is_punctuation`: non-alphanumeric ASCII or Unicode category P*."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _as_strings(texts, what="texts"):
    """Returns `texts` (a str, list of str, or string tensor) as a tf.string tensor."""
    if isinstance(texts, (str, bytes)):
        texts = tf.constant(texts, tf.string)
    elif isinstance(texts, (list, tuple)):
        bad = [t for t in texts if not isinstance(t, (str, bytes))]
        if bad:
            raise ValueError(f"{what} must be strings, got an element {bad[0]!r} "
                             f"of type {type(bad[0]).__name__}")
        texts = tf.constant(texts, tf.string, shape=[len(texts)])
    elif not isinstance(texts, (tf.Tensor, tf.RaggedTensor)):
        texts = tf.convert_to_tensor(texts)
    if texts.dtype != tf.string:
        raise ValueError(f"{what} must be a tf.string tensor, got dtype {texts.dtype.name}")
    return texts


def _as_batch(texts):
    """Returns (texts as tf.string [B], whether a scalar was given and batched)."""
    texts = _as_strings(texts)
    if texts.shape.rank == 0:
        return texts[tf.newaxis], True
    if texts.shape.rank != 1:
        raise ValueError(f"texts must be a vector [B] or a scalar, got shape {texts.shape}")
    return texts, False


def _masked_row_splits(row_splits, keep):
    """Row splits of a ragged tensor after dropping the flat values where `keep` is False."""
    kept_before = tf.concat([[0], tf.cumsum(tf.cast(keep, row_splits.dtype))], axis=0)
    return tf.gather(kept_before, row_splits)


# The graph-building methods below are `tf.function`s with a fixed signature: traced
# once, so eager calls do not rebuild the (large) regex kernels every time, and inlined
# when called from another tf.function or from tf.data. AutoGraph is off: there is no
# Python control flow on tensors to convert, and converting TF Text's code is slow.
_STRINGS = tf.TensorSpec([None], tf.string)


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
        deleted, whitespace, split_off = _char_classes(self._lower_case)
        self._deleted = deleted
        self._delimiters = f"{whitespace}|{split_off}"
        self._kept_delimiters = split_off
        if self._lower_case:
            gaps = sorted(_icu_lowercase_gaps().items())
            self._gap_pattern = f"(?s).*{_re2_class([u for u, _ in gaps])}.*" if gaps else None
            self._gap_upper = tf.constant([u for u, _ in gaps], tf.int32)
            self._gap_lower = tf.constant([l for _, l in gaps], tf.int32)
            self._compositions = []
        else:
            # Lower-casing strips the overlay of "≠" anyway, so only cased mode needs these.
            self._compositions = _punctuation_compositions()

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
        texts, scalar = _as_batch(texts)
        outputs = self._split_with_offsets(texts)
        return tuple(x[0] for x in outputs) if scalar else outputs

    def split(self, texts):
        """Like `split_with_offsets`, without the offsets: ragged tf.string [B, (words)]."""
        return self.split_with_offsets(texts)[0]

    @tf.function(input_signature=[_STRINGS], autograph=False)
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
        """Lower-cases the letters TF's ICU does not know (see `_icu_lowercase_gaps`).

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


def _read_vocab(path):
    """Tokens of a vocab.txt, one per line, split like HF's `readlines()` does."""
    with tf.io.gfile.GFile(os.fspath(path), "rb") as f:
        text = f.read().decode("utf-8")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _is_bracketed(token):
    return len(token) > 2 and token.startswith("[") and token.endswith("]")


class BertTokenizer(tf.Module):
    """Text to BERT word-piece ids, in the TF graph, matching HF's BertTokenizer.

    Example:
      tok = BertTokenizer.from_vocab_file("vocab.txt")
      ids = tok.tokenize(["Hello, world!"])   # ragged int32 [1, (pieces)]

    Args:
      vocab: list of tokens (id = position) or path of a vocab.txt (one per line).
      lower_case: lower-case and strip accents before WordPiece (uncased vocabs).
      unknown_token: the token for words WordPiece cannot split; must be in `vocab`.
      max_chars_per_word: longer words (in characters, after normalization) become
        the unknown token, as in HF.
      name: module name.
    """

    # Python-side lookups; nothing in them needs tracking or saving.
    _TF_MODULE_IGNORED_PROPERTIES = tf.Module._TF_MODULE_IGNORED_PROPERTIES | {
        "_vocab", "_ids"}

    def __init__(self, vocab, lower_case, unknown_token="[UNK]", max_chars_per_word=100,
                 name=None):
        super().__init__(name=name)
        if isinstance(vocab, (str, os.PathLike)):
            vocab = _read_vocab(vocab)
        self._vocab = tuple(vocab)
        if not self._vocab:
            raise ValueError("vocab is empty")
        ids = {}
        for i, token in enumerate(self._vocab):
            if not token or "\x00" in token:  # FastWordpieceTokenizer cannot hold these.
                raise ValueError(f"vocab token {i} is empty or has a NUL: {token!r}")
            if token in ids:
                raise ValueError(f"vocab has token {token!r} twice, at ids {ids[token]} and {i}")
            ids[token] = i
        self._ids = ids
        if max_chars_per_word < 1:
            raise ValueError(f"max_chars_per_word must be positive, got {max_chars_per_word}")
        self._unknown_token = unknown_token
        self._max_chars_per_word = int(max_chars_per_word)
        self._special_id(unknown_token)  # Fails early if the vocab lacks it.
        self._basic = BasicTokenizer(lower_case)
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=list(self._vocab),
            suffix_indicator=_SUFFIX_INDICATOR,
            # HF's limit counts characters and is applied before this op (see
            # `_word_pieces`); a byte limit of 4 per character never cuts in after it.
            max_bytes_per_word=4 * self._max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=unknown_token,
            no_pretokenization=True)
        self._vocab_strings = tf.constant(self._vocab, tf.string)
        # Bytes of text each piece stands for ("##" excluded), for piece offsets.
        self._piece_byte_lengths = tf.constant(
            [len(token.encode("utf-8")) - (2 if token.startswith(_SUFFIX_INDICATOR) else 0)
             for token in self._vocab], tf.int32)

    @classmethod
    def from_vocab_file(cls, path, lower_case=None, **kwargs):
        """Builds a tokenizer from a vocab.txt.

        Args:
          path: vocab file, one token per line.
          lower_case: None infers it: uncased unless lower-casing changes some token
            other than bracketed specials like [CLS] or [unused0].
          **kwargs: other `BertTokenizer` arguments.
        """
        vocab = _read_vocab(path)
        if lower_case is None:
            # An uncased vocab is unchanged by lower-casing ("ℝ" has no lower case).
            lower_case = all(token == token.lower() for token in vocab
                             if not _is_bracketed(token))
        return cls(vocab, lower_case=lower_case, **kwargs)

    @property
    def vocab(self):
        return list(self._vocab)

    @property
    def vocab_size(self):
        return len(self._vocab)

    @property
    def lower_case(self):
        return self._basic.lower_case

    @property
    def basic_tokenizer(self):
        return self._basic

    @property
    def unk_id(self):
        return self._special_id(self._unknown_token)

    @property
    def cls_id(self):
        return self._special_id("[CLS]")

    @property
    def sep_id(self):
        return self._special_id("[SEP]")

    @property
    def pad_id(self):
        return self._special_id("[PAD]")

    @property
    def mask_id(self):
        return self._special_id("[MASK]")

    def _special_id(self, token):
        if token not in self._ids:
            raise ValueError(f"Special token {token!r} is not in the vocab "
                             f"({len(self._vocab)} tokens)")
        return self._ids[token]

    def token_to_id(self, token):
        """The id of `token`; KeyError naming it if it is not in the vocab."""
        if token not in self._ids:
            raise KeyError(f"Token {token!r} is not in the vocab")
        return self._ids[token]

    def id_to_token(self, token_id):
        """The token with id `token_id`; IndexError if out of range."""
        token_id = int(token_id)
        if not 0 <= token_id < len(self._vocab):
            raise IndexError(f"Token id {token_id} is outside the vocab [0, {len(self._vocab)})")
        return self._vocab[token_id]

    def tokenize(self, texts):
        """Word-piece ids of each text.

        Args:
          texts: tf.string Tensor [B] or list of str (a scalar gives [(pieces)]).

        Returns:
          ragged int32 [B, (pieces)].
        """
        texts, scalar = _as_batch(texts)
        ids = self._tokenize(texts)
        return ids[0] if scalar else ids

    def tokenize_with_offsets(self, texts):
        """Word-piece ids, each with the word it came from and that word's offsets.

        Words are the units `BasicTokenizer` splits off: a run of letters/digits, a
        single punctuation mark, or a single CJK ideograph.

        Args:
          texts: tf.string Tensor [B] or list of str (a scalar drops the batch dim).

        Returns:
          (ids, word_index, starts, ends), each ragged int32 [B, (pieces)]: the piece
          id; the index of its word within the text; that word's start and end BYTE
          offsets in the original text (all pieces of a word share them).
        """
        texts, scalar = _as_batch(texts)
        outputs = self._tokenize_with_offsets(texts)
        return tuple(x[0] for x in outputs) if scalar else outputs

    def tokenize_with_piece_offsets(self, texts):
        """Word-piece ids with the byte span of each piece in the original text.

        A word's pieces split its span by their lengths ("##" dropped) when those add
        up to the word's byte length, i.e. when normalization kept the word's length
        (ASCII lower-casing does; stripping accents does not). Otherwise every piece
        of the word, like an [UNK] piece, spans the whole word. Extractive QA maps
        predicted pieces back to text with these, so an answer may end inside a word
        ("1990" out of "1990s").

        Args:
          texts: tf.string Tensor [B] or list of str (a scalar drops the batch dim).

        Returns:
          (ids, starts, ends), each ragged int32 [B, (pieces)]: the piece id and its
          start and end BYTE offsets in the original text.
        """
        texts, scalar = _as_batch(texts)
        outputs = self._tokenize_with_piece_offsets(texts)
        return tuple(x[0] for x in outputs) if scalar else outputs

    def tokenize_words(self, words):
        """Word-piece ids of already-split words (e.g. CoNLL tokens).

        Each given word goes through the whole pipeline, so it may split further
        ("U.S." gives the pieces of "u", ".", "s", "."); all its pieces stay with it.
        A word that normalizes to nothing (e.g. a lone zero-width space) gets no
        pieces.

        Args:
          words: ragged tf.string [B, (words)], or a list of lists of str.

        Returns:
          ragged int32 [B, (words), (pieces)].
        """
        if isinstance(words, (list, tuple)):
            for row in words:
                if not isinstance(row, (list, tuple)):
                    raise ValueError(f"words must be a list of lists of str, got a row {row!r}")
                _as_strings(row, "words")
            words = tf.ragged.constant(words, dtype=tf.string, ragged_rank=1)
        if not isinstance(words, tf.RaggedTensor) or words.shape.rank != 2:
            raise ValueError("words must be a ragged tf.string tensor [B, (words)]")
        _as_strings(words, "words")
        pieces = self._tokenize_each(words.flat_values)
        return words.with_row_splits_dtype(tf.int64).with_flat_values(pieces)

    def detokenize(self, ids):
        """Joins piece ids back into text, gluing "##" pieces to their word.

        Meant for display (QA answers, debugging); it is not the inverse of
        `tokenize` (case, accents and spacing around punctuation are lost).

        Args:
          ids: int Tensor or ragged [B, (pieces)]; every id is shown, pads included.

        Returns:
          tf.string Tensor [B].
        """
        if isinstance(ids, (list, tuple)):
            ids = tf.ragged.constant(ids, dtype=tf.int32)
        tokens = tf.gather(self._vocab_strings, ids)
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(text, " " + _SUFFIX_INDICATOR, ""))

    def _word_pieces(self, words):
        """Word-piece ids of a 1-D tf.string Tensor of words: ragged int32 [N, (pieces)]."""
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > self._max_chars_per_word
        words = tf.where(too_long, self._unknown_token, words)
        return self._wordpiece.tokenize(words)

    @tf.function(input_signature=[_STRINGS], autograph=False)
    def _tokenize(self, texts):
        words = self._basic.split(texts)
        return words.with_flat_values(self._word_pieces(words.flat_values)).merge_dims(1, 2)

    @tf.function(input_signature=[_STRINGS], autograph=False)
    def _tokenize_with_offsets(self, texts):
        words, starts, ends = self._basic.split_with_offsets(texts)
        pieces = self._word_pieces(words.flat_values)  # [words, (pieces)]
        word_index = words.with_flat_values(tf.cast(  # Of each word, within its text.
            tf.range(tf.size(words.flat_values, out_type=tf.int64))
            - tf.gather(words.row_splits, words.value_rowids()), tf.int32))

        def per_piece(per_word):
            """[B, (words)] values, repeated for each piece: [B, (pieces)]."""
            values = tf.gather(per_word.flat_values, pieces.value_rowids())
            return words.with_flat_values(pieces.with_flat_values(values)).merge_dims(1, 2)

        return (words.with_flat_values(pieces).merge_dims(1, 2), per_piece(word_index),
                per_piece(tf.cast(starts, tf.int32)), per_piece(tf.cast(ends, tf.int32)))

    @tf.function(input_signature=[_STRINGS], autograph=False)
    def _tokenize_with_piece_offsets(self, texts):
        words, starts, ends = self._basic.split_with_offsets(texts)
        pieces = self._word_pieces(words.flat_values)  # [words, (pieces)]
        lengths = tf.gather(self._piece_byte_lengths, pieces.flat_values)  # [pieces]
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

        def per_piece(values):
            return words.with_flat_values(pieces.with_flat_values(values)).merge_dims(1, 2)

        return per_piece(pieces.flat_values), per_piece(piece_start), per_piece(piece_end)

    @tf.function(input_signature=[_STRINGS], autograph=False)
    def _tokenize_each(self, words):
        """Pieces of each given word, through the whole pipeline: [N, (pieces)]."""
        sub_words = self._basic.split(words)  # [N, (sub-words)]
        pieces = self._word_pieces(sub_words.flat_values)
        return sub_words.with_flat_values(pieces).merge_dims(1, 2)
