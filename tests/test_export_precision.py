"""bfloat16 exports (bert_tf/export/precision.py): the same signatures and float32 outputs
as a float32 export, the matmuls in bf16, the dtype recorded; the CPU check that warns
where bf16 is slow. Hardware-independent: bf16 computes the same on every CPU (slowly
where it has no bf16 instructions), and the warning's CPU check is replaced by a fake."""
import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.common import hardware

from bert_tf.data import corpora
from bert_tf.model.config import BertConfig
from bert_tf.export import exporter, precision
from bert_tf.model.encoder import find_encoder
from bert_tf.model.encoder import BertEncoder
from bert_tf.task_model import TokenClassifier
from bert_tf.tasks.base import model_features
from bert_tf.data.conll import read_conll
from bert_tf.tasks.ner import NerTask
from bert_tf_serving.predictor import EXPORT_CONFIG_FILE, Predictor

MAX_SEQ_LENGTH = 32
LABELS = ["fresh", "rotten"]
# bf16 keeps 8 significant bits: the encoder's outputs are within about 1% of float32's.
PROBABILITY_TOLERANCE = 1e-2
MATMUL_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
              "_FusedMatMul")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def classifier(tiny_classifier, tiny_classifier_folder):
    """(TextClassifier, saved folder): the shared tiny random classifier."""
    return tiny_classifier, tiny_classifier_folder


@pytest.fixture(scope="module")
def exports(classifier, tiny_classifier_export, tmp_path_factory):
    """{"float32": path, "bfloat16": path, "bert_export": its CompletedProcess}: the
    shared float32 export, and the same saved model exported by
    `bert-export --dtype=bfloat16`."""
    _, folder = classifier
    base = str(tmp_path_factory.mktemp("exports"))
    workdir = os.path.dirname(base)  # the folders relative to it, as a user types them
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_tools.export",
         f"--model_dir={os.path.relpath(folder, workdir)}",
         f"--export_base={os.path.basename(base)}", "--model_name=rt_bf16",
         "--dtype=bfloat16"],
        capture_output=True, text=True, timeout=600, env=ENV, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"float32": tiny_classifier_export,
            "bfloat16": os.path.join(base, "rt_bf16", "1"), "bert_export": proc}


def matmul_dtypes(function):
    """{dtype name: count} of the matmuls in a loaded signature's graph and the functions
    it calls (the graph as written, before TF's optimizer rewrites it)."""
    graph = function.graph.as_graph_def()
    counts = {}
    for node in list(graph.node) + [n for fn in graph.library.function for n in fn.node_def]:
        if node.op in MATMUL_OPS:
            name = tf.dtypes.as_dtype(node.attr["T"].type).name
            counts[name] = counts.get(name, 0) + 1
    return counts


