"""The README's library snippet runs as written: fine-tune, evaluate, predict, save, load
and export, here on a tiny randomly initialised BERT (1 x 32) with MiniLM's vocab and a few
hundred real review snippets (the README runs it on MiniLM and the whole split)."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import corpora

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def readme_snippet():
    """The python block after the README's snippet marker."""
    text = open(README, encoding="utf-8").read()
    match = re.search(r"<!-- README snippet[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its snippet marker"
    return match.group(1)


def _write_split(path, rows):
    path.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows),
                    encoding="utf-8")


def test_readme_snippet_fine_tunes_evaluates_predicts_saves_and_exports(
        tmp_path, monkeypatch, tiny_checkpoint):
    (tmp_path / "data").mkdir()
    _write_split(tmp_path / "data" / "train.jsonl", corpora.rotten_tomatoes("train")[:256])
    _write_split(tmp_path / "data" / "validation.jsonl",
                 corpora.rotten_tomatoes("validation")[:64])
    _write_split(tmp_path / "data" / "test.jsonl", corpora.rotten_tomatoes("test")[:64])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(corpora, "minilm_path", lambda: tiny_checkpoint)
    namespace = {}
    exec(compile(readme_snippet(), "README.md", "exec"), namespace)  # noqa: S102

    losses = namespace["history"].history["loss"]
    assert len(losses) == 1 and np.isfinite(losses[0])
    assert set(namespace["metrics"]) == {"accuracy", "macro_f1", "mcc", "loss"}
    predictions = namespace["predictions"]
    assert [set(p) for p in predictions] == [{"label", "probabilities"}] * 2
    assert all(p["label"] in ("fresh", "rotten") for p in predictions)
    assert sum(predictions[0]["probabilities"].values()) == pytest.approx(1, abs=1e-5)

    # The loaded model predicts what the trained one did; the export serves raw text.
    loaded = namespace["clf"]
    again = loaded.predict(["A warm, funny film.", "Two hours I will never get back."])
    for before, after in zip(predictions, again):
        assert before["label"] == after["label"]
        np.testing.assert_allclose(list(before["probabilities"].values()),
                                   list(after["probabilities"].values()), atol=1e-5)
    served = tf.saved_model.load(str(tmp_path / "exports" / "rt_sentiment" / "1"))
    out = served.signatures["serving_default"](text=tf.constant(["A warm, funny film."]))
    assert out["label"].numpy()[0].decode() == predictions[0]["label"]
