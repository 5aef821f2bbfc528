r"""Turns plain text into pretraining TFRecords: sentence pairs with next-sentence labels and
masked-LM predictions (google-research/bert's create_pretraining_data.py).

    bert-create-pretraining-data --input_file='books/*.txt,wiki/*.txt' \
        --output_dir=data/pretrain --vocab_file=vocab.txt --max_seq_length=128 \
        --max_predictions_per_seq=20 --dupe_factor=10 --num_workers=8

Input: one sentence per line, a blank line between documents. Output: one shard per input
file, `output_dir/pretrain-IIIII-of-NNNNN.tfrecord`, and `output_dir/metadata.json`. The
output depends only on the inputs, the vocab, the options and --seed, not on
--num_workers. The options are the fields of `PretrainingDataOptions`
(bert_tf/data/create.py), flags of the same name (google-research/bert's
--do_whole_word_mask is --whole_word_masking, its --random_seed --seed);
`--config_file` sets any of them. With --dynamic_masking the records are not masked;
bert-pretrain --dynamic_masking then masks them anew in every epoch.
"""
from absl import app, flags, logging

from bert_tf.data import PretrainingDataOptions, create_pretraining_data
from bert_tf.train import flags as train_flags
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Comma-separated globs of input text files.")
flags.DEFINE_string("output_dir", None, "New (or empty) folder for the TFRecord shards.")
flags.DEFINE_string("vocab_file", None, "vocab.txt to tokenize with.")
flags.DEFINE_bool("do_lower_case", None, "Lower-case the text (default: inferred from the "
                  "vocab).")
flags.DEFINE_integer("num_workers", 1, "Processes working on input files in parallel.")
flags.mark_flags_as_required(["input_file", "output_dir", "vocab_file"])
train_flags.define_config_file_flag()
train_flags.define_flags(PretrainingDataOptions)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_flags.apply_config_file(FLAGS)
    try:
        options = train_flags.config_from_flags(PretrainingDataOptions)
    except ValueError as e:  # settings are flags here: say it without a traceback
        raise app.UsageError(str(e)) from None
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
