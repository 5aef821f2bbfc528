"""A task written outside bert_tf, registered from this file: text regression (one float
per text). It fits, saves, exports, serves (raw text and ids) and explains through the
task contract alone, so nothing in bert_tf/export or bert_tf/explain names a task; the
walk-through in bert_tf/tasks/README.md is this file."""
import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.common.fields import config_field
from bert_tf.model.encoder import encoder_inputs
from bert_tf.tasks import ExplainTarget, Task, TaskConfig, register_task
from bert_tf.tasks.explain_target import piece_positions, tokenizer_words


@dataclasses.dataclass(frozen=True)
class ScoredText:
    text: str
    score: float | None
    source: str = ""

    @property
    def is_labelled(self):
        return self.score is not None


@dataclasses.dataclass
class RegressionConfig(TaskConfig):  # max_seq_length, pad_to_max_length inherited
    dropout_rate: float = config_field(0.1, "Dropout before the output layer.")


class RegressionExplainTarget(ExplainTarget):
    """The one output's score is explained; words are those of the text."""

    def explain_target_spec(self):
        return {"output": tf.TensorSpec([None], tf.int32, name="output")}

    def explain_target_ranges(self):
        return {"output": (-1, 1)}

    def parse_target(self, target, example, index):
        if target not in (None, 0):
            raise ValueError(f"input {index}: regression has one output, got {target!r}")
        return {"output": 0}

    def resolve_target(self, logits, preprocessed, target):
        return {"output": tf.zeros_like(target["output"])}

    def target_score(self, logits, target, rows):
        return logits[:, 0]  # [R]

    def describe_target(self, target, words):
        return "the score"

    def explain_words(self, raw, preprocessed, target):
        words = tokenizer_words(self.tokenizer, raw["text"])
        kept = tf.reduce_sum(tf.cast(preprocessed["input_mask"], tf.int32), axis=1) - 2
        return {**words, "piece_position": piece_positions(words["piece_word"],
                                                           tf.ones_like(kept), kept)}


@register_task
class RegressionTask(RegressionExplainTarget, Task):
    name = "test_regression"
    config_class = RegressionConfig

    def read_examples(self, path, require_labels=True):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [ScoredText(row["text"], row.get("score"), f"{path}:{i}")
                for i, row in enumerate(rows, 1)]

    def examples_from(self, inputs, labels=None):
        return [ScoredText(text, None if labels is None else float(labels[i]), f"row {i}")
                for i, text in enumerate(inputs)]

    def raw_input_spec(self):
        return {"text": tf.TensorSpec([None], tf.string, name="text")}

    def raw_inputs(self, examples):
        return {"text": [ex.text for ex in examples]}

    def tokenize(self, raw):
        return {"text": self.tokenizer.tokenize(raw["text"])}

    def pack(self, tokenized):
        return self.packer([tokenized["text"]])

    def targets(self, examples):
        return np.array([[ex.score] for ex in examples], np.float32)  # [N, 1]

    def build_model(self, encoder):
        inputs = encoder_inputs()
        pooled = encoder(inputs)["pooled_output"]
        x = keras.layers.Dropout(self.dropout_rate)(pooled)
        return keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(x))  # [B, 1]

    def compile_args(self, optimizer):
        return {"optimizer": optimizer, "loss": "mse"}

    @property
    def default_monitor(self):
        return "neg_mse"

    def postprocess(self, logits, preprocessed):
        return {"score": logits[:, 0]}

    def predictions(self, examples, outputs):
        return [float(score) for score in outputs["score"].numpy()]

    def evaluate_predictions(self, examples, predictions):
        errors = [(p - ex.score) ** 2 for ex, p in zip(examples, predictions)]
        return {"neg_mse": -float(np.mean(errors))}

    def write_predictions(self, path, examples, predictions):
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": ex.text, "score": p}) + "\n"
                         for ex, p in zip(examples, predictions))


POSITIVE = ["a great film", "great acting", "a great warm story", "great fun"]
NEGATIVE = ["a dull film", "dull acting", "a dull cold story", "dull and long"]


@pytest.fixture(scope="module")
def fitted(tiny_checkpoint):
    model = bert_tf.TaskModel.from_pretrained(tiny_checkpoint, task="test_regression",
                                              max_seq_length=16)
    texts, scores = POSITIVE + NEGATIVE, [1.0] * 4 + [-1.0] * 4
    model.fit(texts * 8, scores * 8, validation_data=(texts, scores), epochs=6,
              batch_size=8, learning_rate=5e-3, warmup_proportion=0.0)
    return model


def test_a_task_from_outside_learns_and_saves(fitted, tmp_path):
    predicted = fitted.predict(["a great film", "a dull film"])
    assert predicted[0] > 0.3 and predicted[1] < -0.3, predicted
    assert fitted.evaluate(POSITIVE + NEGATIVE, [1.0] * 4 + [-1.0] * 4)["neg_mse"] > -0.5
    loaded = bert_tf.load(fitted.save(str(tmp_path / "saved")))
    np.testing.assert_allclose(loaded.predict(["great fun"]), fitted.predict(["great fun"]),
                               atol=1e-5)


def test_a_task_from_outside_exports_serves_and_explains(fitted, tmp_path):
    version = fitted.export(str(tmp_path / "exports"), "scores")
    served = tf.saved_model.load(version)
    assert set(served.signatures) == {"serving_default", "serve_ids", "sequence_lengths",
                                      "explain"}
    texts = tf.constant(["a great film", "", "dull acting"])
    out = served.signatures["serving_default"](text=texts)
    np.testing.assert_allclose(out["score"].numpy()[[0, 2]],
                               fitted.predict(["a great film", "dull acting"]), atol=1e-5)
    assert [e.decode() for e in out["error"].numpy()][:2] == [
        "", "text has no text to tokenize (empty, or only spaces or control / zero-width "
            "characters)"]
    features = fitted.task.preprocess({"text": texts[:1]})
    ids = served.signatures["serve_ids"](**{k: tf.cast(features[k], tf.int32) for k in
                                           ("input_word_ids", "input_mask", "input_type_ids")})
    np.testing.assert_allclose(ids["score"].numpy(), out["score"].numpy()[:1], atol=1e-5)

    explained = served.signatures["explain"](text=texts[:1], output=tf.constant([-1]))
    library = fitted.explain(["a great film"])[0]
    assert [w.decode() for w in explained["words"].numpy()[0]] == library["words"] == [
        "a", "great", "film"]
    np.testing.assert_allclose(explained["scores"].numpy()[0], library["scores"], atol=1e-4)
    # Integrated Gradients' completeness: the word scores add up to the score's change.
    assert sum(library["scores"]) == pytest.approx(
        library["score"] - library["baseline_score"], rel=0.05, abs=1e-3)
    bad = served.signatures["explain"](text=texts[:1], output=tf.constant([3]))
    assert bad["error"].numpy()[0].decode() == "output outside [-1, 1)"
