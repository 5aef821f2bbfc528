"""Named-entity recognition (token tagging) on CoNLL-format data.

Data: CoNLL-2003 style files: one token per line, the token first and its tag last
(`EU NNP B-NP B-ORG`); a blank line ends a sentence; `-DOCSTART-` lines separate
documents. Tags may be IOB1, IOB2 or BIOES; `tag_scheme` converts them on reading
(e.g. CoNLL-2003's original IOB1 to IOB2), and the model predicts tags of that scheme.
Entity-level scores are the same in every scheme (see `metrics.entity_spans`).

Words are the whitespace-separated tokens of a text, except that every CJK ideograph is
a word of its own (as BERT's tokenizer makes it), so Chinese or Japanese text is tagged
character by character without spaces (`split_words`). A sentence's raw input is its
tokens joined by spaces, so serving takes the same kind of text. Each word is split into word pieces
(`BertTokenizer.tokenize_words`); the label sits on its first piece, the other pieces
(and [CLS], [SEP], padding) get sample weight 0, so the loss and the token accuracy count
each word once. A word's predicted tag is the prediction at its first piece.

Words beyond `max_seq_length` pieces, and words that normalize to no piece at all
(e.g. a lone control character), get no prediction: they are tagged "O".

Model: the encoder's sequence output -> dropout -> Dense(num_tags) logits [B, S, T].
"""
import dataclasses
import functools
import io
import os
import re

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.data import files
from bert_tf.explain import words as explain_words
from bert_tf.model.encoder import encoder_inputs
from bert_tf.common.fields import config_field
from bert_tf.tasks import metrics
from bert_tf.tasks.base import Task, TaskConfig, model_features, register_task, require_labels
from bert_tf.text.packer import packed_lengths
from bert_tf.text.unicode_tables import CJK_PY_CLASS, CJK_RE2_CLASS

TAG_SCHEMES = ("iob1", "iob2", "bioes")
DOCSTART = "-DOCSTART-"
OUTSIDE = "O"
NO_POSITION = -1  # word_positions of a word without a first piece in the sequence
# A word: a run of non-space characters, or one CJK ideograph. Spaces are ASCII
# whitespace; the same classes for TF's RE2 (`split_words_with_offsets`) and Python's re.
_SPACE = r"[ \t\n\v\f\r]"
_PY_WORD = re.compile(rf"{CJK_PY_CLASS}|[^ \t\n\v\f\r{CJK_PY_CLASS[1:-1]}]+")


def split_words(text):
    """The NER words of a str: whitespace-separated tokens, each CJK ideograph apart."""
    return _PY_WORD.findall(text)


def split_words_spans(text):
    """`split_words` as (start, end) character offsets into `text`."""
    return [match.span() for match in _PY_WORD.finditer(text)]


def split_words_with_offsets(texts):
    """`split_words` in the graph: texts [B] to (words, starts, ends), ragged [B, (words)],
    byte offsets."""
    return tf_text.regex_split_with_offsets(texts, rf"{_SPACE}+|{CJK_RE2_CLASS}",
                                            CJK_RE2_CLASS)


@dataclasses.dataclass(frozen=True)
class TaggedSentence:
    """One sentence of a CoNLL file.

    Attributes:
        tokens: tuple of str, the words.
        tags: tuple of str (one per token), or None for unlabelled prediction input.
        document: int, index of the `-DOCSTART-` document the sentence belongs to.
        source: "file:line" of its first token, for error messages.
    """
    tokens: tuple
    tags: tuple | None
    document: int = 0
    source: str = ""

    @property
    def is_labelled(self):
        return self.tags is not None


