"""Sentence (pair) classification: `ClassificationTask` (task.py), its data files
(reading.py) and what its explanations target (explain.py)."""
from bert_tf.tasks.classification.reading import TextExample, label_vocabulary, read_examples
from bert_tf.tasks.classification.task import ClassificationConfig, ClassificationTask

__all__ = ["ClassificationConfig", "ClassificationTask", "TextExample", "label_vocabulary",
           "read_examples"]
