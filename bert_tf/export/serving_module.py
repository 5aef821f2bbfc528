"""The base of the export modules: model + in-graph preprocessing + post-processing.

Every exported SavedModel has three signatures, named for what they take:

    serving_default  raw text, tf.string [B] per text input ("text", and "text_b" for
                     pair tasks): tokenized and packed in the graph, each batch padded
                     to its longest row (at most max_seq_length).
    serve_ids        pre-tokenized features `input_word_ids`, `input_mask`,
                     `input_type_ids`, int32 [B, S], for clients that tokenize on
                     their side.
    sequence_lengths the raw-text inputs -> `sequence_length` int32 [B], each row's
                     packed length: clients (bert-predict) sort requests by it, so that
                     each batch holds rows of similar length and little padding.

serving_default and serve_ids return the post-processed outputs (labels and
probabilities, vectors, ...); sequence_lengths returns only `sequence_length`. All
three return a dict of dense tensors, each with the batch as its first dimension: the
form TF Serving's Predict API returns. Subclasses say how raw text becomes features
(`preprocess`) and what the outputs are (`postprocess`, and `postprocess_ids` where the
ids alone allow less): `EncoderServingModule` (encoder.py) for feature extraction,
`TaskServingModule` (task.py) for any fine-tuned `bert_tf.tasks` task, whose own
preprocess/postprocess it runs, and its subclass `NerServingModule` (ner.py). A task
with other raw inputs (QA's question and context) gets them from its `raw_input_spec`;
one whose answers point into the text (QA spans) keeps the offsets in `preprocess`'s
dict, as NER does. Design after tensorflow/models `official/nlp/serving/`.
"""
import tensorflow as tf

from bert_tf.export.keras_layer import find_encoder
from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.tasks.base import model_features

TEXT_SIGNATURE = "serving_default"
IDS_SIGNATURE = "serve_ids"
LENGTHS_SIGNATURE = "sequence_lengths"


