"""Exports a fine-tuned task or a pretrained checkpoint for TF Serving: what
`bert-export` and `TaskModel.export` do.

    path = export("runs/rt/export", "exports", "rt_sentiment")   # exports/rt_sentiment/1
    path = export("runs/rt/export", "exports", "rt_bf16", dtype="bfloat16")
    path = export(checkpoint_dir, "exports", "bert_base", task="encoder")
    path = export_module(serving_module(task, model), "exports", "rt_sentiment")

Every SavedModel has the signatures `serving_default` (raw text), `serve_ids` (token
ids) and `sequence_lengths` (see serving_module.py); a task that can explain adds
`explain` (see task.py). `dtype` is what it computes in: "float32" (default) or
"bfloat16" (see precision.py; float32 outputs either way), recorded in the version's
`assets.extra/export_config.json`.
"""
import os
import posixpath

from absl import logging

from bert_tf.convert import pretrained
from bert_tf.export import precision, runtime, tf_serving
from bert_tf.export.openvino import export_openvino
from bert_tf.export.encoder import EncoderServingModule
from bert_tf.model.encoder import find_encoder
from bert_tf.export.saved_model import export_saved_model
from bert_tf.export.task import TaskServingModule
from bert_tf.tasks.saving import TASK_CONFIG_FILE, load_task
from bert_tf.train import placement

DEFAULT_ENCODER_SEQ_LENGTH = 128
# --format's writers besides the SavedModel's (runtime.RUNTIME_FORMATS).
RUNTIME_EXPORTERS = {"openvino": export_openvino}
EXPORT_FORMATS = ("saved_model", *runtime.RUNTIME_FORMATS)


def serving_module(task, model, max_seq_length=None, dtype="float32"):
    """The export module of a fine-tuned task (`TaskServingModule`, any task).

    Args:
      task, model: a `bert_tf.tasks.Task` and its keras.Model.
      max_seq_length: int or None (the task's own).
      dtype: what the export computes in, one of `precision.EXPORT_DTYPES` ("float32",
        "bfloat16"; the model is rebuilt in it if it computes in another), or None: as
        `model` computes (e.g. a model you quantized with `model.quantize`).
    """
    model = placement.merge_adapters(model, task.build_model)  # no LoRA matmuls served
    if dtype is not None:
        model = precision.in_dtype(model, dtype, task.build_model)
        precision.warn_if_slow(dtype)
    return TaskServingModule.for_task(task, model, max_seq_length)


def serving_module_from_folder(model_dir, task="auto", max_seq_length=None,
                               text_pair=False, dtype="float32"):
    """The export module for a fine-tuned task folder or (task="encoder") a checkpoint.

    Args:
      model_dir: str, a `Task.save` folder, or a Google/HF checkpoint folder.
      task: "auto" (the folder's task) or "encoder" (feature extraction).
      max_seq_length: int or None (the task's length; 128 for a checkpoint's encoder).
      text_pair: bool, for "encoder": take text and text_b.
      dtype: "float32" or "bfloat16", what the export computes in (precision.py).
    """
    precision.check_dtype(dtype)  # before seconds of loading
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
            return serving_module(saved_task, model, max_seq_length, dtype)
        encoder, tokenizer = find_encoder(model), saved_task.tokenizer
        max_seq_length = max_seq_length or saved_task.max_seq_length
    else:
        encoder, tokenizer = pretrained.from_pretrained(model_dir)
    encoder = precision.in_dtype(encoder, dtype)
    precision.warn_if_slow(dtype)
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
           serving_base_path="/models", batching_device="cpu", num_batch_threads=1,
           dtype="float32", export_format="saved_model"):
    """Everything `bert-export` does; returns the new version's folder. `dtype`:
    "float32" or "bfloat16", what the export computes in (see precision.py).
    `export_format`: "saved_model" (TF Serving), or one of `runtime.RUNTIME_FORMATS`, a
    raw-text file for another CPU runtime (runtime.py; the serving options unused)."""
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}; got "
                         f"{export_format!r}")
    if export_format in RUNTIME_EXPORTERS:
        precision.check_dtype(dtype)
        # The runtime's graph is converted from float32; `dtype` is its run-time precision.
        module = serving_module_from_folder(model_dir, task, max_seq_length, text_pair)
        return RUNTIME_EXPORTERS[export_format](module, export_base, model_name, version,
                                                warmup_texts, dtype)
    module = serving_module_from_folder(model_dir, task, max_seq_length, text_pair, dtype)
    return export_module(module, export_base, model_name, version, warmup_texts,
                         serving_base_path, batching_device, num_batch_threads)


def export_module(module, export_base, model_name, version=None, warmup_texts=None,
                  serving_base_path="/models", batching_device="cpu", num_batch_threads=1):
    """Writes `module` (a `ServingModule`, or any tf.Module with its `endpoints`,
    `export_config`, `signature_summary`, `text_inputs` and `dtype`) as `export_base/model_name/VERSION` (the next version unless
    given; never overwriting one) with warmup requests, and updates the TF Serving
    `models.config` and batching parameters in `export_base`. Returns the version's
    folder."""
    path = export_saved_model(module, export_base, model_name, version,
                              warmup_texts or tf_serving.DEFAULT_WARMUP_TEXTS)
    config_path = tf_serving.update_models_config(
        export_base, model_name, posixpath.join(serving_base_path, model_name))
    batching_path, written = tf_serving.write_batching_parameters(
        export_base, batching_device, num_batch_threads)
    print(f"Exported {model_name} version {os.path.basename(path)} to {path}, computing "
          f"in {module.dtype}\n"
          f"  {module.signature_summary()}\n"
          f"  {config_path}: {model_name} -> {posixpath.join(serving_base_path, model_name)}\n"
          f"  {batching_path}: "
          + (f"written for {batching_device}" if written else "kept (it existed)"))
    if not written:
        logging.info("Kept the existing %s; delete it to write the %s preset",
                     batching_path, batching_device)
    return path