def convert_tags(tags, scheme):
    """Re-encodes a tag sequence's entities (as conlleval reads them) in `scheme`.

    Args:
        tags: list of str in IOB1, IOB2 or BIOES.
        scheme: "iob1" (B- only between two adjacent entities of one type), "iob2"
            (B- starts every entity) or "bioes" (S- single, B-/I-/E- longer).
    Returns:
        list of str, the same length.
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; use one of {TAG_SCHEMES}")
    converted = [OUTSIDE] * len(tags)
    previous_end = {}  # entity type -> end index of its last entity
    for entity_type, start, end in metrics.entity_spans(tags):
        for i in range(start, end + 1):
            converted[i] = f"I-{entity_type}"
        if scheme == "iob2" or (scheme == "iob1" and previous_end.get(entity_type) == start - 1):
            converted[start] = f"B-{entity_type}"
        elif scheme == "bioes":
            if start == end:
                converted[start] = f"S-{entity_type}"
            else:
                converted[start], converted[end] = f"B-{entity_type}", f"E-{entity_type}"
        previous_end[entity_type] = end
    return converted


def read_conll(path, require_labels=True, tag_scheme=None):
    """Reads a CoNLL-format file into sentences.

    Args:
        path: the file.
        require_labels: every token line must end in a tag (training / evaluation). When
            False, a file whose lines hold only tokens gives sentences with `tags=None`.
        tag_scheme: None keeps the file's tags; else one of TAG_SCHEMES to convert to.
    Returns:
        list of TaggedSentence.
    Raises:
        FileNotFoundError; ValueError naming file:line for a malformed line or tag.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CoNLL file not found: {path}")
    sentences = []
    tokens, tags, start_line, document = [], [], None, 0

    def end_sentence():
        nonlocal tokens, tags, start_line
        if tokens:
            has_tags = tags[0] is not None
            if has_tags and tag_scheme:
                tags = convert_tags(tags, tag_scheme)
            sentences.append(TaggedSentence(tuple(tokens), tuple(tags) if has_tags else None,
                                            document, f"{path}:{start_line}"))
        tokens, tags, start_line = [], [], None

    with io.StringIO(files.read_text(path)) as f:
        for line_number, line in enumerate(f, 1):
            fields = line.split()
            where = f"{path}:{line_number}"
            if not fields:
                end_sentence()
                continue
            if fields[0] == DOCSTART:
                end_sentence()
                document += 1 if sentences else 0
                continue
            tag = fields[-1] if len(fields) > 1 else None
            if tag is None and require_labels:
                raise ValueError(f"{where}: expected 'TOKEN ... TAG', got {line.strip()!r}")
            if tokens and (tag is None) != (tags[0] is None):
                raise ValueError(f"{where}: some lines of this sentence have a tag and "
                                 "some do not")
            if tag is not None:
                try:
                    metrics.entity_spans([tag])
                except ValueError:
                    raise ValueError(f"{where}: {tag!r} is not a tag (O or B-/I-/E-/S-TYPE)") \
                        from None
            if len(split_words(fields[0])) != 1:
                raise ValueError(f"{where}: token {fields[0]!r} holds several NER words "
                                 "(every CJK character is a word of its own): write one "
                                 "character a line")
            start_line = start_line or line_number
            tokens.append(fields[0])
            tags.append(tag)
    end_sentence()
    if not sentences:
        raise ValueError(f"{path} has no sentences")
    return sentences


