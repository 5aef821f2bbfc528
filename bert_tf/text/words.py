"""Words of a text as bert_tf cuts them for word-level tasks (NER tags, explanation
scores): the whitespace-separated tokens, except that every CJK ideograph is a word of its
own (as BERT's tokenizer makes it), so Chinese or Japanese text needs no spaces. One
definition, in Python and in the graph, shared by training files, raw text at serving and
explanations.

    split_words("Angela Merkel 访问巴黎")   # ['Angela', 'Merkel', '访', '问', '巴', '黎']
"""
import re

import tensorflow_text as tf_text

from bert_tf.text.unicode_tables import CJK_PY_CLASS, CJK_RE2_CLASS

NO_POSITION = -1  # the sequence position of a word or piece that has none (truncated away)
# A word: a run of non-space characters, or one CJK ideograph. Spaces are ASCII
# whitespace; the same classes for TF's RE2 (`split_words_with_offsets`) and Python's re.
_SPACE = r"[ \t\n\v\f\r]"
_PY_WORD = re.compile(rf"{CJK_PY_CLASS}|[^ \t\n\v\f\r{CJK_PY_CLASS[1:-1]}]+")


def split_words(text):
    """The NER words of a str: whitespace-separated tokens, each CJK ideograph apart."""
    return _PY_WORD.findall(text)


def split_words_spans(text):
    """`split_words` as (start, end) character offsets into `text`."""
    return [match.span() for match in _PY_WORD.finditer(text)]


def split_words_with_offsets(texts):
    """`split_words` in the graph: texts [B] to (words, starts, ends), ragged [B, (words)],
    byte offsets."""
    return tf_text.regex_split_with_offsets(texts, rf"{_SPACE}+|{CJK_RE2_CLASS}",
                                            CJK_RE2_CLASS)
