"""SegmentPacker: BERT layouts, HF-equal longest-first truncation, padding, errors."""
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import corpora
from bert_tf.text import SegmentPacker

bert_legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")

CLS, SEP, PAD = 101, 102, 0


@pytest.fixture(scope="module")
def hf(vocab_path):
    return bert_legacy.BertTokenizerLegacy(vocab_path, do_lower_case=True)


@pytest.fixture(scope="module")
def words(tokenizer):
    """40 distinct words that are one piece each, so lengths are easy to dial."""
    candidates = [t for t in tokenizer.vocab[2000:3000] if t.isascii() and t.isalpha()]
    return candidates[:40]


def _ragged(rows):
    return tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1)


def _assert_equal_to_hf(ours, theirs):
    np.testing.assert_array_equal(ours["input_word_ids"], theirs["input_ids"])
    np.testing.assert_array_equal(ours["input_type_ids"], theirs["token_type_ids"])
    np.testing.assert_array_equal(ours["input_mask"], theirs["attention_mask"])


def test_layouts():
    packer = SegmentPacker(8, CLS, SEP, PAD)
    one = packer([_ragged([[5, 6], [7]])])
    np.testing.assert_array_equal(one["input_word_ids"], [[CLS, 5, 6, SEP, 0, 0, 0, 0],
                                                         [CLS, 7, SEP, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(one["input_mask"], [[1, 1, 1, 1, 0, 0, 0, 0],
                                                     [1, 1, 1, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(one["input_type_ids"], np.zeros([2, 8]))
    two = packer([_ragged([[5, 6], [7]]), _ragged([[8], [9, 10, 11]])])
    np.testing.assert_array_equal(two["input_word_ids"], [[CLS, 5, 6, SEP, 8, SEP, 0, 0],
                                                         [CLS, 7, SEP, 9, 10, 11, SEP, 0]])
    np.testing.assert_array_equal(two["input_type_ids"], [[0, 0, 0, 0, 1, 1, 0, 0],
                                                         [0, 0, 0, 1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(two["input_mask"], [[1, 1, 1, 1, 1, 1, 0, 0],
                                                     [1, 1, 1, 1, 1, 1, 1, 0]])
    for value in two.values():
        assert value.dtype == tf.int32 and value.shape == (2, 8)


def test_pad_id_and_rank3_words():
    packer = SegmentPacker(6, CLS, SEP, pad_id=7)
    pieces = tf.ragged.constant([[[5, 6], [8]], [[9]]], dtype=tf.int64)  # [B, (words), (pieces)]
    out = packer([pieces])
    np.testing.assert_array_equal(out["input_word_ids"], [[CLS, 5, 6, 8, SEP, 7],
                                                         [CLS, 9, SEP, 7, 7, 7]])
    np.testing.assert_array_equal(out["input_mask"], [[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])


@pytest.mark.parametrize("seq_length", [4, 5, 8, 11, 16])
def test_truncation_equals_hf_longest_first(tokenizer, hf, words, seq_length):
    lengths = [(a, b) for a in range(13) for b in range(13)]
    first = [" ".join(words[:a]) for a, _ in lengths]
    second = [" ".join(words[20:20 + b]) for _, b in lengths]
    packer = SegmentPacker(seq_length, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    ours = packer([tokenizer.tokenize(first), tokenizer.tokenize(second)])
    theirs = hf(first, second, truncation="longest_first", max_length=seq_length,
                padding="max_length", return_token_type_ids=True, return_tensors="np")
    _assert_equal_to_hf(ours, theirs)
    singles = [" ".join(words[:a]) for a in range(20)]
    ours = packer([tokenizer.tokenize(singles)])
    theirs = hf(singles, truncation="longest_first", max_length=seq_length,
                padding="max_length", return_token_type_ids=True, return_tensors="np")
    _assert_equal_to_hf(ours, theirs)


def test_real_sentence_pairs_equal_hf(tokenizer, hf):
    texts = [text for text, _ in corpora.rotten_tomatoes("test")][:200]
    first, second = texts[::2], texts[1::2]
    for seq_length in (24, 64):
        packer = SegmentPacker(seq_length, tokenizer.cls_id, tokenizer.sep_id)
        ours = packer([tokenizer.tokenize(first), tokenizer.tokenize(second)])
        theirs = hf(first, second, truncation="longest_first", max_length=seq_length,
                    padding="max_length", return_token_type_ids=True, return_tensors="np")
        _assert_equal_to_hf(ours, theirs)


def test_pad_to_longest_row():
    packer = SegmentPacker(8, CLS, SEP, pad_to_max_length=False)
    out = packer([_ragged([[5], [6, 7, 8]])])
    np.testing.assert_array_equal(out["input_word_ids"], [[CLS, 5, SEP, 0, 0],
                                                         [CLS, 6, 7, 8, SEP]])
    capped = packer([_ragged([[5], list(range(20))])])
    assert capped["input_word_ids"].shape == (2, 8)
    assert capped["input_word_ids"][1, -1] == SEP
    empty = packer([_ragged([])])
    assert empty["input_word_ids"].shape == (0, 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 3"):
        SegmentPacker(2, CLS, SEP)
    with pytest.raises(ValueError, match="no room"):
        SegmentPacker(3, CLS, SEP)([_ragged([[1]]), _ragged([[2]])])
    with pytest.raises(ValueError, match="1 or 2 segments, got 3"):
        SegmentPacker(8, CLS, SEP)([_ragged([[1]])] * 3)
    with pytest.raises(ValueError, match="list"):
        SegmentPacker(8, CLS, SEP)(_ragged([[1]]))
    with pytest.raises(ValueError, match="RaggedTensor"):
        SegmentPacker(8, CLS, SEP)([tf.constant([[1, 2]])])
    with pytest.raises(ValueError, match="integer"):
        SegmentPacker(8, CLS, SEP)([tf.ragged.constant([[1.0]])])
