"""Pretraining TFRecords from plain text: google-research/bert's `create_pretraining_data`,
one output shard per input file, files processed in parallel.

    summary = create_pretraining_data(["books/*.txt"], "data/books", "vocab.txt",
                                      PretrainingDataOptions(max_seq_length=128),
                                      num_workers=4)

Input: Google's format, one sentence per line and a blank line between documents. Output:
`output_dir/pretrain-IIIII-of-NNNNN.tfrecord` (shard I from the I-th input file in sorted
order, records in `schema.feature_spec` layout) and `output_dir/metadata.json` (the options,
the vocab, counts per shard).

Each input file is processed on its own, with its own generator seeded by (seed, file
index): the output does not depend on the number of workers or on which worker ran which
file. The cost is that random next segments come from other documents of the same file, so
every file needs at least two documents.
"""
import contextlib
import dataclasses
import json
import multiprocessing
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.common import tf_startup
from bert_tf.common.fields import config_field
from bert_tf.data import schema
from bert_tf.data.documents import WORD_BOUNDARIES, read_documents, tokenize_documents
from bert_tf.data.files import match_files
from bert_tf.data.instances import create_instances
from bert_tf.data.masking import MaskedLMMasker
from bert_tf.text import BertTokenizer, SegmentPacker

METADATA_FILE = "metadata.json"
SHARD_PATTERN = "pretrain-{index:05d}-of-{count:05d}.tfrecord"
# Instances packed, masked and written per batch.
_CHUNK_SIZE = 512


@dataclasses.dataclass
class MaskingOptions:
    """The record layout and masked-LM settings that writing the records and training on
    them share (bert-create-pretraining-data and bert-pretrain take the same flags)."""

    max_seq_length: int = config_field(128, "Tokens per sequence of the records.")
    max_predictions_per_seq: int = config_field(20, "Masked-LM slots per sequence.")
    masked_lm_prob: float = config_field(0.15, "Fraction of tokens predicted.")
    whole_word_masking: bool = config_field(True, "Mask all pieces of a word together.")
    dynamic_masking: bool = config_field(False, "Records are written unmasked and the "
                                         "training input pipeline masks them anew every "
                                         "epoch.")

    def __post_init__(self):
        if self.max_predictions_per_seq > self.max_seq_length:
            raise ValueError(f"max_predictions_per_seq ({self.max_predictions_per_seq}) must "
                             f"not exceed max_seq_length ({self.max_seq_length})")
        schema.feature_spec(self.max_seq_length, self.max_predictions_per_seq)  # validates


@dataclasses.dataclass
class PretrainingDataOptions(MaskingOptions):
    """How text becomes pretraining records; each field is a flag of
    bert-create-pretraining-data, of the same name (google-research/bert calls
    `whole_word_masking` do_whole_word_mask and `seed` random_seed)."""

    short_seq_prob: float = config_field(0.1, "Probability of aiming at a shorter sequence "
                                         "than max_seq_length.")
    dupe_factor: int = config_field(10, "Passes over the text, each with new pairs and "
                                    "masks.")
    word_boundaries: str = config_field(
        "wordpiece", "What a whole word is: 'wordpiece', a piece and the '##' pieces after "
        "it (Google's); 'whitespace', the pieces between two spaces of the text, for text "
        "segmented with spaces where the tokenizer splits every character (Chinese). Needs "
        "masks drawn when writing (not dynamic_masking): the records keep no spaces.",
        choices=WORD_BOUNDARIES)
    seed: int = config_field(12345, "Seed of every random choice.")

    def __post_init__(self):
        super().__post_init__()
        if self.word_boundaries not in WORD_BOUNDARIES:
            raise ValueError(f"word_boundaries must be one of {WORD_BOUNDARIES}, got "
                             f"{self.word_boundaries!r}")
        if self.word_boundaries == "whitespace" and self.dynamic_masking:
            raise ValueError("word_boundaries='whitespace' needs the masks drawn when the "
                             "records are written: drop dynamic_masking, or use "
                             "word_boundaries='wordpiece'")

    def feature_spec(self):
        return schema.feature_spec(self.max_seq_length, self.max_predictions_per_seq,
                                   masked=not self.dynamic_masking)

    def masker(self, tokenizer):
        return MaskedLMMasker.from_tokenizer(
            tokenizer, self.max_predictions_per_seq, whole_word=self.whole_word_masking,
            mask_rate=self.masked_lm_prob)


