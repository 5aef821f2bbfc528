"""Fine-tuning tasks, one module each, named as the task: `classification`, `ner`, `qa`
(see README.md here for adding one). `base` holds the contract and registry,
`prediction` the prediction loop, `metrics` the whole-set metrics."""
from bert_tf.tasks.base import (Task, TaskConfig, get_task_class, load_task, model_features,
                                register_task, task_names)

__all__ = ["Task", "TaskConfig", "get_task_class", "load_task", "model_features",
           "register_task", "task_names"]
