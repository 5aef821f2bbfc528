"""Text embeddings for retrieval: one vector per text, pooled from the encoder's token
vectors (`cls`, `mean` or `max`, optionally L2-normalised), trained on pairs of texts
that belong together (a query and its passage, two paraphrases) with in-batch negatives.

A sentence-transformers folder (all-MiniLM-L6-v2, ...) brings its own pooling,
normalisation and length (`folder.py`); its vectors here equal those of
`SentenceTransformer.encode` (tests/test_task_embedding.py). The served outputs are
`embeddings` float32 [B, H], under the raw-text signature `embed` (= `serving_default`).

    task = EmbeddingTask(tokenizer, max_seq_length=256, pooling="mean", normalize=True)
    model = task.build_model(encoder)       # features -> embeddings [B, H]
"""
import dataclasses
import json

import keras
import numpy as np
import tensorflow as tf

from bert_tf.common.fields import config_field
from bert_tf.model.encoder import encoder_inputs
from bert_tf.tasks.base import Task, TaskConfig, model_features
from bert_tf.tasks.classification import reading
from bert_tf.tasks.embedding.folder import sentence_transformers_options
from bert_tf.tasks.embedding.pooling import POOLING_MODES, EmbeddingPooling, InBatchNegativesLoss
from bert_tf.tasks.registry import register_task

_SCORE_ROWS = 1024  # anchors scored at a time by `pair_metrics` (bounds its memory)


@dataclasses.dataclass(frozen=True)
class TextPair:
    """A text and, for training and evaluation, the text it belongs with.

    Attributes:
        text: the text to embed (a query, a sentence).
        text_b: its positive (the passage it should retrieve), or None to embed only.
        source: "file:line" or "input i", for error messages.
    """
    text: str
    text_b: str | None = None
    source: str = ""

    @property
    def is_labelled(self):
        return self.text_b is not None


@dataclasses.dataclass
class EmbeddingConfig(TaskConfig):
    """Options of `EmbeddingTask` (each a `bert-finetune` flag). A sentence-transformers
    folder sets pooling, normalize and max_seq_length (`from_pretrained`)."""

    pooling: str = config_field("mean", "How the token vectors become one.",
                                choices=POOLING_MODES)
    normalize: bool = config_field(True, "Scale each embedding to unit L2 norm (dot product "
                                         "= cosine).")
    scale: float = config_field(20.0, "Contrastive training: cosine similarities are "
                                      "multiplied by this before the softmax over the batch.")
    text_column: str = config_field("text", "Column of the text to embed (a query).")
    text_b_column: str = config_field("text_b", "Column of the text it belongs with (its "
                                                "passage), for training and evaluation.")

    def __post_init__(self):
        super().__post_init__()
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        self.normalize = bool(self.normalize)
        if not float(self.scale) > 0:
            raise ValueError(f"scale must be > 0, got {self.scale!r}")
        self.scale = float(self.scale)


