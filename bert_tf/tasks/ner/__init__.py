"""Named-entity recognition: `NerTask` (task.py), its served entities with character
offsets (serving.py) and what its explanations target (explain.py). Its data are CoNLL
files (`bert_tf/data/conll.py`)."""
from bert_tf.tasks.ner.task import NerConfig, NerTask, label_vocabulary

__all__ = ["NerConfig", "NerTask", "label_vocabulary"]
