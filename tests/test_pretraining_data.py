"""Pretraining data: masking statistics, NSP pairs rebuilt against the source text,
determinism, dynamic masking, and clear errors for bad input.

The corpus is real text: Rotten Tomatoes review snippets grouped into documents, tokenized
with the real all-MiniLM-L6-v2 vocab.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import corpora
from bert_tf.data import (METADATA_FILE, MaskedLMMasker, PretrainingDataOptions,
                          create_pretraining_data, feature_spec, pretraining_dataset)
from bert_tf.data.documents import read_documents, tokenize_documents, write_documents
from bert_tf.data.instances import truncate_pair
from bert_tf.text import SegmentPacker

SEQ_LENGTH = 64
MAX_PREDICTIONS = 10
OPTIONS = PretrainingDataOptions(max_seq_length=SEQ_LENGTH,
                                 max_predictions_per_seq=MAX_PREDICTIONS, dupe_factor=2,
                                 seed=7)
# Allowed deviation of a count from its expectation, in standard deviations: a correct
# implementation fails a 5-sigma bound with probability < 1e-6.
SIGMAS = 5.0


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    """3 files x 30 documents x 6 real sentences, in Google's format."""
    sentences = [" ".join(text.split()) for text, _ in corpora.rotten_tomatoes("train")[:540]]
    folder = tmp_path_factory.mktemp("text")
    for f in range(3):
        part = sentences[f * 180:(f + 1) * 180]
        write_documents(folder / f"part{f}.txt",
                        [part[d:d + 6] for d in range(0, len(part), 6)])
    return folder


@pytest.fixture(scope="module")
def records_dir(text_dir, vocab_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "masked"
    create_pretraining_data(str(text_dir / "*.txt"), str(out), vocab_path, OPTIONS)
    return out


def _read_all(pattern, masker=None, masked=True, batch_size=256):
    dataset = pretraining_dataset(str(pattern), batch_size, SEQ_LENGTH, MAX_PREDICTIONS,
                                  masker=masker, shuffle=False, repeat=False,
                                  drop_remainder=False)
    batches = [{k: v.numpy() for k, v in batch.items()} for batch in dataset]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def _shard_bytes(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))
            if name.endswith(".tfrecord")}


