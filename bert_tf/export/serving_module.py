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
probabilities, vectors, ...) and `error`; sequence_lengths returns only
`sequence_length`. All three return a dict of dense tensors, each with the batch as its
first dimension: the form TF Serving's Predict API returns.

One row never fails the rows batched with it (TF Serving merges requests of different
clients into one batch): a row that cannot be served (a text with nothing to tokenize,
ids outside the vocabulary) still gets outputs, those of an empty input, and its `error`
says why; `error` is "" for every row that was served. Only a malformed request as a
whole (inputs of different shapes, wrong dtypes) fails. Subclasses say how raw text
becomes features (`preprocess`) and what the outputs are (`postprocess`, and
`postprocess_ids` where the ids alone allow less): `EncoderServingModule` (encoder.py)
for feature extraction, `TaskServingModule` (task.py) for any fine-tuned
`bert_tf.tasks` task, whose own serving hooks it runs (a task's raw inputs are its
`raw_input_spec`: QA's question and context). Design after tensorflow/models
`official/nlp/serving/`.
"""
import tensorflow as tf

from bert_tf.model.encoder import find_encoder
from bert_tf.export.precision import model_dtype
from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.tasks.base import model_features
from bert_tf.text.packer import packed_lengths

ERROR_OUTPUT = "error"  # string [B]: "" or why the row was not served
# Texts the tokenizer turns into no word piece: spaces, control and format characters
# (it deletes them, as HF's BasicTokenizer does), U+FFFD and NUL; and with lower-casing
# (which strips accents), combining marks.
_BLANK = r"[\s\p{Z}\p{Cc}\p{Cf}\x{FFFD}]*"
_BLANK_LOWER_CASE = r"[\s\p{Z}\p{Cc}\p{Cf}\p{Mn}\x{FFFD}]*"
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
        # What the model's matmuls compute in ("float32", "bfloat16", "int8"): recorded
        # with the export (`export_config`); the outputs are float32 whatever it is.
        self.dtype = model_dtype(model)

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

    # --- the three signatures --------------------------------------------------------------
    def serve_text(self, texts):
        """`serving_default`: {name: tf.string [B]} for each of `text_inputs` -> outputs,
        with `error` string [B]: "" for a row that was served, else why it was not (no
        text). No row fails the others (see the module docstring)."""
        texts = {name: texts[name] for name in self.text_inputs}
        preprocessed = self.preprocess(texts)
        outputs = self.model(model_features(preprocessed), training=False)
        return {**self.postprocess(outputs, preprocessed), ERROR_OUTPUT: self.text_errors(texts)}

    def serve_ids(self, features):
        """`serve_ids`: the three int32 [B, S] features -> outputs and `error` [B]."""
        features, error = self.checked_features(features)
        return {**self.postprocess_ids(self.model(features, training=False), features),
                ERROR_OUTPUT: error}

    def sequence_lengths(self, texts):
        """`sequence_lengths`: {name: tf.string [B]} -> {"sequence_length": int32 [B]}, the
        packed length of each row ([CLS], [SEP]s and truncation included)."""
        texts = {name: texts[name] for name in self.text_inputs}
        return {"sequence_length": packed_lengths(self.preprocess(texts))}

    # --- per-row checks ---------------------------------------------------------------------
    def text_errors(self, texts):
        """string [B]: for each row, "" or why it cannot be served: a text input that is
        empty or holds only what the tokenizer deletes (spaces, control and format
        characters such as zero-width spaces, and with lower-casing, lone accents)."""
        blank = _BLANK_LOWER_CASE if self.tokenizer.lower_case else _BLANK
        error = tf.fill(tf.shape(texts[self.text_inputs[0]]), "")
        for name in self.text_inputs:
            no_text = tf.strings.regex_full_match(texts[name], blank)
            error = tf.where(no_text & tf.equal(error, ""),
                             f"{name} has no text to tokenize (empty, or only spaces or "
                             "control / zero-width characters)", error)
        return error

    def checked_features(self, features):
        """(features fit for the model, error string [B]).

        Request-level checks (the three inputs of one shape, at most
        max_position_embeddings long) fail the request with a message naming the problem.
        Row-level problems (ids outside the vocabulary or type range) set that row's
        `error`; the row runs as padding, so no row fails the others it is batched with.

        The attention mask is `input_mask` cut after each row's last [SEP]: TF Serving's
        server-side batching pads variable-length inputs with each tensor's FIRST element
        (a [CLS] id, a mask of 1), so a short request merged with a longer one would
        otherwise attend to those pads. Every packed BERT row ends in [SEP]; a row without
        one keeps its `input_mask`.
        """
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
        # In a graph the checks must run before the model, whose own failure would
        # otherwise race them and win with a vaguer message.
        with tf.control_dependencies(checks):
            word_ids = tf.identity(word_ids)
        error = tf.fill(tf.shape(word_ids)[:1], "")
        valid = tf.ones_like(error, tf.bool)
        for name, size in (("input_word_ids", config.vocab_size),
                           ("input_type_ids", config.type_vocab_size)):
            ids = word_ids if name == "input_word_ids" else features[name]
            bad = tf.reduce_any((ids < 0) | (ids >= size), axis=1)  # [B]
            error = tf.where(bad & valid, f"{name} has ids outside [0, {size})", error)
            valid &= ~bad
        positions = tf.range(tf.shape(word_ids)[1])[tf.newaxis, :]           # [1, S]
        is_sep = tf.equal(word_ids, self.tokenizer.sep_id)                    # [B, S]
        last_sep = tf.reduce_max(tf.where(is_sep, positions, -1), axis=1)    # [B]
        before_end = (positions <= last_sep[:, tf.newaxis]) | (last_sep[:, tf.newaxis] < 0)
        keep = valid[:, tf.newaxis]
        mask = features["input_mask"] * tf.cast(before_end, features["input_mask"].dtype)
        return ({"input_word_ids": tf.where(keep, word_ids, self.tokenizer.pad_id),
                 "input_mask": tf.where(keep, mask, tf.zeros_like(mask)),
                 "input_type_ids": tf.where(keep, features["input_type_ids"], 0)}, error)

    def export_config(self):
        """What the export is, written next to it (`saved_model.EXPORT_CONFIG_FILE`):
        {"dtype", "max_seq_length", "text_inputs", "signatures", "task"} (subclasses add
        their task's options)."""
        return {"dtype": self.dtype, "max_seq_length": self.max_seq_length,
                "text_inputs": list(self.text_inputs), "signatures": sorted(self.endpoints()),
                "task": None}

    def signature_summary(self):
        """One line saying what each signature takes, which `bert-export` prints."""
        return (f"serving_default: {', '.join(self.text_inputs)} (string [B]); "
                "serve_ids: input_word_ids, input_mask, input_type_ids (int32 [B, S]); "
                "sequence_lengths: the raw-text inputs")

    def endpoints(self):
        """{signature name: (function, input_signature)} for `keras.export.ExportArchive`."""
        text_specs = {name: tf.TensorSpec([None], tf.string, name=name)
                      for name in self.text_inputs}
        id_specs = {name: tf.TensorSpec([None, None], tf.int32, name=name)
                    for name in INPUT_NAMES}
        return {TEXT_SIGNATURE: (self.serve_text, [text_specs]),
                IDS_SIGNATURE: (self.serve_ids, [id_specs]),
                LENGTHS_SIGNATURE: (self.sequence_lengths, [text_specs])}
