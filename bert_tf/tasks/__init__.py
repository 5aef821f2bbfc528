"""Fine-tuning tasks, one per module, named as the task: `classification`, `ner` (and
`squad`). `base` holds what they share; `metrics` their whole-set metrics."""
from bert_tf.tasks.base import Task, load_task, model_features, register_task
