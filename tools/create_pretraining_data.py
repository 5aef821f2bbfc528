r"""Turns plain text into pretraining TFRecords: sentence pairs with next-sentence labels and
masked-LM predictions (google-research/bert's create_pretraining_data.py).

    bert-create-pretraining-data --input_file='books/*.txt,wiki/*.txt' \
        --output_dir=data/pretrain --vocab_file=vocab.txt --max_seq_length=128 \
        --max_predictions_per_seq=20 --dupe_factor=10 --num_workers=8

Input: one sentence per line, a blank line between documents. Output: one shard per input
file, `output_dir/pretrain-IIIII-of-NNNNN.tfrecord`, and `output_dir/metadata.json`. The
output depends only on the inputs, the vocab, the options and --random_seed, not on
--num_workers. With --dynamic_masking the records are not masked; bert-pretrain
--dynamic_masking then masks them anew in every epoch.
"""
from absl import flags, logging

from bert_tf.data import PretrainingDataOptions, create_pretraining_data
from bert_tf_tools import cli

FLAGS = flags.FLAGS
_DEFAULTS = PretrainingDataOptions()
flags.DEFINE_string("input_file", None, "Comma-separated globs of input text files.")
flags.DEFINE_string("output_dir", None, "New (or empty) folder for the TFRecord shards.")
flags.DEFINE_string("vocab_file", None, "vocab.txt to tokenize with.")
flags.DEFINE_bool("do_lower_case", None, "Lower-case the text (default: inferred from the "
                  "vocab).")
flags.DEFINE_integer("max_seq_length", _DEFAULTS.max_seq_length, "Tokens per sequence.")
flags.DEFINE_integer("max_predictions_per_seq", _DEFAULTS.max_predictions_per_seq,
                     "Masked-LM predictions per sequence, at most.")
flags.DEFINE_float("masked_lm_prob", _DEFAULTS.masked_lm_prob, "Fraction of tokens masked.")
flags.DEFINE_float("short_seq_prob", _DEFAULTS.short_seq_prob,
                   "Probability of aiming at a shorter sequence than max_seq_length.")
flags.DEFINE_integer("dupe_factor", _DEFAULTS.dupe_factor,
                     "Passes over the input, each with different pairs and masks.")
flags.DEFINE_bool("do_whole_word_mask", _DEFAULTS.whole_word_masking,
                  "Mask all word pieces of a word together.")
flags.DEFINE_enum("word_boundaries", _DEFAULTS.word_boundaries, ["wordpiece", "whitespace"],
                  "What a whole word is: 'wordpiece', a piece and its '##' pieces; "
                  "'whitespace', the pieces between two spaces of the text (text segmented "
                  "with spaces, e.g. Chinese, whose characters the tokenizer splits).")
flags.DEFINE_bool("dynamic_masking", _DEFAULTS.dynamic_masking,
                  "Write unmasked records, to be masked in the training input pipeline.")
flags.DEFINE_integer("random_seed", _DEFAULTS.seed, "Seed of every random choice.")
flags.DEFINE_integer("num_workers", 1, "Processes working on input files in parallel.")
flags.mark_flags_as_required(["input_file", "output_dir", "vocab_file"])


def main(argv):
    del argv
    options = PretrainingDataOptions(
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        masked_lm_prob=FLAGS.masked_lm_prob, short_seq_prob=FLAGS.short_seq_prob,
        dupe_factor=FLAGS.dupe_factor, whole_word_masking=FLAGS.do_whole_word_mask,
        word_boundaries=FLAGS.word_boundaries, dynamic_masking=FLAGS.dynamic_masking,
        seed=FLAGS.random_seed)
    metadata = create_pretraining_data(FLAGS.input_file, FLAGS.output_dir, FLAGS.vocab_file,
                                       options, lower_case=FLAGS.do_lower_case,
                                       num_workers=FLAGS.num_workers)
    totals = metadata["totals"]
    logging.info("Wrote %d instances from %d documents (%d sentences, %d tokens) to %d "
                 "shards in %s", totals["instances"], totals["documents"],
                 totals["sentences"], totals["tokens"], len(metadata["shards"]),
                 FLAGS.output_dir)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
