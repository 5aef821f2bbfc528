"""Named-entity recognition (token tagging) on CoNLL-format data.

Data: CoNLL-2003 style files (`bert_tf/data/conll.py`). Tags may be IOB1, IOB2 or BIOES;
`tag_scheme` converts them on reading (e.g. CoNLL-2003's original IOB1 to IOB2), and the
model predicts tags of that scheme. Entity-level scores are the same in every scheme.

Words are the whitespace-separated tokens of a text, except that every CJK ideograph is
a word of its own (as BERT's tokenizer makes it), so Chinese or Japanese text is tagged
character by character without spaces (`bert_tf.text.words.split_words`). A sentence's
raw input is its tokens joined by spaces, so serving takes the same kind of text. Each
word is split into word pieces (`BertTokenizer.tokenize_words`); the label sits on its first piece, the other pieces
(and [CLS], [SEP], padding) get sample weight 0, so the loss and the token accuracy count
each word once. A word's predicted tag is the prediction at its first piece.

Words beyond `max_seq_length` pieces, and words that normalize to no piece at all
(e.g. a lone control character), get no prediction: they are tagged "O".

Model: the encoder's sequence output -> dropout -> Dense(num_tags) logits [B, S, T].
Served outputs (entities with character offsets): serving.py; explanations: explain.py.
"""
import dataclasses

import keras
import tensorflow as tf

from bert_tf.common.fields import config_field
from bert_tf.data.conll import (DOCSTART, OUTSIDE, TAG_SCHEMES, TaggedSentence, convert_tags,
                                read_conll)
from bert_tf.model.encoder import encoder_inputs
from bert_tf.tasks import metrics
from bert_tf.tasks.base import Task, TaskConfig, model_features, require_labels
from bert_tf.tasks.ner.explain import NerExplainTarget
from bert_tf.tasks.ner.serving import NerServing
from bert_tf.tasks.registry import register_task
from bert_tf.text.packer import packed_lengths
from bert_tf.text.words import NO_POSITION, split_words, split_words_with_offsets

def label_vocabulary(sentences):
    """"O" first, then the other tags of labelled sentences, sorted."""
    tags = {tag for sentence in sentences if sentence.tags for tag in sentence.tags}
    return [OUTSIDE] + sorted(tags - {OUTSIDE})


