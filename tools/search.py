r"""Searches an index built by `bert-index`: each query's --k best passages, one JSON
line per query ({"query", "results": [{"id", "doc_id", "start", "end", "text",
"score"}, ...]}, best first).

    bert-search --index=indexes/rt --query="a warm, funny film" --k=5
    bert-search --index=indexes/rt --query_file=queries.txt --backend=hnsw

The queries are embedded by the model that built the index (its manifest names it;
--model overrides, and must have the same vocabulary and embedding size). --backend:
exact (TF, in memory), flat (FAISS exact) or hnsw (FAISS approximate).
"""
import json

from absl import app, flags

from bert_tf.data import files
from bert_tf.retrieval import Searcher, load_index, load_text_encoder
from bert_tf.retrieval.search import BACKENDS
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("index", None, "Index folder (bert-index --output_dir).")
flags.DEFINE_multi_string("query", [], "A query (repeat the flag for more).")
flags.DEFINE_string("query_file", None, "UTF-8 file of queries, one per non-empty line.")
flags.DEFINE_integer("k", 10, "Passages per query.", lower_bound=1)
flags.DEFINE_enum("backend", "exact", list(BACKENDS), "How to search.")
flags.DEFINE_string("model", None, "Text encoder folder (default: the index's own).")
flags.DEFINE_integer("batch_size", 64, "Queries embedded per batch.", lower_bound=1)
flags.mark_flag_as_required("index")


def main(argv):
    del argv
    queries = list(FLAGS.query)
    if FLAGS.query_file:
        queries += [line for line in files.read_text(FLAGS.query_file).splitlines()
                    if line.strip()]
    if not queries:
        raise app.UsageError("give --query or --query_file")
    index = load_index(FLAGS.index)
    model = FLAGS.model or index.manifest.get("model")
    if not model:
        raise ValueError(f"{FLAGS.index}'s manifest names no model; pass --model")
    searcher = Searcher(load_text_encoder(model), index, FLAGS.backend)
    for query, results in zip(queries, searcher.search(queries, FLAGS.k, FLAGS.batch_size)):
        print(json.dumps({"query": query, "results": results}, ensure_ascii=False))


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