def real_texts(count):
    texts = [text for text, _ in corpora.rotten_tomatoes("test")][:64]
    return sorted(texts, key=len)[::64 // count][:count]


def test_bf16_export_gives_float32_outputs_close_to_float32s(exports):
    texts = real_texts(8)
    rows32 = Predictor(exports["float32"])({"text": texts})
    rows16 = Predictor(exports["bfloat16"])({"text": texts})
    probs32 = np.array([row["probabilities"] for row in rows32])
    probs16 = np.array([row["probabilities"] for row in rows16])
    assert probs16.dtype == np.float32 and probs16.shape == (8, len(LABELS))
    np.testing.assert_allclose(probs16, probs32, atol=PROBABILITY_TOLERANCE)
    assert not np.array_equal(probs16, probs32)  # it did compute in another precision
    assert [row["label"] for row in rows16] == [row["label"] for row in rows32]
    assert all(row["error"] == b"" for row in rows16)


def test_bf16_export_has_the_same_signatures_and_output_dtypes(exports):
    loaded32 = tf.saved_model.load(exports["float32"]).signatures
    loaded16 = tf.saved_model.load(exports["bfloat16"]).signatures
    assert sorted(loaded16) == sorted(loaded32) == [
        "explain", "sequence_lengths", "serve_ids", "serving_default"]
    for name in loaded32:
        assert loaded16[name].structured_input_signature == \
            loaded32[name].structured_input_signature, name
        assert {k: v.dtype for k, v in loaded16[name].structured_outputs.items()} == \
            {k: v.dtype for k, v in loaded32[name].structured_outputs.items()}, name
    # explain runs on the bf16 model: float32 scores, close to float32's.
    text = tf.constant(real_texts(2))
    target = tf.constant([-1, -1])
    got = loaded16["explain"](text=text, label_id=target)
    want = loaded32["explain"](text=text, label_id=target)
    assert got["scores"].dtype == tf.float32 and not any(got["error"].numpy())
    np.testing.assert_allclose(got["scores"], want["scores"], atol=2e-3)


def test_bf16_export_runs_its_matmuls_in_bf16(classifier, exports):
    config = find_encoder(classifier[0].model).bert_config
    layers = config.num_hidden_layers
    # serving_default: per layer Q, K, V, attention output, intermediate, output and the
    # two attention matmuls, then the pooler, all in bf16; only the logits layer is
    # float32 by design.
    loaded32 = tf.saved_model.load(exports["float32"])
    loaded16 = tf.saved_model.load(exports["bfloat16"])
    assert matmul_dtypes(loaded32.signatures["serving_default"]) == {"float32": 8 * layers + 2}
    assert matmul_dtypes(loaded16.signatures["serving_default"]) == {
        "bfloat16": 8 * layers + 1, "float32": 1}
    # Variables stored in bf16 (half the size, no per-call cast of the kernels) but the
    # logits layer's.
    assert variable_sizes(exports["float32"]).keys() == {"float32"}
    assert variable_sizes(exports["bfloat16"])["float32"] == (
        (config.hidden_size + 1) * len(LABELS))


def variable_sizes(saved_model_dir):
    """{dtype name: number of values} of a SavedModel's variables."""
    reader = tf.train.load_checkpoint(os.path.join(saved_model_dir, "variables", "variables"))
    shapes = reader.get_variable_to_shape_map()
    sizes = {}
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype != tf.string:  # the checkpoint's object graph
            sizes[dtype.name] = sizes.get(dtype.name, 0) + int(np.prod(shapes[name]))
    return sizes


def test_export_records_its_dtype(exports):
    for dtype in ("float32", "bfloat16"):
        with open(os.path.join(exports[dtype], EXPORT_CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
        assert config["dtype"] == dtype
        assert config["task"] == "classification"
        assert config["task_config"]["labels"] == LABELS
        assert config["version"] == 1 and config["max_seq_length"] == MAX_SEQ_LENGTH
        assert Predictor(exports[dtype]).dtype == dtype


def test_warning_where_the_cpu_has_no_bf16_instructions(classifier, monkeypatch, caplog):
    clf, _ = classifier
    monkeypatch.setattr(hardware, "native_bf16", lambda *args: False)
    with caplog.at_level(logging.WARNING, logger="absl"):
        exporter.serving_module(clf.task, clf.model, dtype="bfloat16")
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "SLOWER than a float32 one on this machine" in warning and "avx512_bf16" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="absl"):
        exporter.serving_module(clf.task, clf.model)  # float32: nothing to warn about
    assert not caplog.records
    monkeypatch.setattr(hardware, "native_bf16", lambda *args: True)
    assert precision.warn_if_slow("bfloat16") is None
    monkeypatch.setattr(hardware, "native_bf16", lambda *args: None)  # unreadable flags
    assert "cannot be checked" in precision.warn_if_slow("bfloat16")


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert hardware.native_bf16(str(cpuinfo)) is True
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma amx_tile amx_bf16\n")
    assert hardware.native_bf16(str(cpuinfo)) is True
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma avx512f avx512_vnni\n")
    assert hardware.native_bf16(str(cpuinfo)) is False
    assert hardware.native_bf16(str(tmp_path / "missing")) is None


def test_in_dtype_keeps_a_model_already_in_it_and_rejects_unknown_dtypes(classifier):
    clf, _ = classifier
    assert precision.in_dtype(clf.model, "float32", clf.task.build_model) is clf.model
    assert precision.model_dtype(clf.model) == "float32"
    with pytest.raises(ValueError, match=r"dtype must be one of float32, bfloat16; got 'fp16'"):
        clf.export("unused", "rt", dtype="fp16")


@pytest.mark.slow  # its own 2 x 128 tagger and bf16 export: ~20 s
def test_ner_export_in_bf16(tokenizer, conll_labels, tmp_path):
    """A tiny tagger's bf16 export tags like its float32 model wherever float32's choice
    is not within bf16's error of a tie. (Its own 2 x 128 tagger, not the shared 1 x 32
    one: that one's random logits are too close for half its positions to be clear; the
    export, the cost of this test, is its own either way.)"""
    keras.utils.set_random_seed(0)
    task = NerTask(tokenizer, max_seq_length=MAX_SEQ_LENGTH, labels=conll_labels)
    model = task.build_model(BertEncoder.from_bert_config(BertConfig.from_preset("tiny")))
    path = TokenClassifier(task, model).export(str(tmp_path), "ner", dtype="bfloat16")
    assert Predictor(path).dtype == "bfloat16"
    texts = [" ".join(s.tokens) for s in read_conll(corpora.conll2003_path("test"))[3:11]]
    serving = tf.saved_model.load(path).signatures
    got = serving["serving_default"](text=tf.constant(texts))
    assert not any(got["error"].numpy())
    assert got["entity_start"].dtype == tf.int32
    # Per position (serve_ids): bf16's tags equal float32's where float32's top two
    # logits are more than 0.05 apart (10x the largest bf16 difference seen).
    features = model_features(task.preprocess({"text": tf.constant(texts)}))
    logits = model(features, training=False).numpy()
    tags = serving["serve_ids"](**features)["position_tag_ids"].numpy()
    top2 = np.sort(logits, axis=-1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0] > 0.05) & (features["input_mask"].numpy() == 1)
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(tags[clear], logits.argmax(-1)[clear])


def test_qa_serving_in_bf16(tiny_reader):
    """The tiny reader's bf16 serving module (what its export saves; the export path is
    the classifier's and the tagger's) answers with float32 scores close to float32's."""
    task, model = tiny_reader.task, tiny_reader.model
    module = exporter.serving_module(task, model, dtype="bfloat16")
    assert module.dtype == "bfloat16" and module.export_config()["task"] == "qa"
    inputs = {"question": tf.constant(["Who designed the tower?", "When?"]),
              "context": tf.constant(["Gustave Eiffel's company designed the tower in Paris.",
                                      "It was completed in 1889."])}
    got = module.serve_text(inputs)
    want = task.serve(model, inputs)
    assert got["score"].dtype == tf.float32 and not any(got["error"].numpy())
    np.testing.assert_allclose(got["nbest_score"], want["nbest_score"], atol=5e-2)


def test_encoder_serving_in_bf16(tiny_checkpoint):
    """`bert-export --task=encoder --dtype=bfloat16`'s module: float32 vectors close to
    the float32 module's."""
    texts = {"text": tf.constant(real_texts(4))}
    want = exporter.serving_module_from_folder(tiny_checkpoint, task="encoder")
    got = exporter.serving_module_from_folder(tiny_checkpoint, task="encoder",
                                              dtype="bfloat16")
    assert (want.dtype, got.dtype) == ("float32", "bfloat16")
    assert got.export_config()["task"] == "encoder"
    want, got = want.serve_text(texts), got.serve_text(texts)
    assert got["pooled_output"].dtype == tf.float32
    np.testing.assert_allclose(got["pooled_output"], want["pooled_output"], atol=1e-2)
    # LayerNorm outputs up to ~4, where bf16's last bit is 1/32: within a couple of those.
    mask = want["input_mask"].numpy()[..., None] == 1
    np.testing.assert_allclose(np.where(mask, got["sequence_output"], 0),
                               np.where(mask, want["sequence_output"], 0), atol=6e-2)