def write_conll(path, sentences):
    """Writes labelled sentences as CoNLL (`token tag` a line, a blank line after each
    sentence), the input `read_conll` reads; returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        for sentence in sentences:
            f.write("".join(f"{token} {tag}\n" for token, tag in
                            zip(sentence.tokens, sentence.tags)) + "\n")
    return path


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
class NerTask(Task):
    """Token tagging with the label on each word's first piece.

    Options (`NerConfig`): labels (the tag vocabulary, "O" included; tag id = position;
    may stay empty until training data gives it), tag_scheme (None, or the scheme data
    files are converted to, see `read_conll`), dropout_rate (on the sequence output).
    """

    name = "ner"
    config_class = NerConfig
    predictions_file = "predictions.conll"

    @functools.cached_property
    def label_ids(self):
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def best_metric(self):
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

    def serving_module_class(self):
        from bert_tf.export.ner import NerServingModule
        return NerServingModule

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

    # --- explanations ----------------------------------------------------------------------
    # The target is a tag at a word; its score is that tag's logit at the word's first
    # piece. Words are those of `split_words`, as everywhere in this task.
    def explain_target_spec(self):
        return {"word": tf.TensorSpec([None], tf.int32, name="word"),
                "tag_id": tf.TensorSpec([None], tf.int32, name="tag_id")}

    def explain_target_ranges(self):
        return {"word": (0, 2 ** 31 - 1), "tag_id": (-1, len(self.labels))}

    def parse_target(self, target, example, index):
        """`target`: a word index (the tag predicted there), or a (word index, tag) pair,
        or as a string "3" / "3:B-PER"; None: the first word."""
        if isinstance(target, str):
            word, _, tag = target.partition(":")
            if not word.strip().isdigit():
                raise ValueError(f"input {index}: a target is WORD_INDEX or "
                                 f"WORD_INDEX:TAG, got {target!r}")
            target = (int(word), tag or None)
        word, tag = (target, None) if not isinstance(target, (tuple, list)) else target
        word = 0 if word is None else word
        if isinstance(word, bool) or not isinstance(word, int) or word < 0:
            raise ValueError(f"input {index}: the target word must be a word index >= 0, "
                             f"got {word!r}")
        if word >= len(example.tokens):
            raise ValueError(f"input {index}: target word {word} is past the text, which "
                             f"has {len(example.tokens)} words")
        if tag is not None and str(tag) not in self.label_ids:
            raise ValueError(f"input {index}: unknown target tag {tag!r}; the task's tags "
                             f"are {self.labels}")
        return {"word": word, "tag_id": -1 if tag is None else self.label_ids[str(tag)]}

    def _target_position(self, preprocessed, target):
        positions = preprocessed["word_positions"].to_tensor(NO_POSITION)  # [B, W]
        word = tf.minimum(target["word"], tf.shape(positions)[1] - 1)
        return tf.gather(positions, tf.maximum(word, 0), batch_dims=1)  # [B]

    def resolve_target(self, logits, preprocessed, target):
        position = self._target_position(preprocessed, target)
        predicted = tf.argmax(tf.gather(logits, tf.maximum(position, 0), batch_dims=1),
                              axis=-1, output_type=tf.int32)  # [B]
        tag_id = target["tag_id"]
        return {"word": target["word"], "position": position,
                "tag_id": tf.where(tag_id < 0, predicted, tag_id)}

    def target_score(self, logits, target, rows):
        position = tf.maximum(tf.gather(target["position"], rows), 0)
        at_word = tf.gather(logits, position, batch_dims=1)  # [R, T]
        return tf.gather(at_word, tf.gather(target["tag_id"], rows), batch_dims=1)

    def describe_target(self, target, words):
        word = target["word"]
        if target.get("position", 0) == NO_POSITION:
            raise ValueError(f"target word {word} ({words[word]!r}) has no piece in the "
                             f"model's input (truncated at max_seq_length "
                             f"{self.max_seq_length}, or no text)")
        return f"tag {self.labels[target['tag_id']]!r} at word {word} ({words[word]!r})"

    def explain_words(self, raw, preprocessed, target):
        texts = raw["text"]
        _, starts, ends = split_words_with_offsets(texts)
        pieces = self.tokenize(raw)["pieces"]  # [B, (words), (pieces)]
        # Word index of each piece within its sentence.
        sentence_of_word = pieces.value_rowids()  # [total words]
        word_in_sentence = tf.cast(
            tf.range(tf.size(sentence_of_word, out_type=tf.int64))
            - tf.gather(pieces.row_splits, sentence_of_word), tf.int32)
        flat_pieces = pieces.merge_dims(1, 2)  # [B, (pieces)]
        piece_word = flat_pieces.with_flat_values(
            tf.gather(word_in_sentence, pieces.values.value_rowids()))
        kept = packed_lengths(preprocessed) - 2
        return {"text": texts, "word_start": starts, "word_end": ends,
                "piece_word": piece_word,
                "piece_position": explain_words.piece_positions(flat_pieces,
                                                                tf.ones_like(kept), kept)}
