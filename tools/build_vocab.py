r"""Learns a WordPiece vocab.txt from plain-text files (one sentence per line).

    bert-build-vocab --input=corpus/*.txt,extra.txt --output=vocab.txt \
        --vocab_size=30522 --lower_case

Words are split and normalized exactly as `bert_tf.text.BertTokenizer` will split
them, then TF Text's WordPiece learner picks the pieces. Reserved tokens come first
([PAD]=0, [UNK], [CLS], [SEP], [MASK]). The output is written atomically.
"""
import time

import tensorflow as tf
from absl import app, flags, logging

from bert_tf.text.vocab import (RESERVED_TOKENS, WordCounter, text_files, unknown_word_rate,
                                vocab_from_counts, write_vocab)
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_list("input", None, "Comma-separated text files or globs, one sentence a line.")
flags.DEFINE_string("output", None, "Path of the vocab.txt to write.")
flags.DEFINE_integer("vocab_size", 30522, "Maximum vocab size, reserved tokens included.")
flags.DEFINE_bool("lower_case", True, "Lower-case and strip accents (an uncased vocab).")
flags.DEFINE_integer("max_unique_chars", 1000, "Alphabet size kept; rarer chars become [UNK].")
flags.DEFINE_integer("batch_size", 4096, "Lines tokenized per step.")
flags.DEFINE_integer("log_every", 100_000, "Print progress every this many lines.")
flags.mark_flags_as_required(["input", "output"])
_UNKNOWN_WARNING = 0.001


def _lines(files):
    for path in files:
        with tf.io.gfile.GFile(path, "rb") as f:
            for line in f:
                line = line.decode("utf-8", errors="replace").strip()
                if line:
                    yield line


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        files = text_files(FLAGS.input)
    except ValueError as e:
        raise app.UsageError(f"--input: {e}") from e
    print(f"Counting words in {len(files)} file(s), lower_case={FLAGS.lower_case}")
    start = time.time()
    counter = WordCounter(FLAGS.lower_case)
    batch, next_report = [], FLAGS.log_every
    for line in _lines(files):
        batch.append(line)
        if len(batch) == FLAGS.batch_size:
            counter.update(batch)
            batch = []
            if counter.num_texts >= next_report:
                print(f"  {counter.num_texts:,} lines read, {len(counter.counts):,} unique words")
                next_report += FLAGS.log_every
    counter.update(batch)
    if not counter.counts:
        raise app.UsageError(f"--input files hold no words: {files}")
    print(f"Read {counter.num_texts:,} lines: {sum(counter.counts.values()):,} words, "
          f"{len(counter.counts):,} unique ({time.time() - start:.1f}s)")
    unknown = unknown_word_rate(counter.counts, FLAGS.max_unique_chars)
    print(f"{100 * unknown:.3f}% of the words hold a character outside the "
          f"{FLAGS.max_unique_chars:,} most frequent ones and will be [UNK]")
    if unknown > _UNKNOWN_WARNING:
        logging.warning("More than %.1f%% of the words will be [UNK]: raise "
                        "--max_unique_chars (a script with thousands of characters, like "
                        "Chinese, needs about as many) and --vocab_size with it",
                        100 * _UNKNOWN_WARNING)
    start = time.time()
    vocab = vocab_from_counts(counter.counts, FLAGS.vocab_size, RESERVED_TOKENS,
                              max_unique_chars=FLAGS.max_unique_chars)
    write_vocab(vocab, FLAGS.output)
    pieces = sum(t.startswith("##") for t in vocab)
    print(f"Wrote {FLAGS.output}: {len(vocab):,} tokens ({len(RESERVED_TOKENS)} reserved, "
          f"{pieces:,} '##' continuation pieces) in {time.time() - start:.1f}s")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
