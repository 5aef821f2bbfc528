"""Fine-tuning tasks, one folder each, named as the task: `classification/`, `ner/`,
`qa/` (README.md here walks through adding one). Beside them the shared contract and
machinery: `base.py` (Task, TaskConfig), `explain_target.py` (the explanation hooks),
`registry.py` (the one registry), `saving.py`, `examples.py`, `prediction.py`,
`metrics.py`."""
from bert_tf.tasks.base import Task, TaskConfig, model_features
from bert_tf.tasks.explain_target import ExplainTarget
from bert_tf.tasks.registry import get_task_class, register_task, task_names
from bert_tf.tasks.saving import load_task

__all__ = ["ExplainTarget", "Task", "TaskConfig", "get_task_class", "load_task",
           "model_features", "register_task", "task_names"]