# --- masking -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def packed_sentences(tokenizer):
    """3000 real sentences packed as `[CLS] sentence [SEP]`, [3000, 64]."""
    texts = [text for text, _ in corpora.rotten_tomatoes("train")[:3000]]
    packer = SegmentPacker(SEQ_LENGTH, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    return {k: v.numpy() for k, v in packer([tokenizer.tokenize(texts)]).items()}


def _candidates(features, tokenizer):
    ids = features["input_word_ids"]
    special = np.isin(ids, [tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id])
    return (features["input_mask"] > 0) & ~special


def _targets(candidates, max_predictions):
    """Google's count per row: round(15% of the candidates), at least 1, at most P."""
    n = candidates.sum(1)
    return np.minimum(np.minimum(np.maximum(np.round(0.15 * n), 1), max_predictions), n)


def _chosen(masked, original):
    """bool [B, S] of the positions the masker predicts, from its position list."""
    chosen = np.zeros(original["input_word_ids"].shape, bool)
    rows, slots = np.nonzero(masked["masked_lm_weights"])
    chosen[rows, masked["masked_lm_positions"][rows, slots]] = True
    return chosen


def _mask(tokenizer, features, whole_word, max_predictions=20, seed=(3, 4)):
    masker = MaskedLMMasker.from_tokenizer(tokenizer, max_predictions, whole_word=whole_word)
    return {k: np.asarray(v) for k, v in masker(features, seed=tf.constant(seed)).items()}


def test_masking_selects_15_percent_uniformly(tokenizer, packed_sentences):
    features = packed_sentences
    masked = _mask(tokenizer, features, whole_word=False)
    candidates = _candidates(features, tokenizer)
    chosen = _chosen(masked, features)
    targets = _targets(candidates, 20)

    # Exactly Google's count in every row, only real tokens, positions ascending.
    np.testing.assert_array_equal(chosen.sum(1), targets)
    assert not (chosen & ~candidates).any()
    weights = masked["masked_lm_weights"]
    positions = np.where(weights > 0, masked["masked_lm_positions"], SEQ_LENGTH)
    assert (np.diff(positions, axis=1) >= 0).all()
    np.testing.assert_array_equal(masked["masked_lm_ids"][weights > 0],
                                  features["input_word_ids"][chosen])
    assert (masked["masked_lm_ids"][weights == 0] == 0).all()
    assert (masked["masked_lm_positions"][weights == 0] == 0).all()

    # Uniform over the candidates: each is chosen with probability target/n, so the count
    # in the first half of every row's candidates is a sum of hypergeometric counts.
    n = candidates.sum(1)
    rank = np.cumsum(candidates, axis=1) - 1                 # index among the row's candidates
    first_half = candidates & (rank < (n // 2)[:, None])
    q = targets / n
    expected = (q * first_half.sum(1)).sum()
    sd = np.sqrt((first_half.sum(1) * q * (1 - q)).sum())
    observed = (chosen & first_half).sum()
    assert abs(observed - expected) <= SIGMAS * sd, (observed, expected, sd)


def test_masking_replaces_80_10_10(tokenizer, packed_sentences):
    features = packed_sentences
    masked = _mask(tokenizer, features, whole_word=True)
    chosen = _chosen(masked, features)
    original = features["input_word_ids"][chosen]
    replaced = masked["input_word_ids"][chosen]
    assert (masked["input_word_ids"][~chosen] == features["input_word_ids"][~chosen]).all()

    total = chosen.sum()
    assert total > 5000  # enough for tight bounds
    vocab_size = tokenizer.vocab_size
    # A random replacement may hit [MASK] or the original id, each with probability 1/V.
    probabilities = {"mask": 0.8 + 0.1 / vocab_size, "same": 0.1 + 0.1 / vocab_size,
                     "random": 0.1 - 0.2 / vocab_size}
    is_mask = replaced == tokenizer.mask_id
    is_same = (replaced == original) & ~is_mask
    counts = {"mask": is_mask.sum(), "same": is_same.sum(),
              "random": (~is_mask & ~is_same).sum()}
    for kind, p in probabilities.items():
        sd = np.sqrt(total * p * (1 - p))
        assert abs(counts[kind] - total * p) <= SIGMAS * sd, (kind, counts[kind], total * p)
    # Random ids come from the whole vocab: few repeats among ~10% of the tokens.
    random_ids = replaced[~is_mask & ~is_same]
    assert len(np.unique(random_ids)) >= 0.9 * len(random_ids)


def test_whole_word_masking_takes_words_whole(tokenizer, packed_sentences):
    features = packed_sentences
    masked = _mask(tokenizer, features, whole_word=True)
    candidates = _candidates(features, tokenizer)
    chosen = _chosen(masked, features)
    continuation = np.array([t.startswith("##") for t in tokenizer.vocab])
    is_continuation = continuation[features["input_word_ids"]] & candidates
    # A continuation piece is chosen exactly when the piece before it is.
    previous_chosen = np.pad(chosen[:, :-1], [(0, 0), (1, 0)])
    np.testing.assert_array_equal(chosen[is_continuation], previous_chosen[is_continuation])
    assert (chosen & is_continuation).sum() > 100  # many multi-piece words were masked

    # Never more than Google's count; a word that would overshoot it is skipped, so a row
    # can only fall short when no single-piece word is left to fill the gap — rare, as
    # most words are one piece.
    targets = _targets(candidates, 20)
    assert (chosen.sum(1) <= targets).all()
    assert chosen.sum() >= 0.98 * targets.sum()


def test_masking_caps_at_max_predictions(tokenizer, packed_sentences):
    masked = _mask(tokenizer, packed_sentences, whole_word=True, max_predictions=3)
    chosen = _chosen(masked, packed_sentences)
    assert masked["masked_lm_positions"].shape == (len(chosen), 3)
    assert chosen.sum(1).max() == 3


def test_masking_is_a_function_of_the_seed(tokenizer, packed_sentences):
    first = _mask(tokenizer, packed_sentences, whole_word=True, seed=(1, 2))
    again = _mask(tokenizer, packed_sentences, whole_word=True, seed=(1, 2))
    other = _mask(tokenizer, packed_sentences, whole_word=True, seed=(1, 3))
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert (first["masked_lm_positions"] != other["masked_lm_positions"]).any()


# --- creation ------------------------------------------------------------------------------
def test_records_hold_real_sentence_pairs(records_dir, text_dir, tokenizer):
    """Every record, unmasked again, is [CLS] A [SEP] B [SEP] with A and B taken from the
    source documents: B after A in one document for IsNext (0), from two for random (1)."""
    records = _read_all(records_dir / "*.tfrecord")
    metadata = json.loads((records_dir / METADATA_FILE).read_text())
    assert len(records["next_sentence_labels"]) == metadata["totals"]["instances"]

    streams = []  # per document: its tokens as " 1 2 3 " strings, for substring search
    for path in sorted(text_dir.glob("*.txt")):
        for document in tokenize_documents(read_documents(path), tokenizer):
            streams.append(" " + " ".join(map(str, np.concatenate(document))) + " ")

    def as_text(ids):
        return " " + " ".join(map(str, ids)) + " "

    def documents_containing(ids):
        return {i for i, stream in enumerate(streams) if as_text(ids) in stream}

    def follows(segment_a, segment_b, document):
        """B occurs after A in the document (truncation may cut A's end or B's start)."""
        stream, a = streams[document], as_text(segment_a)
        return stream.find(as_text(segment_b), stream.find(a) + len(a) - 1) >= 0

    ids = records["input_word_ids"].copy()
    rows, slots = np.nonzero(records["masked_lm_weights"])
    ids[rows, records["masked_lm_positions"][rows, slots]] = records["masked_lm_ids"][rows, slots]
    labels = records["next_sentence_labels"]
    assert set(labels) == {0, 1} and 0.3 < labels.mean() < 0.8
    for row in range(len(ids)):
        length = records["input_mask"][row].sum()
        tokens, types = ids[row, :length], records["input_type_ids"][row, :length]
        assert tokens[0] == tokenizer.cls_id and tokens[-1] == tokenizer.sep_id
        a_end = np.argmax(types == 1) - 1  # the [SEP] after A
        assert tokens[a_end] == tokenizer.sep_id and (types[a_end + 1:] == 1).all()
        segment_a, segment_b = tokens[1:a_end], tokens[a_end + 1:-1]
        assert len(segment_a) and len(segment_b)
        in_a, in_b = documents_containing(segment_a), documents_containing(segment_b)
        assert in_a and in_b, row
        if labels[row] == 0:
            assert any(follows(segment_a, segment_b, d) for d in in_a & in_b), row
        else:
            assert in_a != in_b, row


def test_creation_is_deterministic_and_seeded(records_dir, text_dir, vocab_path, tmp_path):
    create_pretraining_data(str(text_dir / "*.txt"), str(tmp_path / "again"), vocab_path,
                            OPTIONS)
    assert _shard_bytes(tmp_path / "again") == _shard_bytes(records_dir)
    other = PretrainingDataOptions(**{**OPTIONS.__dict__, "seed": 8})
    create_pretraining_data(str(text_dir / "*.txt"), str(tmp_path / "other"), vocab_path,
                            other)
    assert _shard_bytes(tmp_path / "other") != _shard_bytes(records_dir)


def test_the_binary_takes_paths_relative_to_the_working_directory(records_dir, text_dir,
                                                                    vocab_path, tmp_path):
    """bert-create-pretraining-data with relative paths, as a user types them: the
    records of the library call, and metadata.json names the inputs and the vocab by
    absolute path (it must say which files they were from wherever it is read). ~10 s."""
    shutil.copytree(text_dir, tmp_path / "text")
    shutil.copy(vocab_path, tmp_path / "vocab.txt")
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_tools.create_pretraining_data",
         "--input_file=text/*.txt", "--output_dir=records", "--vocab_file=vocab.txt",
         f"--max_seq_length={SEQ_LENGTH}", f"--max_predictions_per_seq={MAX_PREDICTIONS}",
         f"--dupe_factor={OPTIONS.dupe_factor}", f"--seed={OPTIONS.seed}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _shard_bytes(tmp_path / "records") == _shard_bytes(records_dir)
    metadata = json.loads((tmp_path / "records" / METADATA_FILE).read_text())
    assert metadata["vocab"]["file"] == str(tmp_path / "vocab.txt")
    assert [shard["input"] for shard in metadata["shards"]] == [
        str(tmp_path / "text" / f"part{f}.txt") for f in range(3)]


@pytest.mark.slow  # starts worker processes, each importing TensorFlow (~30 s)
def test_worker_count_does_not_change_output(records_dir, text_dir, vocab_path, tmp_path):
    create_pretraining_data(str(text_dir / "*.txt"), str(tmp_path / "parallel"), vocab_path,
                            OPTIONS, num_workers=2)
    assert _shard_bytes(tmp_path / "parallel") == _shard_bytes(records_dir)


def test_truncate_pair_cuts_both_ends_of_the_longer_segment():
    rng = np.random.default_rng(0)
    a, b = np.arange(100), np.arange(100, 110)
    starts, ends = set(), set()
    for _ in range(20):
        cut_a, cut_b = truncate_pair(a, b, 30, rng)
        assert len(cut_a) + len(cut_b) == 30
        np.testing.assert_array_equal(cut_b, b)  # only the longer one loses tokens
        starts.add(cut_a[0])
        ends.add(cut_a[-1])
    assert len(starts) > 1 and len(ends) > 1


# --- reading -------------------------------------------------------------------------------
def test_reader_order_is_fixed_by_seed(records_dir):
    def first_batches(seed):
        dataset = pretraining_dataset(str(records_dir / "*.tfrecord"), 16, SEQ_LENGTH,
                                      MAX_PREDICTIONS, seed=seed, shuffle_buffer_size=100)
        return [b["input_word_ids"].numpy() for b in dataset.take(3)]

    first, again, other = first_batches(1), first_batches(1), first_batches(2)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first), np.stack(other))


def test_dynamic_masking_masks_anew_each_epoch(text_dir, vocab_path, tokenizer, tmp_path):
    options = PretrainingDataOptions(**{**OPTIONS.__dict__, "dynamic_masking": True,
                                        "dupe_factor": 1})
    create_pretraining_data(str(text_dir / "part0.txt"), str(tmp_path), vocab_path, options)
    masker = MaskedLMMasker.from_tokenizer(tokenizer, MAX_PREDICTIONS)
    records = _read_all(tmp_path / "*.tfrecord", masker=masker)
    assert "masked_lm_positions" in records and records["masked_lm_weights"].sum() > 0
    num_records = len(records["next_sentence_labels"])

    def epochs(seed):  # two epochs in file order, one batch each
        dataset = pretraining_dataset(str(tmp_path / "*.tfrecord"), num_records, SEQ_LENGTH,
                                      MAX_PREDICTIONS, masker=masker, shuffle=False,
                                      seed=seed)
        return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(2)]

    epoch_1, epoch_2 = epochs(seed=5)
    np.testing.assert_array_equal(epoch_1["input_mask"], epoch_2["input_mask"])
    assert (epoch_1["masked_lm_positions"] != epoch_2["masked_lm_positions"]).any()
    replay_1, _ = epochs(seed=5)
    np.testing.assert_array_equal(epoch_1["input_word_ids"], replay_1["input_word_ids"])

    with pytest.raises(ValueError, match="written for dynamic masking"):
        pretraining_dataset(str(tmp_path / "*.tfrecord"), 8, SEQ_LENGTH, MAX_PREDICTIONS)