class ServingModule(tf.Module):
    """A Keras model with its text preprocessing and post-processing.

    Args:
      model: functional keras.Model taking a dict of exactly `input_word_ids`,
        `input_mask`, `input_type_ids` (int32 [B, S]) and holding one BertEncoder.
      tokenizer: the `BertTokenizer` the model was trained with.
      max_seq_length: int, the longest packed sequence of the raw-text signature.
      text_inputs: names of the raw-text inputs of `serving_default`, in segment order.
      name: module name.
    """

    def __init__(self, model, tokenizer, max_seq_length, text_inputs, name=None):
        super().__init__(name=name)
        inputs = model.input
        if not isinstance(inputs, dict) or set(inputs) != set(INPUT_NAMES):
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
            raise ValueError(f"The model must take a dict of exactly {list(INPUT_NAMES)}; "
                             f"got inputs {got}")
        self.bert_config = find_encoder(model).bert_config
        if not 3 <= max_seq_length <= self.bert_config.max_position_embeddings:
            raise ValueError(
                f"max_seq_length must be in [3, max_position_embeddings = "
                f"{self.bert_config.max_position_embeddings}], got {max_seq_length}")
        if tokenizer.vocab_size != self.bert_config.vocab_size:
            raise ValueError(
                f"The tokenizer's vocab has {tokenizer.vocab_size} tokens but the model's "
                f"embedding table has {self.bert_config.vocab_size} rows; export the model "
                "with the vocab.txt it was trained with")
        if not 1 <= len(text_inputs) <= 2:
            raise ValueError(f"text_inputs must name 1 or 2 inputs, got {text_inputs!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_length = int(max_seq_length)
        self.text_inputs = tuple(text_inputs)

    # --- what a subclass defines -----------------------------------------------------------
    def preprocess(self, texts):
        """Graph: {text input name: tf.string [B]} -> dict holding the three int32 [B, S]
        features (and whatever `postprocess` needs besides)."""
        raise NotImplementedError

    def postprocess(self, model_outputs, preprocessed):
        """Graph: the model's outputs and `preprocess`'s dict -> {name: dense [B, ...]}."""
        raise NotImplementedError

    def postprocess_ids(self, model_outputs, features):
        """Graph: outputs of `serve_ids`, which has only the three features; by default
        those of `postprocess`. Tasks whose outputs need the raw text (character
        offsets) return what the features allow."""
        return self.postprocess(model_outputs, features)

    # --- the two signatures ----------------------------------------------------------------
    def serve_text(self, texts):
        """`serving_default`: {name: tf.string [B]} for each of `text_inputs` -> outputs."""
        texts = {name: check_not_empty(texts[name], name) for name in self.text_inputs}
        preprocessed = self.preprocess(texts)
        outputs = self.model(model_features(preprocessed), training=False)
        return self.postprocess(outputs, preprocessed)

    def serve_ids(self, features):
        """`serve_ids`: the three int32 [B, S] features -> outputs."""
        features = self.check_features(features)
        return self.postprocess_ids(self.model(features, training=False), features)

    def sequence_lengths(self, texts):
        """`sequence_lengths`: {name: tf.string [B]} -> {"sequence_length": int32 [B]}, the
        packed length of each row ([CLS], [SEP]s and truncation included)."""
        texts = {name: texts[name] for name in self.text_inputs}
        return {"sequence_length": tf.reduce_sum(self.preprocess(texts)["input_mask"], axis=1)}

    def check_features(self, features):
        """The features, once run-time checks have passed that turn bad ids into errors
        naming the problem (out-of-range ids would otherwise fail deep inside a gather on
        CPU, or read zeros on GPU)."""
        config = self.bert_config
        word_ids = features["input_word_ids"]
        checks = [tf.debugging.assert_equal(
            tf.shape(features[name]), tf.shape(word_ids),
            message=f"Input {name} must have the shape of input_word_ids [B, S]")
            for name in ("input_mask", "input_type_ids")]
        checks.append(tf.debugging.assert_less_equal(
            tf.shape(word_ids)[1], config.max_position_embeddings,
            message=f"Sequences are longer than max_position_embeddings "
                    f"({config.max_position_embeddings}); sequence length"))
        for name, size in (("input_word_ids", config.vocab_size),
                           ("input_type_ids", config.type_vocab_size)):
            checks.append(tf.debugging.assert_non_negative(
                features[name], message=f"Input {name} has negative ids"))
            checks.append(tf.debugging.assert_less(
                features[name], size, message=f"Input {name} has ids outside [0, {size})"))
        # In a graph the checks must run before the model, whose own failure (a gather
        # out of range) would otherwise race them and win with a vaguer message.
        with tf.control_dependencies(checks):
            return {name: tf.identity(value) for name, value in features.items()}

    def endpoints(self):
        """{signature name: (function, input_signature)} for `keras.export.ExportArchive`."""
        text_specs = {name: tf.TensorSpec([None], tf.string, name=name)
                      for name in self.text_inputs}
        id_specs = {name: tf.TensorSpec([None, None], tf.int32, name=name)
                    for name in INPUT_NAMES}
        return {TEXT_SIGNATURE: (self.serve_text, [text_specs]),
                IDS_SIGNATURE: (self.serve_ids, [id_specs]),
                LENGTHS_SIGNATURE: (self.sequence_lengths, [text_specs])}


def check_not_empty(texts, input_name):
    """`texts`, once checked to hold no empty or whitespace-only text (a request with
    no text is a client bug that a [CLS] [SEP] prediction would hide); the error names
    `input_name`."""
    check = tf.debugging.assert_positive(
        tf.strings.length(tf.strings.strip(texts)),
        message=f"Input {input_name} has an empty (or whitespace-only) text; every "
                f"{input_name} must hold text. Non-space lengths")
    with tf.control_dependencies([check]):
        return tf.identity(texts)
