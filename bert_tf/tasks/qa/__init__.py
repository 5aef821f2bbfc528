"""Extractive question answering: `QaTask` (task.py: windows, head), its answers
(outputs.py), served outputs (serving.py), explanation target (explain.py) and the official
SQuAD scoring (scoring.py). Its data are SQuAD JSON files (`bert_tf/data/squad.py`)."""
from bert_tf.tasks.qa.outputs import NO_ANSWER
from bert_tf.tasks.qa.task import QaConfig, QaTask

__all__ = ["NO_ANSWER", "QaConfig", "QaTask"]
