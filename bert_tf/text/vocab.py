"""Learning a WordPiece vocab from raw text, and reading and writing vocab.txt files.

Words are counted with `BasicTokenizer`, the same splitting and normalization that
`BertTokenizer` applies before WordPiece, so the learned pieces fit what the
tokenizer will look up. The WordPiece learner itself is TF Text's
`wordpiece_tokenizer_learner_lib` (the one behind `bert_vocab_from_dataset`).
"""
import collections
import itertools
import os
import uuid

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from bert_tf.text.basic_tokenizer import BasicTokenizer

RESERVED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class WordCounter:
    """Counts normalized words over batches of texts.

    Args:
      lower_case: lower-case and strip accents, as the tokenizer will.
    """

    def __init__(self, lower_case):
        self._basic = BasicTokenizer(lower_case)
        self.counts = collections.Counter()
        self.num_texts = 0

    def update(self, texts):
        """Adds the words of `texts` (a list of str) to `counts`."""
        if not texts:
            return
        words = self._basic.split(list(texts)).flat_values.numpy()
        self.counts.update(w.decode("utf-8") for w in words)
        self.num_texts += len(texts)


def learn_vocab(texts, vocab_size, lower_case, reserved_tokens=RESERVED_TOKENS,
                max_token_length=50, max_unique_chars=1000, batch_size=1024):
    """Learns a WordPiece vocab from texts.

    Args:
      texts: iterable of str (read once, in batches).
      vocab_size: upper bound on the vocab size, reserved tokens included; the
        learner aims within 5% below it.
      lower_case: lower-case and strip accents before counting (uncased vocab).
      reserved_tokens: tokens put first, in order, so "[PAD]" gets id 0.
      max_token_length: longer words are not counted.
      max_unique_chars: size of the alphabet kept; words with rarer characters
        are not counted (they will tokenize to the unknown token).
      batch_size: texts tokenized per step.

    Returns:
      list of str, the vocab (id = position).
    """
    counter = WordCounter(lower_case)
    texts = iter(texts)
    while batch := list(itertools.islice(texts, batch_size)):
        counter.update(batch)
    return vocab_from_counts(counter.counts, vocab_size, reserved_tokens,
                             max_token_length=max_token_length,
                             max_unique_chars=max_unique_chars)


def vocab_from_counts(word_counts, vocab_size, reserved_tokens=RESERVED_TOKENS,
                      max_token_length=50, max_unique_chars=1000):
    """Learns a WordPiece vocab from {word: count} (see `learn_vocab` for args)."""
    if not word_counts:
        raise ValueError("No words to learn a vocab from: the input texts are empty")
    reserved_tokens = list(reserved_tokens)
    if len(set(reserved_tokens)) != len(reserved_tokens):
        raise ValueError(f"reserved_tokens has duplicates: {reserved_tokens}")
    if vocab_size <= len(reserved_tokens):
        raise ValueError(f"vocab_size {vocab_size} leaves no room beside "
                         f"{len(reserved_tokens)} reserved tokens")
    # The learner's search threshold starts at 10 occurrences by default, which is
    # too high for small corpora; 1 lets the binary search reach any size.
    vocab = learner.learn(
        word_counts, vocab_size=vocab_size, reserved_tokens=reserved_tokens,
        lower_thresh=1, max_token_length=max_token_length,
        max_unique_chars=max_unique_chars)
    if len(vocab) > vocab_size:
        # Every character of the alphabet is kept, alone and as a "##" piece.
        raise ValueError(f"The learned vocab has {len(vocab)} tokens, over vocab_size "
                         f"{vocab_size}: raise vocab_size or lower max_unique_chars "
                         f"({max_unique_chars})")
    return vocab


def unknown_word_rate(word_counts, max_unique_chars):
    """The share of word occurrences the learned vocab will turn into [UNK] because they
    hold a character outside the alphabet: the learner keeps the `max_unique_chars`
    most frequent characters. Scripts with thousands of characters (Chinese: every
    character is a word) need a larger alphabet than an alphabetic script.

    Args:
      word_counts: {word: count}.
      max_unique_chars: int, the learner's alphabet size.
    Returns:
      float in [0, 1].
    """
    char_counts = collections.Counter()
    for word, count in word_counts.items():
        for char in word:
            char_counts[char] += count
    alphabet = {char for char, _ in char_counts.most_common(max_unique_chars)}
    total = sum(word_counts.values())
    unknown = sum(count for word, count in word_counts.items()
                  if not set(word) <= alphabet)
    return unknown / total if total else 0.0


def text_files(patterns):
    """Expands file names and globs; each must match at least one non-empty file.

    Args:
      patterns: list of paths or globs (local or any `tf.io.gfile` filesystem).

    Returns:
      list of matching file paths, in pattern order, sorted within each pattern.
    """
    files = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise ValueError(f"{pattern!r} matches no file")
        for path in matched:
            if tf.io.gfile.isdir(path):
                raise ValueError(f"{path!r} is a directory, not a text file")
            if tf.io.gfile.stat(path).length == 0:
                raise ValueError(f"{path!r} is empty")
        files.extend(matched)
    return files


def write_vocab(tokens, path):
    """Writes one token per line, atomically (temp file, then rename).

    Args:
      tokens: list of str; none may contain a line break.
      path: destination vocab.txt.
    """
    bad = [t for t in tokens if not t or "\n" in t or "\r" in t]
    if bad:
        raise ValueError(f"vocab tokens must be non-empty single lines, got {bad[0]!r}")
    path = os.fspath(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write("".join(t + "\n" for t in tokens))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def read_vocab(path):
    """Tokens of a vocab.txt, one per line, split like HF's `readlines()` does."""
    with tf.io.gfile.GFile(os.fspath(path), "rb") as f:
        text = f.read().decode("utf-8")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def vocab_is_uncased(vocab):
    """Whether lower-casing leaves every token but bracketed specials ([CLS], [unused0])
    unchanged, as it does an uncased vocab's ("ℝ" has no lower case)."""
    return all(token == token.lower() for token in vocab
               if not (len(token) > 2 and token.startswith("[") and token.endswith("]")))
