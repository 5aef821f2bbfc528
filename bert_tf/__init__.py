"""bert_tf: pretrain, fine-tune, export and serve BERT with TensorFlow and Keras 3.

    import bert_tf
    clf = bert_tf.TextClassifier.from_pretrained("path/to/checkpoint", labels=["neg", "pos"])
    clf.fit(train_texts, train_labels, epochs=2)      # or a file path, or a tf.data.Dataset
    clf.predict(["A fine film."])
    student = clf.distill(train_texts, train_labels, student_layers=3)  # a smaller model
    encoder, tokenizer = bert_tf.from_pretrained("path/to/checkpoint")  # Google or HF layout
    bert_tf.pretrain(PretrainingConfig(...), TrainingConfig(...))
"""
import os

# TensorFlow turns on its oneDNN CPU kernels (fused MatMul + bias + GELU, faster GEMMs)
# by default only on CPUs with AVX-512. They speed up training and prediction on AVX2 CPUs
# too (measured speed-ups: README, "CPU kernels"), so bert_tf asks for them unless the user
# chose (TF_ENABLE_ONEDNN_OPTS=0 opts out). TF reads the variable when it is imported: this
# is the first thing any `import bert_tf...` runs.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from bert_tf import corpora
from bert_tf.config import BertConfig
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.pretrained import (from_pretrained, load_encoder, load_pretraining_model,
                                load_tokenizer, save_pretrained)
from bert_tf.task_model import (QuestionAnswerer, TaskModel, TextClassifier,
                                TokenClassifier, load)
from bert_tf.text.packer import SegmentPacker
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.train.config import TrainingConfig
from bert_tf.train.distillation import DistillationConfig
from bert_tf.train.pretrain import PretrainingConfig, pretrain

__all__ = ["BertConfig", "corpora", "BertEncoder", "BertPretrainingModel", "BertTokenizer",
           "DistillationConfig", "PretrainingConfig", "QuestionAnswerer", "SegmentPacker",
           "TaskModel", "TextClassifier", "TokenClassifier", "TrainingConfig",
           "from_pretrained", "load", "load_encoder", "load_pretraining_model",
           "load_tokenizer", "pretrain", "save_pretrained"]
