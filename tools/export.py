r"""Exports a model as a TF Serving SavedModel that takes raw text.

    # a fine-tuned task folder (Task.save: model.keras, vocab.txt, task_config.json)
    bert-export --model_dir=runs/rt/export --export_base=exports --model_name=rt_sentiment
    # feature extraction from any pretrained checkpoint folder (Google or HF layout)
    bert-export --task=encoder --model_dir=uncased_L-12_H-768_A-12 \
        --export_base=exports --model_name=bert_base --max_seq_length=128

Writes `<export_base>/<model_name>/<version>/` (version: the next integer, or
`--version`, which must not exist yet) with warmup requests in `assets.extra/`, adds the
model to `<export_base>/models.config` and writes `<export_base>/batching_parameters.txt`
if there is none. Signatures: `serving_default` (raw text) and `serve_ids` (ids); see
serving/README.md for running TF Serving on the export base.
"""
import os
import posixpath

from absl import app, flags, logging

from bert_tf import pretrained
from bert_tf.export import tf_serving
from bert_tf.export.encoder import EncoderServingModule
from bert_tf.export.keras_layer import find_encoder
from bert_tf.export.ner import NerServingModule
from bert_tf.export.saved_model import export_saved_model
from bert_tf.export.task import TaskServingModule
from bert_tf.tasks.base import TASK_CONFIG_FILE, load_task

DEFAULT_ENCODER_SEQ_LENGTH = 128
# The export module of each task (by `Task.name`) whose outputs need more than the
# task's own postprocess; every other task is served by TaskServingModule.
SERVING_MODULES = {"ner": NerServingModule}

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
flags.mark_flags_as_required(["model_dir", "export_base", "model_name"])


def serving_module_from_folder(model_dir, task="auto", max_seq_length=None,
                               text_pair=False):
    """The export module for a fine-tuned task folder or (task="encoder") a checkpoint.

    Args:
      model_dir: str, a `Task.save` folder, or a Google/HF checkpoint folder.
      task: "auto" (the folder's task) or "encoder" (feature extraction).
      max_seq_length: int or None (the task's length; 128 for a checkpoint's encoder).
      text_pair: bool, for "encoder": take text and text_b.
    """
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"Model folder not found: {model_dir}")
    if task not in ("auto", "encoder"):
        raise ValueError(f"task must be 'auto' or 'encoder', got {task!r}")
    is_task_folder = os.path.isfile(os.path.join(model_dir, TASK_CONFIG_FILE))
    if task == "auto" and not is_task_folder:
        raise FileNotFoundError(
            f"{model_dir} has no {TASK_CONFIG_FILE}, so it is not a fine-tuned task folder; "
            "for a pretrained checkpoint pass --task=encoder")
    if is_task_folder:
        saved_task, model = load_task(model_dir)
        if task == "auto":
            module_class = SERVING_MODULES.get(saved_task.name, TaskServingModule)
            return module_class.for_task(saved_task, model, max_seq_length)
        encoder, tokenizer = find_encoder(model), saved_task.tokenizer
        max_seq_length = max_seq_length or saved_task.max_seq_length
    else:
        encoder, tokenizer = pretrained.from_pretrained(model_dir)
    return EncoderServingModule(encoder, tokenizer,
                                max_seq_length or DEFAULT_ENCODER_SEQ_LENGTH, text_pair)


def read_warmup_texts(path):
    """Non-empty lines of a UTF-8 file; ValueError if there are none."""
    with open(path, encoding="utf-8") as f:
        texts = [line.strip() for line in f if line.strip()]
    if not texts:
        raise ValueError(f"Warmup texts file {path} has no non-empty line")
    return texts


def export(model_dir, export_base, model_name, task="auto", version=None,
           max_seq_length=None, text_pair=False, warmup_texts=None,
           serving_base_path="/models", batching_device="cpu", num_batch_threads=1):
    """Everything `bert-export` does; returns the new version's folder."""
    module = serving_module_from_folder(model_dir, task, max_seq_length, text_pair)
    path = export_saved_model(module, export_base, model_name, version,
                              warmup_texts or tf_serving.DEFAULT_WARMUP_TEXTS)
    config_path = tf_serving.update_models_config(
        export_base, model_name, posixpath.join(serving_base_path, model_name))
    batching_path, written = tf_serving.write_batching_parameters(
        export_base, batching_device, num_batch_threads)
    print(f"Exported {model_name} version {os.path.basename(path)} to {path}\n"
          f"  serving_default: {', '.join(module.text_inputs)} (string [B]); "
          "serve_ids: input_word_ids, input_mask, input_type_ids (int32 [B, S])\n"
          f"  {config_path}: {model_name} -> {posixpath.join(serving_base_path, model_name)}\n"
          f"  {batching_path}: "
          + (f"written for {batching_device}" if written else "kept (it existed)"))
    if not written:
        logging.info("Kept the existing %s; delete it to write the %s preset",
                     batching_path, batching_device)
    return path


def main(argv):
    del argv
    export(FLAGS.model_dir, FLAGS.export_base, FLAGS.model_name, FLAGS.task, FLAGS.version,
           FLAGS.max_seq_length, FLAGS.text_pair,
           read_warmup_texts(FLAGS.warmup_texts_file) if FLAGS.warmup_texts_file else None,
           FLAGS.serving_base_path, FLAGS.batching_device, FLAGS.num_batch_threads)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