# --- bad input -----------------------------------------------------------------------------
def _create(tmp_path, text, vocab_path, name="bad.txt"):
    path = tmp_path / name
    path.write_bytes(text)
    create_pretraining_data(str(path), str(tmp_path / "out"), vocab_path, OPTIONS)


def test_bad_text_input_errors_clearly(tmp_path, vocab_path):
    with pytest.raises(ValueError, match="holds no text"):
        _create(tmp_path, b"\n \n\n", vocab_path)
    with pytest.raises(ValueError, match=r"\.txt:2: not UTF-8 text \(byte 0x89"):
        _create(tmp_path, b"fine line\n\x89PNG\xff\xfe binary\n", vocab_path)
    with pytest.raises(ValueError, match="bad.txt: Next-sentence pairs need at least 2 "
                                         "documents"):
        _create(tmp_path, b"One document.\nOf two sentences.\n", vocab_path)
    with pytest.raises(FileNotFoundError, match="No input text file matches"):
        create_pretraining_data(str(tmp_path / "missing*.txt"), str(tmp_path / "o"),
                                vocab_path)
    with pytest.raises(FileNotFoundError, match="Vocab file not found"):
        create_pretraining_data(str(tmp_path / "bad.txt"), str(tmp_path / "o"),
                                str(tmp_path / "vocab.txt"))