@dataclasses.dataclass
class NerConfig(TaskConfig):
    """Options of `NerTask` (each a `bert-finetune` flag)."""

    labels: list = config_field([], "Tag vocabulary, 'O' included; tag id = position "
                                    "(default: 'O' then the sorted tags of the training "
                                    "data).")
    tag_scheme: str | None = config_field(None, "Convert tags to this scheme on reading "
                                                "(default: keep the file's).",
                                          choices=TAG_SCHEMES)
    dropout_rate: float = config_field(0.1, "Dropout before the task's output layer.")

    def __post_init__(self):
        super().__post_init__()
        self.labels = [str(label) for label in self.labels]
        if self.labels and (OUTSIDE not in self.labels or len(self.labels) < 2):
            raise ValueError(f"NER labels must include 'O' and at least one entity tag, got "
                             f"{self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"Labels must be distinct, got {self.labels}")
        if self.tag_scheme is not None and self.tag_scheme not in TAG_SCHEMES:
            raise ValueError(f"Unknown tag scheme {self.tag_scheme!r}; use one of "
                             f"{TAG_SCHEMES}")


@register_task
class NerTask(NerExplainTarget, NerServing, Task):
    """Token tagging with the label on each word's first piece.

    Options (`NerConfig`): labels (the tag vocabulary, "O" included; tag id = position;
    may stay empty until training data gives it), tag_scheme (None, or the scheme data
    files are converted to, see `read_conll`), dropout_rate (on the sequence output).
    """

    name = "ner"
    config_class = NerConfig
    predictions_file = "predictions.conll"

    @property
    def default_monitor(self):
        return "f1"

    # --- data --------------------------------------------------------------------------
    def read_examples(self, path, require_labels=True):
        return read_conll(path, require_labels, self.tag_scheme)

    def examples_from(self, inputs, labels=None):
        """`inputs`: sentences, each a list of words or a string (`split_words` makes its
        words); `labels`: None or one list of tags per sentence, a tag per word."""
        if labels is not None and len(labels) != len(inputs):
            raise ValueError(f"{len(inputs)} sentences but {len(labels)} tag lists")
        examples = []
        for i, sentence in enumerate(inputs):
            tokens = tuple(split_words(sentence) if isinstance(sentence, str) else sentence)
            if not tokens or not all(isinstance(token, str) for token in tokens):
                raise ValueError(f"sentence {i}: expected a non-empty text or list of words, "
                                 f"got {sentence!r}")
            several = next((t for t in tokens if len(split_words(t)) != 1), None)
            if several is not None:
                raise ValueError(f"sentence {i}: word {several!r} is not one NER word (no "
                                 "spaces; every CJK character is a word of its own)")
            tags = None
            if labels is not None:
                tags = tuple(str(tag) for tag in labels[i])
                if len(tags) != len(tokens):
                    raise ValueError(f"sentence {i}: {len(tokens)} words but {len(tags)} "
                                     "tags")
                if self.tag_scheme:
                    tags = tuple(convert_tags(list(tags), self.tag_scheme))
            examples.append(TaggedSentence(tokens, tags, source=f"sentence {i}"))
        return examples

    def label_vocabulary(self, examples):
        return label_vocabulary(examples)

    def raw_input_spec(self):
        return {"text": tf.TensorSpec([None], tf.string, name="text")}

    def raw_inputs(self, examples):
        return {"text": [" ".join(sentence.tokens) for sentence in examples]}

    def tag_ids(self, sentence):
        """The sentence's tag ids; ValueError naming the sentence and tag if unknown."""
        if sentence.tags is None:
            raise ValueError(f"{sentence.source}: sentence has no tags")
        unknown = next((tag for tag in sentence.tags if tag not in self.label_ids), None)
        if unknown is not None:
            raise ValueError(f"{sentence.source}: unknown tag {unknown!r}; the task's tags are "
                             f"{self.labels}")
        return [self.label_ids[tag] for tag in sentence.tags]

    def targets(self, examples):
        """Tag ids per word, ragged int32 [N, (words)]."""
        return tf.ragged.constant([self.tag_ids(s) for s in examples], tf.int32,
                                  ragged_rank=1)

    def tokenize(self, raw):
        """{"text": [B]} to {"pieces": ragged int32 [B, (words), (pieces)]}, words as
        `split_words` makes them."""
        words, _, _ = split_words_with_offsets(raw["text"])
        return {"pieces": self.tokenizer.tokenize_words(words)}

    def pack(self, tokenized):
        """Pieces to the three features [B, S] and `word_positions` ragged int32
        [B, (words)]: the sequence position of each word's first piece, or -1 for a word
        that has none (no pieces, or cut off by truncation)."""
        pieces = tokenized["pieces"]
        features = self.packer([pieces])
        words = pieces.values  # [total words, (pieces)]
        # Index of each word's first piece within its sentence's pieces.
        sentence_start = tf.gather(words.row_splits, pieces.row_splits[:-1])  # [B]
        first_piece = words.row_starts() - tf.gather(sentence_start, pieces.value_rowids())
        position = tf.cast(first_piece, tf.int32) + 1  # after [CLS]
        kept_pieces = packed_lengths(features) - 2  # [CLS], [SEP]
        has_position = ((words.row_lengths() > 0)
                        & (position <= tf.gather(kept_pieces, pieces.value_rowids())))
        features["word_positions"] = tf.RaggedTensor.from_row_splits(
            tf.where(has_position, position, NO_POSITION), pieces.row_splits)  # [B, (words)]
        return features

    def training_batch(self, tokenized, targets):
        """Word tag ids to per-position labels and sample weights [B, S] (1 on each
        word's first piece, 0 elsewhere)."""
        features = self.pack(tokenized)
        positions = features.pop("word_positions")
        shape = tf.shape(features["input_word_ids"])
        # (sentence, position) of every word that has one, and its tag.
        sentence = tf.cast(positions.value_rowids(), tf.int32)
        kept = positions.flat_values != NO_POSITION
        indices = tf.stack([tf.boolean_mask(sentence, kept),
                            tf.boolean_mask(positions.flat_values, kept)], axis=1)
        labels = tf.scatter_nd(indices, tf.boolean_mask(targets.flat_values, kept), shape)
        weights = tf.scatter_nd(indices, tf.ones_like(indices[:, 0], tf.float32), shape)
        return model_features(features), labels, weights

    # --- model ---------------------------------------------------------------------------
    def build_model(self, encoder):
        require_labels(self)
        # Tagging does not use the pooler: frozen, it gets no (missing) gradients.
        encoder.pooler.trainable = False
        inputs = encoder_inputs()
        sequence_output = encoder(inputs)["sequence_output"]  # [B, S, H]
        x = keras.layers.Dropout(self.dropout_rate, name="dropout")(sequence_output)
        logits = keras.layers.Dense(
            len(self.labels), name="logits", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=encoder.bert_config.initializer_range))(x)  # [B, S, T]
        return keras.Model(inputs, logits, name="bert_tagger")

    def compile_args(self, optimizer):
        # Mean over the weighted (first-piece) positions, like HF's -100 label masking.
        return {"optimizer": optimizer,
                "loss": keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, reduction="mean_with_sample_weight"),
                "weighted_metrics": [
                    keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]}

    # --- outputs -------------------------------------------------------------------------
    def postprocess(self, logits, preprocessed):
        """logits [B, S, T] to per-word `tag_ids` int32 and `tags` string, ragged
        [B, (words)]; words without a position are tagged "O"."""
        positions = preprocessed["word_positions"]
        dense_positions = positions.to_tensor(NO_POSITION)  # [B, W]
        position_tag = tf.argmax(logits, axis=-1, output_type=tf.int32)  # [B, S]
        word_tag = tf.gather(position_tag, tf.maximum(dense_positions, 0), batch_dims=1)
        word_tag = tf.where(dense_positions == NO_POSITION, self.label_ids[OUTSIDE], word_tag)
        tag_ids = tf.RaggedTensor.from_tensor(word_tag, lengths=positions.row_lengths())
        return {"tag_ids": tag_ids,
                "tags": tf.gather(tf.constant(self.labels), tag_ids)}

    def predictions(self, examples, outputs):
        """A list of tags per sentence."""
        return [[tag.decode("utf-8") for tag in tags] for tags in outputs["tags"].to_list()]

    def evaluate_predictions(self, examples, predictions):
        """Entity-level precision, recall and F1 (conlleval)."""
        for sentence in examples:
            self.tag_ids(sentence)  # unknown or missing tags are errors
        return metrics.entity_metrics([list(s.tags) for s in examples], predictions)

    def write_predictions(self, path, examples, predictions):
        """CoNLL: `token [true_tag] predicted_tag` per line (conlleval's input when the
        sentences have tags), blank lines between sentences, -DOCSTART- between
        documents."""
        with open(path, "w", encoding="utf-8") as f:
            document = None
            for sentence, tags in zip(examples, predictions):
                if sentence.document != document:
                    document = sentence.document
                    f.write(f"{DOCSTART} O\n\n" if sentence.tags else f"{DOCSTART}\n\n")
                true_tags = sentence.tags or [None] * len(tags)
                for token, true_tag, tag in zip(sentence.tokens, true_tags, tags):
                    f.write(" ".join(x for x in (token, true_tag, tag) if x) + "\n")
                f.write("\n")
