r"""Builds a passage index for `bert-search` with an Apache Beam pipeline: the corpus
(as bert-index reads it) cut into passages of --window words every --stride words,
embedded by --saved_model (the export of --model, `TextEncoder.export` / bert-export)
on Beam's workers, written as --num_shards shards plus the manifest in --output_dir
(bert_tf/retrieval/beam.py). Flags that are not this binary's are Beam pipeline
options: the runner and its settings.

    bert-index-beam --model=all-MiniLM-L6-v2 --saved_model=exports/minilm/1 \
      --corpus=corpus/ --output_dir=indexes/big --num_shards=8 \
      --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing

Dataflow, Flink and Spark take their own flags instead (`--runner=DataflowRunner
--project=... --region=... --temp_location=gs://...`, `--runner=FlinkRunner
--flink_master=host:8081`, `--runner=SparkRunner --spark_master_url=spark://host:7077`);
see the README. An existing index is never overwritten without --overwrite.
"""
import os

from absl import flags

from bert_tf.retrieval import load_text_encoder
from bert_tf.retrieval.beam import DEFAULT_BATCH_SIZE, DEFAULT_NUM_SHARDS, build_index_pipeline
from bert_tf.retrieval.passages import DEFAULT_STRIDE, DEFAULT_WINDOW
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Text encoder folder the index is for (its vocabulary, "
                    "pooling; what bert-search embeds queries with).")
flags.DEFINE_string("saved_model", None, "The encoder's export (a version folder with the "
                    "embed signature), what the workers run.")
flags.DEFINE_string("corpus", None, "Corpus file (.jsonl / .csv with a 'text' field and "
                    "optional 'id'; .txt: one record per line) or folder of them.")
flags.DEFINE_string("output_dir", None, "Folder to write the index to (a local path, "
                    "gs://...).")
flags.DEFINE_bool("overwrite", False, "Replace an index already in --output_dir.")
flags.DEFINE_integer("window", DEFAULT_WINDOW, "Words per passage.", lower_bound=1)
flags.DEFINE_integer("stride", DEFAULT_STRIDE, "Words between passage starts (<= window).",
                     lower_bound=1)
flags.DEFINE_integer("num_shards", DEFAULT_NUM_SHARDS, "Shards of the embeddings and "
                     "passages.", lower_bound=1)
flags.DEFINE_integer("batch_size", DEFAULT_BATCH_SIZE, "Passages per SavedModel call.",
                     lower_bound=1)
for name in ("model", "saved_model", "corpus", "output_dir"):
    flags.mark_flag_as_required(name)


def main(argv):
    pipeline_options = argv[1:]  # the flags absl does not know: Beam's
    encoder = load_text_encoder(FLAGS.model)
    manifest = build_index_pipeline(
        encoder, FLAGS.saved_model, FLAGS.corpus, FLAGS.output_dir, FLAGS.window,
        FLAGS.stride, FLAGS.num_shards, pipeline_options, FLAGS.batch_size, FLAGS.overwrite,
        model_path=os.path.abspath(FLAGS.model))  # bert-search runs anywhere
    print(f"Indexed {manifest['num_passages']} passages in {len(manifest['shards'])} shards "
          f"in {FLAGS.output_dir} ({manifest['embedding_size']}-d, {manifest['pooling']} "
          "pooling)")


def run():
    cli.run(main, pass_unknown_flags=True)


if __name__ == "__main__":
    run()
