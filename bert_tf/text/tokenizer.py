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

The pieces' offsets into the text are computed in `offsets.py`; vocab.txt files are read
by `vocab.read_vocab`.
"""
import os

import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.text import offsets
from bert_tf.text.basic_tokenizer import STRINGS, BasicTokenizer, as_batch, as_strings
from bert_tf.text.vocab import read_vocab, vocab_is_uncased


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
            vocab = read_vocab(vocab)
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
            suffix_indicator=offsets.SUFFIX_INDICATOR,
            # HF's limit counts characters and is applied before this op (see
            # `_word_pieces`); a byte limit of 4 per character never cuts in after it.
            max_bytes_per_word=4 * self._max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=unknown_token,
            no_pretokenization=True)
        self._vocab_strings = tf.constant(self._vocab, tf.string)
        self._piece_byte_lengths = offsets.piece_byte_lengths(self._vocab)

    @classmethod
    def from_vocab_file(cls, path, lower_case=None, **kwargs):
        """Builds a tokenizer from a vocab.txt.

        Args:
          path: vocab file, one token per line.
          lower_case: None infers it: uncased unless lower-casing changes some token
            other than bracketed specials like [CLS] or [unused0].
          **kwargs: other `BertTokenizer` arguments.
        """
        vocab = read_vocab(path)
        if lower_case is None:
            lower_case = vocab_is_uncased(vocab)
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
        texts, scalar = as_batch(texts)
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
        texts, scalar = as_batch(texts)
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
        texts, scalar = as_batch(texts)
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
                as_strings(row, "words")
            words = tf.ragged.constant(words, dtype=tf.string, ragged_rank=1)
        if not isinstance(words, tf.RaggedTensor) or words.shape.rank != 2:
            raise ValueError("words must be a ragged tf.string tensor [B, (words)]")
        as_strings(words, "words")
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
        return tf.strings.strip(tf.strings.regex_replace(text, " " + offsets.SUFFIX_INDICATOR, ""))

    def _word_pieces(self, words):
        """Word-piece ids of a 1-D tf.string Tensor of words: ragged int32 [N, (pieces)]."""
        too_long = tf.strings.length(words, unit="UTF8_CHAR") > self._max_chars_per_word
        words = tf.where(too_long, self._unknown_token, words)
        return self._wordpiece.tokenize(words)

    @tf.function(input_signature=[STRINGS], autograph=False)
    def _tokenize(self, texts):
        words = self._basic.split(texts)
        return words.with_flat_values(self._word_pieces(words.flat_values)).merge_dims(1, 2)

    @tf.function(input_signature=[STRINGS], autograph=False)
    def _tokenize_with_offsets(self, texts):
        words, starts, ends = self._basic.split_with_offsets(texts)
        return offsets.word_offsets(words, self._word_pieces(words.flat_values), starts, ends)

    @tf.function(input_signature=[STRINGS], autograph=False)
    def _tokenize_with_piece_offsets(self, texts):
        words, starts, ends = self._basic.split_with_offsets(texts)
        return offsets.piece_offsets(words, self._word_pieces(words.flat_values), starts, ends,
                                     self._piece_byte_lengths)

    @tf.function(input_signature=[STRINGS], autograph=False)
    def _tokenize_each(self, words):
        """Pieces of each given word, through the whole pipeline: [N, (pieces)]."""
        sub_words = self._basic.split(words)  # [N, (sub-words)]
        pieces = self._word_pieces(sub_words.flat_values)
        return sub_words.with_flat_values(pieces).merge_dims(1, 2)