def test_output_folder_must_be_new_or_empty(text_dir, vocab_path, tmp_path):
    (tmp_path / "old.tfrecord").write_bytes(b"")
    with pytest.raises(FileExistsError, match="not empty"):
        create_pretraining_data(str(text_dir / "part0.txt"), str(tmp_path), vocab_path)


def test_bad_records_error_clearly(records_dir, tmp_path):
    pattern = str(records_dir / "*.tfrecord")
    with pytest.raises(ValueError, match="'input_word_ids' has 64 values, expected 128"):
        pretraining_dataset(pattern, 8, 128, MAX_PREDICTIONS)
    with pytest.raises(ValueError, match="already masked"):
        masker = MaskedLMMasker(100, 4, (0, 2, 3), MAX_PREDICTIONS)
        pretraining_dataset(pattern, 8, SEQ_LENGTH, MAX_PREDICTIONS, masker=masker)
    not_records = tmp_path / "text.tfrecord"
    not_records.write_text("this is not a TFRecord file\n" * 10)
    with pytest.raises(ValueError, match="text.tfrecord is not a readable TFRecord file"):
        pretraining_dataset(str(not_records), 8, SEQ_LENGTH, MAX_PREDICTIONS)
    with pytest.raises(FileNotFoundError, match="No pretraining record file matches"):
        pretraining_dataset(str(tmp_path / "nothing-*"), 8, SEQ_LENGTH, MAX_PREDICTIONS)
    # Records made with a 30522-token vocab, read for a model with a 1000-token one.
    dataset = pretraining_dataset(pattern, 8, SEQ_LENGTH, MAX_PREDICTIONS, vocab_size=1000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="made with a different vocab"):
        next(iter(dataset))


