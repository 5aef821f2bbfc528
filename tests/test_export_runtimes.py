"""The raw-text exports for CPU runtimes besides TF Serving (`bert-export --format=`,
bert_tf/export/runtime.py): each file takes raw strings, its tokenizer inside, and gives
the SavedModel's labels and probabilities on real texts; bert-predict runs it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.export import exporter, runtime

pytest.importorskip("openvino")
pytest.importorskip("openvino_tokenizers")


@pytest.fixture(scope="module")
def spread_classifier(tiny_classifier_folder, real_batch, tmp_path_factory):
    """`tiny_classifier_folder` with a logits layer that spreads its probabilities over
    (0, 1) on real texts, saved. The tiny random encoder's pooled outputs differ little
    across texts (the random head's probabilities by ~1e-5, too little for a 1e-5 parity
    to mean anything): the new head scores the pooled output's deviation from its mean on
    `real_batch` along its largest one, scaled to logit differences of std 0.3. (At std 1,
    OpenVINO's probabilities differed from the SavedModel's by up to 1.5e-5: the float32
    rounding of nearly equal pooled outputs, multiplied by so steep a head.)"""
    import keras

    import bert_tf
    clf = bert_tf.load(tiny_classifier_folder)
    logits = clf.model.get_layer("logits")
    pooled = keras.Model(clf.model.input, logits.input)(real_batch).numpy()  # [32, H]
    deviation = pooled - pooled.mean(axis=0)
    direction = deviation[np.argmax(np.linalg.norm(deviation, axis=1))]
    direction *= 0.3 / np.std(deviation @ direction)
    kernel, bias = np.zeros_like(logits.get_weights()[0]), np.zeros(2, np.float32)
    kernel[:, 0], bias[0] = direction, -pooled.mean(axis=0) @ direction
    logits.set_weights([kernel, bias])
    return clf.save(str(tmp_path_factory.mktemp("spread_classifier") / "model"))


@pytest.fixture(scope="module")
def saved_model(spread_classifier, tmp_path_factory):
    return exporter.export(spread_classifier, str(tmp_path_factory.mktemp("sm")), "rt")


@pytest.fixture(scope="module")
def openvino_export(spread_classifier, tmp_path_factory):
    """`spread_classifier` exported by bert-export's code path with --format=openvino."""
    base = str(tmp_path_factory.mktemp("openvino_export"))
    return exporter.export(spread_classifier, base, "rt_ov", export_format="openvino")


def _saved_model_rows(saved_model, texts):
    from bert_tf_serving.predictor import Predictor
    return Predictor(saved_model, batch_size=8)({"text": texts})


def test_openvino_export_matches_the_saved_model_on_real_texts(
        openvino_export, saved_model, real_sentences):
    from bert_tf_serving.predictor import open_predictor
    from bert_tf_serving.runtimes import OpenVinoPredictor

    predictor = open_predictor(os.path.join(openvino_export, "model.xml"), batch_size=8)
    assert isinstance(predictor, OpenVinoPredictor) and predictor.dtype == "float32"
    got = predictor({"text": real_sentences})
    want = _saved_model_rows(saved_model, real_sentences)
    assert len(got) == len(want) == 32
    assert [g["label"] for g in got] == [w["label"].decode() for w in want]
    assert [int(g["label_id"]) for g in got] == [int(w["label_id"]) for w in want]
    np.testing.assert_allclose(np.stack([g["probabilities"] for g in got]),
                               np.stack([w["probabilities"] for w in want]),
                               atol=runtime.FLOAT32_TOLERANCE)
    # The probabilities depend on the text, so their parity means something.
    assert np.ptp([g["probabilities"][0] for g in got]) > 0.2
    assert len({g["label"] for g in got}) == 2
    # Batches sorted by the export's own tokenizer: the SavedModel's packed lengths.
    from bert_tf_serving.predictor import Predictor
    np.testing.assert_array_equal(
        predictor.lengths({"text": real_sentences}),
        Predictor(saved_model, batch_size=8).lengths({"text": real_sentences}))
    with open(os.path.join(openvino_export, runtime.EXPORT_CONFIG_FILE)) as f:
        config = json.load(f)
    assert (config["format"], config["task"], config["version"]) == ("openvino",
                                                                     "classification", 1)


def test_bert_predict_runs_the_openvino_export(openvino_export, saved_model,
                                               tmp_path):
    texts = ["A fine, moving film.", "Dull and far too long."]
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_tools.predict", f"--saved_model={openvino_export}",
         *[f"--text={t}" for t in texts]],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "computes in float32" in proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    want = _saved_model_rows(saved_model, texts)
    assert [p["text"] for p in printed] == texts
    assert [p["label"] for p in printed] == [w["label"].decode() for w in want]
    np.testing.assert_allclose([p["probabilities"] for p in printed],
                               [w["probabilities"] for w in want], atol=1e-5)


def test_openvino_export_refuses_a_pair_task_and_a_bad_format(tiny_classifier, tmp_path):
    pair = exporter.serving_module(tiny_classifier.task.replace(text_b_column="text_b"),
                                   tiny_classifier.model)
    assert pair.text_inputs == ("text", "text_b")
    with pytest.raises(ValueError, match=r"takes at most 1 text input.*'text', 'text_b'"):
        runtime.check_text_inputs(pair, "OpenVINO")
    with pytest.raises(ValueError, match="format must be one of saved_model, openvino"):
        exporter.export(str(tmp_path), str(tmp_path), "m", export_format="tflite")
