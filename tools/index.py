r"""Builds a passage index for `bert-search`: a corpus (a JSONL / CSV / plain-text file,
or a folder of them) cut into passages of --window words every --stride words, embedded
by a text encoder (a sentence-transformers folder such as all-MiniLM-L6-v2, a BERT
checkpoint, or a `TextEncoder.save` folder) and written to --output_dir (see
bert_tf/retrieval/index.py for the files).

    bert-index --model=path/to/all-MiniLM-L6-v2 --corpus=corpus/ --output_dir=indexes/rt
    bert-index --model=... --corpus=docs.jsonl --output_dir=indexes/docs --window=200 \
      --stride=150 --faiss_index=hnsw --overwrite

With --faiss_index=hnsw it also builds a FAISS HNSW index and prints its recall@10
against exact search (on a sample of the passages as queries). An existing index is
never overwritten without --overwrite.
"""
import os

from absl import flags

from bert_tf.retrieval import approximate_recall, build_index, load_text_encoder, read_corpus
from bert_tf.retrieval.index import check_writable
from bert_tf.retrieval.passages import DEFAULT_STRIDE, DEFAULT_WINDOW, check_window
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Text encoder folder: sentence-transformers, BERT "
                    "checkpoint, or a saved TextEncoder.")
flags.DEFINE_string("corpus", None, "Corpus file (.jsonl / .csv with a 'text' field and "
                    "optional 'id'; .txt: one record per line) or folder of them.")
flags.DEFINE_string("output_dir", None, "Folder to write the index to.")
flags.DEFINE_bool("overwrite", False, "Replace an index already in --output_dir.")
flags.DEFINE_integer("window", DEFAULT_WINDOW, "Words per passage.", lower_bound=1)
flags.DEFINE_integer("stride", DEFAULT_STRIDE, "Words between passage starts (<= window).",
                     lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Passages embedded per batch.", lower_bound=1)
flags.DEFINE_enum("faiss_index", "none", ["none", "hnsw"], "Also build a FAISS HNSW "
                  "index (needs faiss-cpu) for approximate search.")
for name in ("model", "corpus", "output_dir"):
    flags.mark_flag_as_required(name)


def main(argv):
    del argv
    # The cheap checks before seconds of loading the model and minutes of embedding.
    check_writable(FLAGS.output_dir, FLAGS.overwrite)
    check_window(FLAGS.window, FLAGS.stride)
    passages = read_corpus(FLAGS.corpus, FLAGS.window, FLAGS.stride)
    encoder = load_text_encoder(FLAGS.model)
    faiss_index = None if FLAGS.faiss_index == "none" else FLAGS.faiss_index
    index = build_index(encoder, passages, FLAGS.output_dir, FLAGS.overwrite,
                        FLAGS.batch_size, faiss_index, FLAGS.window, FLAGS.stride,
                        model_path=os.path.abspath(FLAGS.model))  # bert-search runs anywhere
    print(f"Indexed {len(passages)} passages of {len({p.doc_id for p in passages})} documents "
          f"({index.manifest['embedding_size']}-d, {index.manifest['pooling']} pooling) "
          f"in {FLAGS.output_dir}")
    if faiss_index:
        recall = approximate_recall(encoder, index, faiss_index)
        print(f"{faiss_index} recall@10 against exact search: {recall:.4f}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