@dataclasses.dataclass(frozen=True)
class _ShardJob:
    index: int
    input_path: str
    output_path: str
    vocab_file: str
    lower_case: bool | None
    options: PretrainingDataOptions


def create_pretraining_data(input_patterns, output_dir, vocab_file, options=None,
                            lower_case=None, num_workers=1):
    """Writes pretraining TFRecords, one shard per input file, and `metadata.json`.

    Args:
        input_patterns: list of globs, or one str of comma-separated globs.
        output_dir: str, a new or empty folder.
        vocab_file: str, the vocab.txt to tokenize with.
        options: `PretrainingDataOptions` (default: Google's defaults).
        lower_case: bool or None (None: inferred from the vocab).
        num_workers: int, processes working on files in parallel (1: this process).
    Returns:
        dict: the metadata written (options, vocab, per-shard counts, totals).
    """
    options = options or PretrainingDataOptions()
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    input_files = match_files(input_patterns, "input text")
    tokenizer = _tokenizer(vocab_file, lower_case)  # fails early on a bad vocab
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        raise FileExistsError(f"Output folder {output_dir} is not empty; pretraining shards "
                              "of different runs must not mix")
    os.makedirs(output_dir, exist_ok=True)
    jobs = [_ShardJob(i, path, os.path.join(output_dir, SHARD_PATTERN.format(
                index=i, count=len(input_files))), vocab_file, lower_case, options)
            for i, path in enumerate(input_files)]

    start = time.monotonic()
    shards = []
    with contextlib.ExitStack() as stack:
        if num_workers == 1:
            results = map(_write_shard, jobs)
        else:
            # "spawn": a forked child would inherit TensorFlow's threads in an unknown state.
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(
                min(num_workers, len(jobs)), initializer=_init_worker))
            results = pool.imap(_write_shard, jobs)  # in input order, as they finish
        for shard in results:
            shards.append(shard)
            logging.info(
                "[%d/%d] %s: %d documents, %d sentences -> %d instances (total %d instances, "
                "%.0f s)", len(shards), len(jobs), shard["input"], shard["documents"],
                shard["sentences"], shard["instances"], _totals(shards)["instances"],
                time.monotonic() - start)

    _warn_if_next_sentences_are_mostly_random(_totals(shards))
    metadata = {
        "options": dataclasses.asdict(options),
        "vocab": {"file": os.path.abspath(vocab_file), "size": tokenizer.vocab_size,
                  "lower_case": tokenizer.lower_case},
        "features": sorted(options.feature_spec()),
        "totals": _totals(shards),
        "shards": shards,
    }
    with open(os.path.join(output_dir, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
    return metadata


def _totals(shards):
    return {key: sum(shard[key] for shard in shards)
            for key in ("documents", "one_sentence_documents", "sentences", "tokens",
                        "instances", "next_is_random")}


# Pairs are random half the time by design; far more means few documents have a next
# sentence to give (one-line documents: a missing blank line between documents, or one
# document per line), and next-sentence prediction then learns little.
_RANDOM_NEXT_WARNING = 0.6


def _warn_if_next_sentences_are_mostly_random(totals):
    if not totals["instances"]:
        return
    random_fraction = totals["next_is_random"] / totals["instances"]
    if random_fraction > _RANDOM_NEXT_WARNING:
        logging.warning(
            "%.0f%% of the next-sentence pairs are random (50%% expected): %.0f%% of the "
            "%d documents have one sentence, so they have no next sentence to pair. The "
            "input should hold one sentence per line and a blank line between documents",
            100 * random_fraction, 100 * totals["one_sentence_documents"] /
            max(totals["documents"], 1), totals["documents"])


def _init_worker():
    tf_startup.probe_devices_quietly()  # a worker is a process of its own
    # The workers already run in parallel; TF thread pools per worker would oversubscribe.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


_TOKENIZERS = {}


def _tokenizer(vocab_file, lower_case):
    """One tokenizer per vocab and casing, per process."""
    key = (os.path.abspath(vocab_file), lower_case)
    if key not in _TOKENIZERS:
        if not os.path.isfile(vocab_file):
            raise FileNotFoundError(f"Vocab file not found: {vocab_file}")
        _TOKENIZERS[key] = BertTokenizer.from_vocab_file(vocab_file, lower_case=lower_case)
    return _TOKENIZERS[key]


def _write_shard(job):
    """Reads, tokenizes, pairs, packs, masks and writes one input file (runs in a worker)."""
    options = job.options
    tokenizer = _tokenizer(job.vocab_file, job.lower_case)
    by_whitespace = options.whole_word_masking and options.word_boundaries == "whitespace"
    documents = tokenize_documents(read_documents(job.input_path), tokenizer,
                                   word_boundaries="whitespace" if by_whitespace else
                                   "wordpiece")
    rng = np.random.default_rng([options.seed, job.index])
    try:
        instances = create_instances(documents, options.max_seq_length,
                                     options.short_seq_prob, options.dupe_factor, rng)
    except ValueError as e:
        raise ValueError(f"{job.input_path}: {e}") from e

    packer = SegmentPacker(options.max_seq_length, tokenizer.cls_id, tokenizer.sep_id,
                           tokenizer.pad_id)
    # Packs the word starts as the ids are packed: [CLS] and [SEP] are words of their own.
    word_start_packer = SegmentPacker(options.max_seq_length, 1, 1, 0)
    masker = None if options.dynamic_masking else tf.function(options.masker(tokenizer))
    spec = options.feature_spec()
    temporary_path = job.output_path + ".incomplete"
    with tf.io.TFRecordWriter(temporary_path) as writer:
        for start in range(0, len(instances), _CHUNK_SIZE):
            chunk = instances[start:start + _CHUNK_SIZE]
            segments = [[i.segment_a for i in chunk], [i.segment_b for i in chunk]]
            word_starts = None
            if by_whitespace:
                word_starts = word_start_packer(
                    [_ragged([s["word_start"] for s in part]) for part in segments]
                )["input_word_ids"]  # [N, S]
                segments = [[s["id"] for s in part] for part in segments]
            features = packer([_ragged(part) for part in segments])  # [N, S] each
            if masker is not None:
                features = masker(features, seed=tf.constant(rng.integers(2**31, size=2)),
                                  word_starts=word_starts)
            features = {name: value.numpy() for name, value in features.items()}
            features[schema.LABEL_FEATURE] = np.array([i.is_random_next for i in chunk],
                                                      np.int64)
            for record in schema.serialize_examples(features, spec):
                writer.write(record)
    os.replace(temporary_path, job.output_path)
    return {"input": job.input_path, "output": job.output_path,
            "documents": len(documents),
            "one_sentence_documents": sum(len(d) == 1 for d in documents),
            "sentences": sum(len(d) for d in documents),
            "tokens": int(sum(len(s) for d in documents for s in d)),
            "instances": len(instances),
            "next_is_random": sum(i.is_random_next for i in instances)}


def _ragged(segments):
    """int32 arrays -> ragged int32 [N, (T)]."""
    return tf.RaggedTensor.from_row_lengths(
        np.concatenate(segments).astype(np.int32), [len(s) for s in segments])