def test_feature_spec_is_the_written_schema(records_dir):
    spec = feature_spec(SEQ_LENGTH, MAX_PREDICTIONS)
    record = next(iter(tf.data.TFRecordDataset(
        sorted(str(p) for p in records_dir.glob("*.tfrecord"))[0])))
    example = tf.train.Example.FromString(record.numpy())
    assert set(example.features.feature) == set(spec)
    assert set(feature_spec(SEQ_LENGTH, MAX_PREDICTIONS, masked=False)) == {
        "input_word_ids", "input_mask", "input_type_ids", "next_sentence_labels"}


def test_one_line_documents_warn_that_next_sentences_are_random(tmp_path, vocab_path, caplog):
    """One document per line (a missing blank line between documents is the usual
    mistake) leaves no next sentence to pair: every pair is random, and it says so."""
    text = "".join(f"the film number {i} was fine .\n\n" for i in range(40)).encode()
    _create(tmp_path, text, vocab_path, name="one_per_line.txt")
    assert "100% of the next-sentence pairs are random" in caplog.text
    assert "100% of the 40 documents have one sentence" in caplog.text


# --- whole words by spaces (text segmented with spaces: Chinese) ---------------------------
def test_word_starts_follow_the_spaces_of_the_text(tokenizer):
    documents = tokenize_documents([["中国 人民 don't stop", "北京"]], tokenizer,
                                   word_boundaries="whitespace")
    first, second = documents[0]
    pieces = tokenizer.tokenize("中国 人民 don't stop").numpy().tolist()
    assert first["id"].tolist() == pieces
    # 中 国 | 人 民 | don ' t | stop: a word starts after each space only.
    assert first["word_start"].tolist() == [1, 0, 1, 0, 1, 0, 0, 1]
    assert second["word_start"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="word_boundaries"):
        tokenize_documents([["x"]], tokenizer, word_boundaries="spaces")


