r"""Exports a model as a TF Serving SavedModel that takes raw text.

    # a fine-tuned task folder (Task.save: model.keras, vocab.txt, task_config.json)
    bert-export --model_dir=runs/rt/export --export_base=exports --model_name=rt_sentiment
    # the same model computing in bfloat16 (float32 outputs): fast on CPUs with
    # AVX512_BF16 or AMX and on GPUs; on other CPUs slower than float32, and it says so
    bert-export --model_dir=runs/rt/export --export_base=exports --model_name=rt_bf16 \
        --dtype=bfloat16
    # one OpenVINO IR taking raw strings: exports/rt_ov/1/model.xml (bert-predict runs it)
    bert-export --model_dir=runs/rt/export --export_base=exports --model_name=rt_ov \
        --format=openvino
    # feature extraction from any pretrained checkpoint folder (Google or HF layout)
    bert-export --task=encoder --model_dir=uncased_L-12_H-768_A-12 \
        --export_base=exports --model_name=bert_base --max_seq_length=128
    # question answering over documents: a passage index (bert-index) and a QA reader
    bert-export --index_dir=indexes/squad_dev --reader_dir=runs/squad/export \
        --export_base=exports --model_name=squad_docs --k=5

Writes `<export_base>/<model_name>/<version>/` (version: the next integer, or
`--version`, which must not exist yet) with warmup requests in `assets.extra/`, adds the
model to `<export_base>/models.config` and writes `<export_base>/batching_parameters.txt`
if there is none. Signatures: `serving_default` (raw text), `serve_ids` (ids) and
`sequence_lengths` (each row's packed length, for client-side length bucketing); see
serving/README.md for running TF Serving on the export base. The version's
`assets.extra/export_config.json` records its dtype, task and options.

With --index_dir and --reader_dir the export answers questions from the index's
passages (bert_tf/retrieval/serving.py): `serving_default` takes `question` and returns
the answer, its passage and document ids, character offsets in the document and scores;
the question encoder (the index's model, or --encoder_dir), the passage embeddings and
texts and the reader are all inside it.
"""
import os

from absl import flags

from bert_tf.export import precision, tf_serving
from bert_tf.export.exporter import export, read_warmup_texts
from bert_tf.retrieval.reader import DEFAULT_RETRIEVAL_WEIGHT
from bert_tf.retrieval.serving import export_document_reader
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A fine-tuned task folder (Task.save), or with "
                    "--task=encoder any pretrained checkpoint folder.")
flags.DEFINE_enum("task", "auto", ["auto", "encoder"], "auto: the task the folder's "
                  "task_config.json names; encoder: feature extraction (sequence and "
                  "pooled outputs) from the folder's encoder.")
flags.DEFINE_string("export_base", None, "Folder TF Serving serves models from.")
flags.DEFINE_string("model_name", None, "Name clients request the model by.")
flags.DEFINE_integer("version", None, "Version number; default: the next integer. An "
                     "existing version is an error, never overwritten.")
flags.DEFINE_integer("max_seq_length", None, "Longest packed sequence of the raw-text "
                     "signature; default: the task's, or 128 for an encoder.")
flags.DEFINE_bool("text_pair", False, "With --task=encoder: serving_default takes text "
                  "and text_b.")
flags.DEFINE_string("warmup_texts_file", None, "UTF-8 file of example texts, one per "
                    "line, for the warmup requests; default: a few built-in sentences.")
flags.DEFINE_string("serving_base_path", "/models", "Where the SERVER sees export_base "
                    "(the container mount point); models.config's base_path is under it.")
flags.DEFINE_enum("batching_device", "cpu", sorted(tf_serving.BATCHING_PRESETS),
                  "Device the server runs the model on; picks batching_parameters.txt.")
flags.DEFINE_integer("num_batch_threads", os.cpu_count() or 1, "Batch threads for "
                     "batching_parameters.txt (the server's CPU cores).")
# A string checked by the library (not DEFINE_enum): a bad value is one line, the
# library's ValueError, as for every other user error of the binaries (tools/cli.py).
flags.DEFINE_string("dtype", "float32", "What the export computes in: "
                    f"{' or '.join(precision.EXPORT_DTYPES)} (outputs are float32 either "
                    "way). bfloat16 is faster only on CPUs with AVX512_BF16 or AMX, and GPUs.")
flags.DEFINE_string("format", "saved_model", "saved_model: a TF Serving SavedModel; "
                    "openvino: one OpenVINO IR taking raw strings (<version>/model.xml, "
                    "its tokenizer inside; --dtype is OpenVINO's inference precision).")
flags.DEFINE_string("index_dir", None, "Question answering over documents: a passage index "
                    "folder (bert-index); needs --reader_dir, replaces --model_dir.")
flags.DEFINE_string("reader_dir", None, "With --index_dir: a fine-tuned QA task folder.")
flags.DEFINE_string("encoder_dir", None, "With --index_dir: the text encoder folder, if not "
                    "where the index's manifest says it was.")
flags.DEFINE_integer("k", 5, "With --index_dir: passages read per question.")
flags.DEFINE_float("threshold", None, "With --index_dir: no answer when the best combined "
                   "score is below this; default: always answer.")
flags.DEFINE_float("retrieval_weight", DEFAULT_RETRIEVAL_WEIGHT, "With --index_dir: score = "
                   "reader start + end logit + this x retrieval cosine.")
flags.mark_flags_as_required(["export_base", "model_name"])


def main(argv):
    del argv
    warmup_texts = read_warmup_texts(FLAGS.warmup_texts_file) if FLAGS.warmup_texts_file \
        else None
    if FLAGS.index_dir:
        cli.require("reader_dir", "--index_dir (question answering over documents)")
        export_document_reader(FLAGS.index_dir, FLAGS.reader_dir, FLAGS.export_base,
                               FLAGS.model_name, FLAGS.k, FLAGS.threshold,
                               FLAGS.retrieval_weight, FLAGS.encoder_dir, FLAGS.dtype,
                               version=FLAGS.version, warmup_texts=warmup_texts,
                               serving_base_path=FLAGS.serving_base_path,
                               batching_device=FLAGS.batching_device,
                               num_batch_threads=FLAGS.num_batch_threads)
        return
    cli.require("model_dir", "an export (or give --index_dir and --reader_dir)")
    export(FLAGS.model_dir, FLAGS.export_base, FLAGS.model_name, FLAGS.task, FLAGS.version,
           FLAGS.max_seq_length, FLAGS.text_pair, warmup_texts, FLAGS.serving_base_path,
           FLAGS.batching_device, FLAGS.num_batch_threads, FLAGS.dtype, FLAGS.format)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