def pair_metrics(anchors, positives):
    """recall_at_1 (the share of rows whose nearest positive, by cosine, among all the
    positives is their own) and mean_pair_cosine, of float [N, H] arrays."""
    def unit(x):
        x = np.asarray(x, np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    anchors, positives = unit(anchors), unit(positives)
    hits = 0
    for start in range(0, len(anchors), _SCORE_ROWS):
        scores = anchors[start:start + _SCORE_ROWS] @ positives.T
        hits += int(np.sum(np.argmax(scores, axis=1) == np.arange(start, start + len(scores))))
    return {"recall_at_1": hits / len(anchors),
            "mean_pair_cosine": float(np.mean(np.sum(anchors * positives, axis=1)))}


@register_task
class EmbeddingTask(Task):
    """Text embeddings; options: `EmbeddingConfig`. Training data: (text, text_b) pairs,
    as a file with `text_column` and `text_b_column` (CSV / TSV / JSONL), or lists
    `fit(texts, texts_b)`; the other pairs of a batch are each text's negatives."""

    name = "embedding"
    config_class = EmbeddingConfig
    predictions_file = "predictions.jsonl"  # one embedding a line
    text_signature_alias = "embed"

    @classmethod
    def checkpoint_options(cls, checkpoint):
        return sentence_transformers_options(checkpoint)

    @property
    def default_monitor(self):
        return "recall_at_1"

    # --- data --------------------------------------------------------------------------
    def read_examples(self, path, require_labels=True):
        # A pair's second text is read the way classification reads a label.
        rows = reading.read_examples(path, self.text_column, None, self.text_b_column,
                                     require_labels)
        for row in rows:
            if row.label is not None and not row.label.strip():
                raise ValueError(f"{row.source}: column {self.text_b_column!r} is empty")
        return [TextPair(row.text, row.label, row.source) for row in rows]

    def examples_from(self, inputs, labels=None):
        """`inputs`: texts, or (text, text_b) pairs as training data holds them; `labels`:
        None, or the text each one belongs with."""
        if labels is not None and len(labels) != len(inputs):
            raise ValueError(f"{len(inputs)} texts but {len(labels)} texts to pair them with")
        examples = []
        for i, text in enumerate(inputs):
            text_b = None if labels is None else labels[i]
            if isinstance(text, (tuple, list)) and len(text) == 2 and labels is None:
                text, text_b = text
            for value in (text, text_b):
                if value is not None and (not isinstance(value, str) or not value.strip()):
                    raise ValueError(f"input {i}: expected a non-empty text, got {value!r}")
            examples.append(TextPair(text, text_b, f"input {i}"))
        return examples

    def raw_input_spec(self):
        return {"text": tf.TensorSpec([None], tf.string, name="text")}

    def raw_inputs(self, examples):
        return {"text": [ex.text for ex in examples]}

    def targets(self, examples):
        """The second texts, string [N] (training tokenizes them with the first)."""
        missing = next((ex for ex in examples if ex.text_b is None), None)
        if missing:
            raise ValueError(f"{missing.source}: no second text ({self.text_b_column}) to "
                             "pair the text with")
        return np.array([ex.text_b for ex in examples], dtype=object)

    def tokenize(self, raw):
        return {"text": self.tokenizer.tokenize(raw["text"])}

    def pack(self, tokenized):
        return self.packer([tokenized["text"]])

    def training_batch(self, tokenized, targets):
        """Graph: P pairs -> features of 2P rows, interleaved [a0, b0, a1, b1, ...], which
        `InBatchNegativesLoss` splits again; the labels are unused zeros [2P]."""
        num_pairs = tf.shape(targets)[0]
        both = tf.concat([tokenized["text"], self.tokenizer.tokenize(targets)], axis=0)
        interleaved = tf.reshape(tf.stack([tf.range(num_pairs), tf.range(num_pairs) + num_pairs],
                                          axis=1), [-1])
        features = model_features(self.packer([tf.gather(both, interleaved)]))
        return features, tf.zeros([2 * num_pairs])

    # --- model ---------------------------------------------------------------------------
    def build_model(self, encoder):
        inputs = encoder_inputs()
        sequence_output = encoder(inputs)["sequence_output"]  # [B, S, H]
        embeddings = EmbeddingPooling(self.pooling, self.normalize, name="embedding_pooling")(
            sequence_output, inputs["input_mask"])  # float32 [B, H]
        return keras.Model(inputs, embeddings, name="bert_text_encoder")

    def compile_args(self, optimizer):
        return {"optimizer": optimizer, "loss": InBatchNegativesLoss(self.scale)}

    # --- outputs -------------------------------------------------------------------------
    def postprocess(self, logits, preprocessed):
        """The model's output is the embeddings: `embeddings` float32 [B, H]."""
        return {"embeddings": logits}

    def predictions(self, examples, outputs):
        """float32 numpy [N, H], row i the embedding of example i's text."""
        return outputs["embeddings"].numpy().astype(np.float32)

    def evaluator(self, examples, batch_size=64, bucket_by_length=None):
        """Scores a model on pairs: both texts of each are embedded (see
        `evaluate_predictions`)."""
        self.targets(examples)  # every example must be a pair
        both = list(examples) + [TextPair(ex.text_b, None, ex.source) for ex in examples]
        return lambda model: self.evaluate_predictions(
            examples, self.predict(model, both, batch_size, bucket_by_length))

    def evaluate_predictions(self, examples, predictions):
        """`pair_metrics` of the embeddings of the N examples' texts followed by those of
        their second texts (predictions [2N, H], as `evaluator` makes them)."""
        if len(predictions) != 2 * len(examples):
            raise ValueError(f"{len(examples)} pairs need {2 * len(examples)} embeddings "
                             f"(texts, then second texts), got {len(predictions)}")
        return pair_metrics(predictions[:len(examples)], predictions[len(examples):])

    def write_predictions(self, path, examples, predictions):
        """JSON lines: the text and its `embedding` (a list of H floats)."""
        with open(path, "w", encoding="utf-8") as f:
            for example, embedding in zip(examples, predictions):
                f.write(json.dumps({"text": example.text,
                                    "embedding": [float(v) for v in embedding]},
                                   ensure_ascii=False) + "\n")
