"""bert_tf: pretrain, fine-tune, export and serve BERT with TensorFlow and Keras 3.

    import bert_tf
    clf = bert_tf.TextClassifier.from_pretrained("path/to/checkpoint", labels=["neg", "pos"])
    clf.fit(train_texts, train_labels, epochs=2)      # or a file path, or a tf.data.Dataset
    clf.predict(["A fine film."])
    student = clf.distill(train_texts, train_labels, student_layers=3)  # a smaller model
    encoder, tokenizer = bert_tf.from_pretrained("path/to/checkpoint")  # Google or HF layout
    bert_tf.pretrain(PretrainingConfig(...), TrainingConfig(...))

The package is arranged in rooms that import only downwards (README, "Layout"; the
import-linter contract in setup.cfg holds it). The names below are imported on first use,
so that `import bert_tf.common.hardware` and the binaries' `--help` do not pay for
TensorFlow, and so that no room has to import the whole package.
"""
import importlib
import os
import sys

# TensorFlow turns on its oneDNN CPU kernels (fused MatMul + bias + GELU, faster GEMMs)
# by default only on CPUs with AVX-512. They speed up training and prediction on AVX2 CPUs
# too (measured speed-ups: README, "CPU kernels"), so bert_tf asks for them unless the user
# chose (TF_ENABLE_ONEDNN_OPTS=0 opts out). TF reads the variable when it is imported: this
# is the first thing any `import bert_tf...` runs.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TF's C++ INFO lines at import are start-up chatter, the same on every run: which CPU
# instructions its wheel was compiled for, that oneDNN's kernels are on (asked for just
# above), that its CUDA stub found no driver. Level 1 keeps TF's C++ warnings and errors;
# TF_CPP_MIN_LOG_LEVEL=0 brings the INFO lines back. (The binaries do the same:
# tools/cli.py.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

# Then the one error line TF's first op prints on a machine without a CUDA driver, left
# out (bert_tf/common/tf_startup.py; the standard library only, no TF, at import).
from bert_tf.common import tf_startup  # noqa: E402

# Public name -> the module that defines it.
_EXPORTS = {
    "BertConfig": "bert_tf.model.config",
    "BertEncoder": "bert_tf.model.encoder",
    "BertPretrainingModel": "bert_tf.model.pretraining",
    "BertTokenizer": "bert_tf.text.tokenizer",
    "SegmentPacker": "bert_tf.text.packer",
    "from_pretrained": "bert_tf.convert.pretrained",
    "load_encoder": "bert_tf.convert.pretrained",
    "load_pretraining_model": "bert_tf.convert.pretrained",
    "load_tokenizer": "bert_tf.convert.pretrained",
    "save_pretrained": "bert_tf.convert.pretrained",
    "TrainingConfig": "bert_tf.train.config",
    "DistillationConfig": "bert_tf.train.distillation",
    "PretrainingConfig": "bert_tf.train.pretrain",
    "pretrain": "bert_tf.train.pretrain",
    "TaskModel": "bert_tf.task_model",
    "TextClassifier": "bert_tf.task_model",
    "TokenClassifier": "bert_tf.task_model",
    "QuestionAnswerer": "bert_tf.task_model",
    "TextEncoder": "bert_tf.task_model",
    "load": "bert_tf.task_model",
}
_MODULES = {"corpora": "bert_tf.data.corpora", "retrieval": "bert_tf.retrieval"}

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")
    if "tensorflow" in sys.modules:  # before TF's first op probes for CUDA
        tf_startup.probe_devices_quietly()
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted([*globals(), *__all__])
