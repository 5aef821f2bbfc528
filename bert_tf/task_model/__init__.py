"""Task models: a fine-tuning task and its Keras model, driven from Python with raw data.

    import bert_tf

    clf = bert_tf.TextClassifier.from_pretrained("path/to/checkpoint", labels=["neg", "pos"],
                                                 max_seq_length=128)
    clf.fit("train.jsonl", validation_data="dev.jsonl", epochs=2, batch_size=32,
            learning_rate=5e-5)
    clf.evaluate("test.jsonl")               # {"accuracy": ..., "macro_f1": ..., "mcc": ...}
    clf.predict(["A fine film.", "Dull."])  # [{"label": "pos", "probabilities": {...}}, ...]
    clf.save("runs/rt"); clf = bert_tf.load("runs/rt")
    clf.export("exports", "rt_sentiment")    # exports/rt_sentiment/1, for TF Serving

`TokenClassifier` and `QuestionAnswerer` work the same way, and any registered task
through `TaskModel.from_pretrained(path, task="name")`. Data is a file path, Python
lists, the task's examples or a `tf.data.Dataset`; how training runs is a
`TrainingConfig` (`config=`, or keyword overrides of its fields). `model` is the plain
functional keras.Model (the three features in, logits out).
"""
from bert_tf.task_model.base import TaskModel, load
from bert_tf.task_model.classes import (QuestionAnswerer, TextClassifier, TextEncoder,
                                        TokenClassifier)

__all__ = ["TaskModel", "load", "TextClassifier", "TokenClassifier", "QuestionAnswerer",
           "TextEncoder"]
