"""Unicode tables that make `BasicTokenizer` split and normalize exactly like HF's.

HF's slow `BasicTokenizer` decides per character with Python's `unicodedata`
(categories, `str.lower()`, NFC/NFD); TF's regex and ICU ops follow other Unicode
versions. The functions here compute, from this interpreter's `unicodedata`, the RE2
character classes and rewrites that `basic_tokenizer.BasicTokenizer` runs in the graph,
so both sides agree code point for code point. They run once per process (cached).
"""
import collections
import functools
import sys
import unicodedata

import numpy as np
import tensorflow as tf

# HF's `BasicTokenizer._is_chinese_char`: these code points become words of their own.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
# The same ideographs as a character class, for RE2 (TF's regex ops) and for Python's `re`.
CJK_RE2_CLASS = "[" + "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in _CJK_RANGES) + "]"
CJK_PY_CLASS = "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES) + "]"


def re2_class(code_points):
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
    return _CodePoints(re2_class(deleted), re2_class(whitespace), split_off, decomposable,
                       lowerable, marks)


@functools.lru_cache(maxsize=2)
def char_classes(lower_case):
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
    return points.deleted, points.whitespace, re2_class(split_off)


@functools.lru_cache(maxsize=1)
def punctuation_compositions():
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
        movable = re2_class(sorted(
            c for c in set(points.marks + points.decomposable)
            if all(unicodedata.combining(part) > unicodedata.combining(mark)
                   for part in unicodedata.normalize("NFD", chr(c)))))
        rewrites.append(
            (f"\\x{{{ord(starter):X}}}((?:{points.deleted}|{movable})*)\\x{{{ord(mark):X}}}",
             composite + "\\1"))
    return rewrites


@functools.lru_cache(maxsize=1)
def icu_lowercase_gaps():
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