def test_masker_takes_words_given_by_word_starts(tokenizer):
    packer = SegmentPacker(SEQ_LENGTH, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    text = " ".join(["中国 人民 北京 天津 上海"] * 4)
    features = packer([tokenizer.tokenize([text] * 64)])
    documents = tokenize_documents([[text]], tokenizer, word_boundaries="whitespace")
    starts = np.concatenate([[1], documents[0][0]["word_start"], [1]]).astype(np.int32)
    starts = np.tile(np.pad(starts, [0, SEQ_LENGTH - len(starts)]), [64, 1])
    masker = MaskedLMMasker.from_tokenizer(tokenizer, MAX_PREDICTIONS, whole_word=True)
    masked = masker(features, seed=tf.constant([1, 2]), word_starts=starts)
    chosen = _chosen({k: v.numpy() for k, v in masked.items()},
                     {k: v.numpy() for k, v in features.items()})
    # Every two-character word is masked whole: the second character exactly when the
    # first is.
    second_character = (starts == 0) & (features["input_mask"].numpy() > 0)
    previous_chosen = np.pad(chosen[:, :-1], [(0, 0), (1, 0)])
    np.testing.assert_array_equal(chosen[second_character], previous_chosen[second_character])
    assert chosen[second_character].sum() > 50


def test_records_mask_whitespace_words_whole(vocab_path, tokenizer, tmp_path):
    text = tmp_path / "zh.txt"
    words = ["中国", "人民", "北京", "上海", "大学", "广州"]  # distinct characters
    rng = np.random.default_rng(0)
    write_documents(text, [[" ".join(rng.choice(words, 12)) + " 。" for _ in range(4)]
                           for _ in range(20)])
    options = PretrainingDataOptions(max_seq_length=SEQ_LENGTH, max_predictions_per_seq=10,
                                     dupe_factor=3, word_boundaries="whitespace", seed=3)
    create_pretraining_data(str(text), str(tmp_path / "records"), vocab_path, options)
    batch = next(iter(pretraining_dataset(str(tmp_path / "records" / "*.tfrecord"), 64,
                                          SEQ_LENGTH, 10, shuffle=False, repeat=False,
                                          drop_remainder=False)))
    positions, weights = batch["masked_lm_positions"].numpy(), batch["masked_lm_weights"]
    masked_ids = batch["masked_lm_ids"].numpy()
    ids = {w: [tokenizer.token_to_id(c) for c in w] for w in words}
    second_of = {first: second for first, second in ids.values()}
    first_of = {second: first for first, second in ids.values()}
    input_ids = batch["input_word_ids"].numpy()
    pairs = 0
    for row in range(len(positions)):
        chosen = {int(p): int(i) for p, i, w in zip(positions[row], masked_ids[row],
                                                    weights[row].numpy()) if w}
        for position, token in chosen.items():
            # A word's two characters are chosen together: the neighbour of a chosen
            # character is chosen, or (truncation cut the word) is not its partner.
            if token in second_of:
                pairs += position + 1 in chosen
                assert (position + 1 in chosen
                        or input_ids[row, position + 1] != second_of[token])
            if token in first_of:
                assert (position - 1 in chosen
                        or input_ids[row, position - 1] != first_of[token])
    assert pairs > 50
    with pytest.raises(ValueError, match="dynamic_masking"):
        PretrainingDataOptions(word_boundaries="whitespace", dynamic_masking=True)
