"""Vocab learning: reserved tokens first, sensible size, few [UNK]s, the CLI tool."""
import os
import shutil
import subprocess
import sys

import pytest

from bert_tf.data import corpora
from bert_tf.text import (RESERVED_TOKENS, BertTokenizer, WordCounter, learn_vocab, text_files,
                          write_vocab)


@pytest.fixture(scope="module")
def train_texts():
    return [text for text, _ in corpora.rotten_tomatoes("train")][:1500]


@pytest.fixture(scope="module")
def vocab(train_texts):
    return learn_vocab(train_texts, vocab_size=300, lower_case=True)


def test_counts_use_the_tokenizer_normalization():
    counter = WordCounter(lower_case=True)
    counter.update(["Café CAFÉ, café!", "中文"])
    assert counter.counts == {"cafe": 3, ",": 1, "!": 1, "中": 1, "文": 1}
    assert counter.num_texts == 2


def test_learned_vocab_shape(vocab):
    assert vocab[:len(RESERVED_TOKENS)] == list(RESERVED_TOKENS)
    assert 240 <= len(vocab) <= 300
    assert len(set(vocab)) == len(vocab)
    assert all(token and token == token.lower() for token in vocab[len(RESERVED_TOKENS):])
    assert any(token.startswith("##") and len(token) > 3 for token in vocab)


def test_learned_vocab_tokenizes_held_out_text(vocab):
    tokenizer = BertTokenizer(vocab, lower_case=True)
    assert tokenizer.pad_id == 0
    held_out = [text for text, _ in corpora.rotten_tomatoes("test")][:500]
    ids = tokenizer.tokenize(held_out).flat_values.numpy()
    unknown = (ids == tokenizer.unk_id).mean()
    assert unknown < 0.005, f"{unknown:.2%} of pieces are [UNK]"
    # A few hundred tokens cannot hold whole words for everything: words split.
    assert len(ids) > 1.2 * sum(len(t.split()) for t in held_out)


def test_write_vocab_round_trip(tmp_path, vocab):
    path = tmp_path / "vocab.txt"
    write_vocab(vocab, str(path))
    assert BertTokenizer.from_vocab_file(str(path)).vocab == vocab
    assert os.listdir(tmp_path) == ["vocab.txt"]  # No temp file left behind.
    with pytest.raises(ValueError, match="single lines"):
        write_vocab(["a\nb"], str(tmp_path / "bad.txt"))


def test_bad_inputs_are_errors(train_texts):
    with pytest.raises(ValueError, match="empty"):
        learn_vocab(["", "   "], vocab_size=100, lower_case=True)
    with pytest.raises(ValueError, match="lower max_unique_chars"):
        learn_vocab(train_texts[:50], vocab_size=20, lower_case=True)


def _build_vocab_command():
    script = os.path.join(os.path.dirname(sys.executable), "bert-build-vocab")
    script = script if os.path.exists(script) else shutil.which("bert-build-vocab")
    assert script, "bert-build-vocab is not installed: pip install -e . --no-deps"
    return script


def test_build_vocab_cli(tmp_path, train_texts):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [" ".join(text.split()) for text in train_texts[:250]]  # One line each.
    (corpus / "a.txt").write_text("\n".join(lines[:150]) + "\n", encoding="utf-8")
    (corpus / "b.txt").write_text("\n".join(lines[150:]) + "\n", encoding="utf-8")
    output = tmp_path / "vocab.txt"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(  # paths relative to the working directory, as a user types
        [_build_vocab_command(), "--input=corpus/*.txt", "--output=vocab.txt",
         "--vocab_size=150", "--log_every=100", "--batch_size=50"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "200 lines read" in result.stdout and "Read 250 lines" in result.stdout
    assert "Wrote" in result.stdout
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert tokens[:5] == list(RESERVED_TOKENS)
    assert 100 <= len(tokens) <= 150


def test_text_files_rejects_missing_and_empty_inputs(tmp_path):
    (tmp_path / "a.txt").write_text("a line\n")
    (tmp_path / "empty.txt").write_text("")
    assert text_files([str(tmp_path / "a*.txt")]) == [str(tmp_path / "a.txt")]
    with pytest.raises(ValueError, match="matches no file"):
        text_files([str(tmp_path / "nothing*.txt")])
    with pytest.raises(ValueError, match="is empty"):
        text_files([str(tmp_path / "*.txt")])


def test_unknown_word_rate_counts_words_outside_the_alphabet():
    from bert_tf.text.vocab import unknown_word_rate
    counts = {"中": 6, "国": 3, "中国": 1}  # characters: 中 7, 国 4
    assert unknown_word_rate(counts, 2) == 0.0
    assert unknown_word_rate(counts, 1) == pytest.approx(4 / 10)  # 国 and 中国 are lost
