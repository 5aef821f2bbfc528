"""The API's class of each built-in task: `TaskModel` with the task's name set (and the
task's own methods, as `TextEncoder.embed`); `load` returns a saved model as its task's
class."""
from bert_tf.task_model.base import TaskModel


class TextClassifier(TaskModel):
    """Sentence (pair) classification; options: `ClassificationConfig`."""
    task_name = "classification"


class TokenClassifier(TaskModel):
    """Named-entity recognition / token tagging; options: `NerConfig`."""
    task_name = "ner"


class QuestionAnswerer(TaskModel):
    """Extractive question answering (SQuAD v1.1 / v2.0); options: `QaConfig`."""
    task_name = "qa"


class TextEncoder(TaskModel):
    """Text embeddings for retrieval; options: `EmbeddingConfig` (a sentence-transformers
    folder gives its pooling, normalisation and length). `fit(texts, texts_b)` trains on
    pairs with in-batch negatives."""
    task_name = "embedding"

    def embed(self, texts, batch_size=None):
        """float32 numpy [N, H], the texts' embeddings in input order (length-bucketed
        batches of `batch_size`, default the config's `eval_batch_size`)."""
        if isinstance(texts, str):  # predict would read it as a file path
            raise TypeError("embed takes a list of texts, got one str")
        return self.predict(texts, batch_size)
