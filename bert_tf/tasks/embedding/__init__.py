"""Text embeddings for retrieval: `EmbeddingTask` (task.py), its pooling and contrastive
loss (pooling.py) and the options of a sentence-transformers folder (folder.py)."""
from bert_tf.tasks.embedding.folder import sentence_transformers_options
from bert_tf.tasks.embedding.task import (EmbeddingConfig, EmbeddingTask, TextPair,
                                          pair_metrics)

__all__ = ["EmbeddingConfig", "EmbeddingTask", "TextPair", "pair_metrics",
           "sentence_transformers_options"]
