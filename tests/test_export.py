"""bert-export: the SavedModel contract TF Serving relies on, proved without the server.

The shared tiny random-weight classifier on the real MiniLM vocab (conftest.py), saved as
fine-tuning saves it and exported once by the `bert-export` code path; the tests then load it the way TF
Serving's C++ loader does (TF1 Session, tensors by SignatureDef name) in a fresh process
that imports only tensorflow and tensorflow_text, and compare with the model in memory.
The one test on real MiniLM weights (against transformers) is marked slow.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from bert_tf.export import tf_serving
from bert_tf.export.keras_layer import load_encoder_as_layer
from bert_tf.model.encoder import find_encoder
from bert_tf.tasks.ner.serving import entity_word_spans
from bert_tf.export.saved_model import export_saved_model, new_version
from bert_tf.model.encoder import encoder_inputs
from bert_tf.data import conll
from bert_tf.tasks.base import model_features
from bert_tf.data.conll import read_conll
from bert_tf.tasks.qa import NO_ANSWER
from bert_tf.export import exporter as export_tool

MAX_SEQ_LENGTH = 32  # the shared tiny models'
LABELS = ["fresh", "rotten"]
# The graph's only ops beyond core TensorFlow: all in tensorflow_text's ops_lib, which the
# TF Serving model server links.
TF_TEXT_OPS = {"RegexSplitWithOffsets", "NormalizeUTF8", "FastWordpieceTokenizeWithOffsets",
               "TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks"}


@pytest.fixture(scope="module")
def classifier(tiny_classifier, tiny_classifier_folder):
    """(task, model, folder): the shared tiny classifier and its saved folder."""
    return tiny_classifier.task, tiny_classifier.model, tiny_classifier_folder


@pytest.fixture(scope="module")
def saved_model_dir(tiny_classifier_export):
    return tiny_classifier_export


@pytest.fixture(scope="module")
def export_base(saved_model_dir):
    return os.path.dirname(os.path.dirname(saved_model_dir))  # <base>/rt/1


def expected_outputs(task, model, texts):
    """What the in-memory task computes: both signatures' outputs, as numpy."""
    raw = {"text": tf.constant(texts)}
    features = model_features(task.preprocess(raw))
    by_ids = task.postprocess(model(features, training=False), features)
    return ({k: v.numpy() for k, v in task.serve(model, raw).items()},
            {k: v.numpy() for k, v in features.items()},
            {k: v.numpy() for k, v in by_ids.items()})


def assert_outputs_equal(got, want):
    """`got` (a signature's outputs) equals `want` (the task's), with every row served:
    its `error` output all ""."""
    got = dict(got)
    assert [e for e in got.pop("error") if e] == []
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[name], value, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)


# Runs in a fresh interpreter: only TensorFlow and the tf-text ops, loaded with the TF1
# Session loader and run by the tensor names in the SignatureDefs, as TF Serving's C++
# server does. Also lists each graph's ops that core TensorFlow does not register. One
# process for every SavedModel of this file: each start of TensorFlow costs seconds.
SESSION_LOADER_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    requests_path, outputs_path = sys.argv[1:]
    requests = np.load(requests_path, allow_pickle=True)
    plan = json.loads(str(requests["plan"]))  # [[saved_model_dir, [[signature, [input]]]]]
    # The graphs' ops that core TensorFlow does not register (checked before tf-text is).
    custom_ops = []
    for saved_model_dir, _ in plan:
        with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
            graph_def = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0].graph_def
        graph_ops = {node.op for node in graph_def.node}
        for function in graph_def.library.function:
            graph_ops |= {node.op for node in function.node_def}
        custom_ops.append(sorted(op for op in graph_ops if op_def_registry.get(op) is None))

    import tensorflow_text  # registers the tf-text kernels, as the model server links them
    modules_before_loading = set(sys.modules)
    outputs = {}
    for m, (saved_model_dir, calls) in enumerate(plan):
        with tf.compat.v1.Session(graph=tf.Graph()) as sess:
            meta_graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], saved_model_dir)
            for i, (signature_name, input_names) in enumerate(calls):
                signature = meta_graph.signature_def[signature_name]
                feed = {signature.inputs[name].name: requests[f"{m}/{i}/{name}"]
                        for name in input_names}
                fetch = {name: info.name for name, info in signature.outputs.items()}
                for name, value in sess.run(fetch, feed).items():
                    outputs[f"{m}/{i}/{name}"] = value
    np.savez(outputs_path, **outputs)
    # (`import tensorflow` itself loads parts of keras; loading and running the models
    # must need no more of it, and nothing of bert_tf.)
    new_modules = {m.split(".")[0] for m in set(sys.modules) - modules_before_loading}
    print(json.dumps({"custom_ops": custom_ops,
                      "imported": sorted(new_modules & {"keras", "bert_tf"}),
                      "bert_tf_loaded": any(m.startswith("bert_tf") for m in sys.modules)}))
""")


def run_in_fresh_session(models, tmp_path):
    """Runs each SavedModel's requests, `models` {key: (saved_model_dir, [(signature,
    {input: array})])}, in one new process; returns {key: (the outputs of each request,
    the report: the graph's custom ops, the packages imported to load and run them all)}."""
    plan, arrays = [], {}
    for m, (saved_model_dir, requests) in enumerate(models.values()):
        plan.append((saved_model_dir, [(sig, list(inputs)) for sig, inputs in requests]))
        for i, (_, inputs) in enumerate(requests):
            arrays.update({f"{m}/{i}/{name}": value for name, value in inputs.items()})
    arrays["plan"] = np.array(json.dumps(plan))
    requests_path, outputs_path = tmp_path / "requests.npz", tmp_path / "outputs.npz"
    np.savez(requests_path, **arrays)
    proc = subprocess.run(
        [sys.executable, "-c", SESSION_LOADER_SCRIPT, str(requests_path), str(outputs_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    outputs = np.load(outputs_path, allow_pickle=True)
    results = {}
    for m, (key, (_, requests)) in enumerate(models.items()):
        per_request = [{} for _ in requests]
        for name in outputs.files:
            model, i, output = name.split("/")
            if int(model) == m:
                per_request[int(i)][output] = outputs[name]
        results[key] = (per_request, {**report, "custom_ops": report["custom_ops"][m]})
    return results


def strings(texts):
    return np.array([t.encode("utf-8") for t in texts], dtype=object)


def classifier_texts(real_sentences):
    return real_sentences[:8] + ["x " * 400]  # the last one is truncated to 32 tokens


def ner_texts():
    """Real CoNLL sentences, with non-ASCII text and odd spacing, one truncated."""
    from bert_tf.data import corpora
    sentences = [" ".join(s.tokens) for s in read_conll(corpora.conll2003_path("test"))[3:8]]
    return sentences + ["Zoë  Çelik flew to São Paulo \t with José", " ".join(["word"] * 60)]


QA_CONTEXTS = ["The Eiffel Tower was completed in 1889 in Paris; Gustave Eiffel's company "
               "designed it, and it is 330 metres tall. " * 2,
               "Dvořák met Zoë in 東京 and São Paulo in 1892.", "Paris"]
QA_QUESTIONS = ["Who designed the tower?", "Where did Dvořák meet Zoë?", "What?"]


def warmup_requests(saved_model_dir):
    return [(r.predict_log.request.model_spec.signature_name,
             {k: tf.make_ndarray(v) for k, v in r.predict_log.request.inputs.items()})
            for r in tf_serving.read_warmup_file(saved_model_dir)]


@pytest.fixture(scope="module")
def fresh_session(classifier, saved_model_dir, tagger, reader, real_sentences,
                  tmp_path_factory):
    """The three exports (classifier, tagger, reader) run in one fresh TF1 session
    process: {"classifier" | "ner" | "qa": (outputs per request, report)}."""
    texts = classifier_texts(real_sentences)
    features = {k: v.numpy() for k, v in model_features(
        classifier[0].preprocess({"text": tf.constant(texts)})).items()}
    models = {
        "classifier": (saved_model_dir, [("serving_default", {"text": strings(texts)}),
                                         ("serve_ids", features)]
                       + warmup_requests(saved_model_dir)),
        "ner": (tagger[2], [("serving_default", {"text": strings(ner_texts())})]),
        "qa": (reader[2], [("serving_default", {"question": strings(QA_QUESTIONS),
                                                "context": strings(QA_CONTEXTS)})]),
    }
    return run_in_fresh_session(models, tmp_path_factory.mktemp("fresh_session"))


@pytest.mark.slow  # one fresh TF1-session process for three exports: ~60 s
def test_session_loader_in_fresh_process_matches_model_in_memory(
        classifier, saved_model_dir, real_sentences, fresh_session):
    task, model, _ = classifier
    texts = classifier_texts(real_sentences)
    by_text, features, by_ids = expected_outputs(task, model, texts)
    warmup = warmup_requests(saved_model_dir)

    outputs, report = fresh_session["classifier"]

    assert report["imported"] == [] and not report["bert_tf_loaded"]
    assert set(report["custom_ops"]) <= TF_TEXT_OPS, report["custom_ops"]
    assert_outputs_equal(outputs[0], by_text)
    assert_outputs_equal(outputs[1], by_ids)
    assert outputs[0]["probabilities"].shape == (len(texts), len(LABELS))
    assert set(outputs[0]["label"]) <= {label.encode() for label in LABELS}
    # Variable sequence length: padded to the longest row, capped at max_seq_length.
    assert features["input_word_ids"].shape == (len(texts), MAX_SEQ_LENGTH)
    # The warmup requests run, at batch 1 and batch 4, on both signatures.
    assert [sig for sig, _ in warmup] == ["serving_default", "serve_ids"] * 2
    for (_, inputs), result in zip(warmup, outputs[2:]):
        assert len(result["label"]) == len(next(iter(inputs.values())))


def test_warmup_file_holds_predict_requests_of_real_text(saved_model_dir):
    records = tf_serving.read_warmup_file(saved_model_dir)
    request = records[2].predict_log.request  # serving_default at batch 4
    assert request.model_spec.name == "rt"
    texts = tf.make_ndarray(request.inputs["text"])
    assert [t.decode() for t in texts] == list(tf_serving.DEFAULT_WARMUP_TEXTS)


def test_saved_model_cli_lists_the_signatures(saved_model_dir):
    """serving_default, serve_ids and explain, as `saved_model_cli show --all` prints
    them (one run of the CLI for all of them: each run starts TensorFlow)."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    proc = subprocess.run([cli, "show", "--dir", saved_model_dir, "--all"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    signatures = {}
    for block in proc.stdout.split("signature_def['")[1:]:
        name, body = block.split("']", 1)
        entries = {}
        for kind, tensor, dtype, shape in re.findall(
                r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: ([^\n]+)",
                body):
            entries[kind, tensor] = (dtype, shape)
        signatures[name] = entries
    assert signatures["serving_default"] == {
        ("inputs", "text"): ("DT_STRING", "(-1)"),
        ("outputs", "label"): ("DT_STRING", "(-1)"),
        ("outputs", "label_id"): ("DT_INT32", "(-1)"),
        ("outputs", "probabilities"): ("DT_FLOAT", "(-1, 2)"),
        ("outputs", "error"): ("DT_STRING", "(-1)"),
    }
    ids = {("inputs", name): ("DT_INT32", "(-1, -1)")
           for name in ("input_word_ids", "input_mask", "input_type_ids")}
    assert signatures["serve_ids"] == {**ids, **{
        k: v for k, v in signatures["serving_default"].items() if k[0] == "outputs"}}
    explain = {name: dtype for (_, name), (dtype, _) in signatures["explain"].items()}
    assert explain == {"text": "DT_STRING", "label_id": "DT_INT32", "words": "DT_STRING",
                       "word_start": "DT_INT32", "word_end": "DT_INT32",
                       "scores": "DT_FLOAT", "num_words": "DT_INT32", "score": "DT_FLOAT",
                       "baseline_score": "DT_FLOAT", "target_label_id": "DT_INT32",
                       "error": "DT_STRING"}


def test_bad_inputs_give_errors_naming_the_problem(saved_model_dir):
    serving = tf.saved_model.load(saved_model_dir).signatures
    ids = tf.constant([[101, 40000, 102]])
    ones = tf.ones_like(ids)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Input input_mask must have the shape of input_word_ids"):
        serving["serve_ids"](input_word_ids=ids, input_mask=ones[:, :2],
                             input_type_ids=ones * 0)
    long_ids = tf.fill([1, 513], 101)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings"):
        serving["serve_ids"](input_word_ids=long_ids, input_mask=tf.ones_like(long_ids),
                             input_type_ids=tf.zeros_like(long_ids))
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError), match="string"):
        serving["serving_default"](text=tf.constant([1, 2]))


def _alone_and_merged(signature, requests, pad):
    """Each request's outputs run alone, and its rows of one merged batch."""
    alone = [signature(**request) for request in requests]
    width = max(request["input_word_ids"].shape[1] for request in requests) if pad else None
    merged = {name: tf.concat([pad(request[name], width) for request in requests], axis=0)
              if pad else tf.concat([request[name] for request in requests], axis=0)
              for name in requests[0]}
    together = signature(**merged)
    rows, start = [], 0
    for request in requests:
        size = next(iter(request.values())).shape[0]
        rows.append({k: v[start:start + size] for k, v in together.items()})
        start += size
    return alone, rows


def _pad_with_first_element(tensor, width):
    """TF Serving's batching_util.cc: `T pad_value(input.flat<T>()(0));  // using
    existing values in padding`: a tensor is padded with its own first element."""
    padding = width - tensor.shape[1]
    return tf.pad(tensor, [[0, 0], [0, padding]], constant_values=tensor[0, 0])


def test_ids_of_short_requests_batched_with_long_ones_by_tf_serving(
        classifier, saved_model_dir, real_sentences):
    """Requests of different lengths, merged the way TF Serving's server-side batching
    merges them, give each request exactly what it gets alone."""
    task, _, _ = classifier
    serve_ids = tf.saved_model.load(saved_model_dir).signatures["serve_ids"]
    texts = [real_sentences[:1], real_sentences[-3:], ["fine"]]
    requests = [{k: v for k, v in task.preprocess({"text": tf.constant(t)}).items()}
                for t in texts]
    assert len({r["input_word_ids"].shape[1] for r in requests}) == 3
    alone, merged = _alone_and_merged(serve_ids, requests, _pad_with_first_element)
    for one, rows in zip(alone, merged):
        np.testing.assert_allclose(rows["probabilities"], one["probabilities"], atol=1e-5)
        assert rows["error"].numpy().tolist() == [b""] * len(rows["error"])


def test_a_bad_row_never_fails_the_rows_batched_with_it(classifier, saved_model_dir):
    """An empty text, a text of only zero-width / control characters and ids outside the
    vocabulary each get an `error`, and the other rows of their batch their outputs."""
    task, model, _ = classifier
    signatures = tf.saved_model.load(saved_model_dir).signatures
    good = "a warm and funny film"
    texts = ["", good, "\u200b\u200d \x07", "   "]
    out = signatures["serving_default"](text=tf.constant(texts))
    errors = [e.decode() for e in out["error"].numpy()]
    assert errors[1] == "" and all("text has no text to tokenize" in errors[i]
                                   for i in (0, 2, 3))
    alone = signatures["serving_default"](text=tf.constant([good]))
    np.testing.assert_allclose(out["probabilities"][1], alone["probabilities"][0], atol=1e-5)
    assert alone["error"].numpy().tolist() == [b""]

    features = task.preprocess({"text": tf.constant([good, good])})
    word_ids = features["input_word_ids"].numpy()
    word_ids[0, 1] = 40000  # outside the vocabulary
    out = signatures["serve_ids"](input_word_ids=tf.constant(word_ids),
                                  input_mask=features["input_mask"],
                                  input_type_ids=features["input_type_ids"])
    assert [e.decode() for e in out["error"].numpy()] == [
        "input_word_ids has ids outside [0, 30522)", ""]
    np.testing.assert_allclose(out["probabilities"][1], alone["probabilities"][0], atol=1e-5)


def test_tf_serving_files_next_to_the_export(export_base):
    with open(os.path.join(export_base, "models.config")) as f:
        config = f.read()
    assert 'name: "rt"' in config and 'base_path: "/models/rt"' in config
    with open(os.path.join(export_base, "batching_parameters.txt")) as f:
        batching = f.read()
    assert "num_batch_threads { value: 2 }" in batching
    assert "pad_variable_length_inputs: true" in batching


def test_existing_version_is_never_overwritten(classifier, export_base, saved_model_dir):
    before = os.path.getmtime(os.path.join(saved_model_dir, "saved_model.pb"))
    proc = subprocess.run(  # the bert-export binary, asked for the version that exists
        [sys.executable, "-m", "bert_tf_tools.export", f"--model_dir={classifier[2]}",
         f"--export_base={export_base}", "--model_name=rt", "--version=1"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode != 0
    assert "Version 1 exists already" in proc.stderr and "(2)" in proc.stderr
    assert os.path.getmtime(os.path.join(saved_model_dir, "saved_model.pb")) == before
    assert sorted(os.listdir(os.path.join(export_base, "rt"))) == ["1"]  # no staging left


def test_staging_left_by_a_killed_export_is_removed_by_the_next(tmp_path):
    from bert_tf.export.saved_model import remove_abandoned_staging

    model_dir = tmp_path / "rt"
    abandoned = [model_dir / ".2.partial-abc123", model_dir / ".3.partial-999999999-x1"]
    running = model_dir / f".4.partial-{os.getpid()}-y2"  # an export still writing
    for folder in (*abandoned, running, model_dir / "1"):
        folder.mkdir(parents=True)
    assert sorted(remove_abandoned_staging(str(model_dir))) == sorted(map(str, abandoned))
    assert sorted(os.listdir(model_dir)) == sorted(["1", running.name])


def test_new_version_numbers(tmp_path):
    assert new_version(str(tmp_path / "absent")) == 1
    for name in ("1", "007", ".8.partial-x", "notes"):
        (tmp_path / name).mkdir()
    assert new_version(str(tmp_path)) == 8
    assert new_version(str(tmp_path), 9) == 9
    with pytest.raises(FileExistsError, match="Version 7 exists already"):
        new_version(str(tmp_path), 7)
    with pytest.raises(ValueError, match="positive integer"):
        new_version(str(tmp_path), 0)


def test_models_config_merges_with_other_models(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('model_config_list { config { name: "other" base_path: "/models/other" '
                    'model_platform: "tensorflow" model_version_policy { all {} } } '
                    'config { name: "rt" base_path: "/old/rt" model_platform: "tensorflow" '
                    'model_version_policy { specific { versions: 3 } } } }')
    tf_serving.update_models_config(str(tmp_path), "rt", "/models/rt")
    tf_serving.update_models_config(str(tmp_path), "new", "/models/new")
    from tensorflow_serving.config import model_server_config_pb2
    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c for c in config.model_config_list.config}
    assert sorted(entries) == ["new", "other", "rt"]
    assert entries["other"].HasField("model_version_policy")  # untouched
    assert entries["rt"].base_path == "/models/rt"
    assert list(entries["rt"].model_version_policy.specific.versions) == [3]  # kept
    path.write_text("model_config_list { broken")
    with pytest.raises(ValueError, match="not a valid ModelServerConfig"):
        tf_serving.update_models_config(str(tmp_path), "rt", "/models/rt")
    assert path.read_text() == "model_config_list { broken"


def test_batching_parameters_presets(tmp_path):
    gpu = tf_serving.batching_parameters_text("gpu", 8)
    allowed = [int(v) for v in re.findall(r"allowed_batch_sizes: (\d+)", gpu)]
    max_batch = int(re.search(r"max_batch_size \{ value: (\d+) \}", gpu).group(1))
    assert allowed == sorted(allowed) and allowed[-1] == max_batch  # TF Serving requires it
    path, written = tf_serving.write_batching_parameters(str(tmp_path), "cpu", 4)
    assert written and "max_enqueued_batches { value: 4 }" in open(path).read()
    assert tf_serving.write_batching_parameters(str(tmp_path), "gpu", 4) == (path, False)
    with pytest.raises(ValueError, match="Batching device"):
        tf_serving.batching_parameters_text("tpu", 4)


def test_export_errors_name_the_problem(tmp_path, classifier):
    with pytest.raises(FileNotFoundError, match="no task_config.json"):
        export_tool.serving_module_from_folder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Model folder not found"):
        export_tool.serving_module_from_folder(str(tmp_path / "missing"))
    module = export_tool.serving_module_from_folder(classifier[2])
    with pytest.raises(ValueError, match="Model name"):
        export_saved_model(module, str(tmp_path), "bad/name")
    with pytest.raises(ValueError, match="max_seq_length"):
        export_tool.serving_module_from_folder(classifier[2], max_seq_length=1000)


def test_encoder_as_keras_layer_round_trip(classifier, tmp_path):
    task, model, folder = classifier
    # From a fine-tuned task folder: the encoder inside the task model, frozen.
    encoder = load_encoder_as_layer(folder, trainable=False)
    assert encoder.trainable_weights == []
    original = find_encoder(model)
    for got, want in zip(encoder.weights, original.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy())

    # A new model on it, saved and loaded as .keras.
    inputs = encoder_inputs()
    logits = keras.layers.Dense(3, name="new_head")(encoder(inputs)["pooled_output"])
    new_model = keras.Model(inputs, logits)
    features = {k: v.numpy() for k, v in
                model_features(task.preprocess({"text": tf.constant(["a fine film"])})).items()}
    path = str(tmp_path / "new_task.keras")
    new_model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded(features), new_model(features), atol=1e-6)

    # From a .keras file of an encoder alone.
    encoder_path = str(tmp_path / "encoder.keras")
    original.save(encoder_path)
    again = load_encoder_as_layer(encoder_path)
    np.testing.assert_allclose(again(features)["pooled_output"],
                               original(features)["pooled_output"], atol=1e-6)
    with pytest.raises(FileNotFoundError, match="exactly one .keras file"):
        load_encoder_as_layer(str(tmp_path))  # two .keras files there now
    with pytest.raises(ValueError, match="0 BertEncoder"):
        find_encoder(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))


# --- NER: entities with character offsets ----------------------------------------------
NER_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def test_entity_decoding_in_graph_matches_conlleval():
    rng = np.random.default_rng(0)
    rows = [list(rng.integers(0, len(NER_TAGS), size=rng.integers(0, 12))) for _ in range(300)]
    tag_ids = tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1)
    row_of, first, last = (t.numpy() for t in entity_word_spans(tag_ids, NER_TAGS, 0))
    starts = tag_ids.row_starts().numpy()
    got = [[] for _ in rows]
    for row, a, b in zip(row_of, first, last):
        got[row].append((a - starts[row], b - starts[row]))
    want = [[(start, end) for _, start, end in conll.entity_spans([NER_TAGS[i] for i in r])]
            for r in rows]
    assert got == want


@pytest.fixture(scope="module")
def tagger(tiny_tagger, tiny_tagger_export):
    """(task, model, SavedModel dir): the shared tiny NER model on CoNLL-2003's tag set."""
    return tiny_tagger.task, tiny_tagger.model, tiny_tagger_export


def python_entities(text, tags):
    """(type, text, start, end) per entity, from words split like the task splits."""
    words = list(re.finditer(r"[^ \t\n\v\f\r]+", text))
    assert len(words) == len(tags)
    return [(kind, text[words[a].start():words[b].end()], words[a].start(), words[b].end())
            for kind, a, b in conll.entity_spans(tags)]


@pytest.mark.slow  # one fresh TF1-session process for three exports: ~60 s
def test_ner_entities_with_character_offsets(tagger, fresh_session):
    task, model, path = tagger
    texts = ner_texts()
    tags = [[t.decode() for t in row] for row in
            task.serve(model, {"text": tf.constant(texts)})["tags"].to_list()]
    (outputs,), report = fresh_session["ner"]
    assert report["imported"] == [] and set(report["custom_ops"]) <= TF_TEXT_OPS
    for i, text in enumerate(texts):
        n = outputs["num_entities"][i]
        got = [(outputs["entity_type"][i, k].decode(), outputs["entity_text"][i, k].decode(),
                int(outputs["entity_start"][i, k]), int(outputs["entity_end"][i, k]))
               for k in range(n)]
        assert got == python_entities(text, tags[i]), text
        assert all(text[start:end] == span for _, span, start, end in got)
        assert [t.decode() for t in outputs["tags"][i] if t] == tags[i]
    assert sum(outputs["num_entities"]) > 0  # random weights still tag some entities
    assert not outputs["entity_type"][:, outputs["num_entities"].max():].size  # no extra pad


def test_ner_ids_signature_tags_every_position(tagger):
    task, model, path = tagger
    features = model_features(task.preprocess({"text": tf.constant(["EU rejects German call"])}))
    got = tf.saved_model.load(path).signatures["serve_ids"](**features)
    logits = model(features, training=False)
    np.testing.assert_array_equal(got["position_tag_ids"], np.argmax(logits, axis=-1))
    assert got["position_tags"].shape == features["input_word_ids"].shape


@pytest.mark.slow  # exports the real MiniLM (~1 min on 2 cores)
def test_minilm_encoder_export_matches_transformers(minilm_path, real_sentences, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    path = export_tool.export(minilm_path, str(tmp_path), "minilm", task="encoder",
                              max_seq_length=128)
    serving = tf.saved_model.load(path).signatures["serving_default"]
    texts = real_sentences[:8]
    got = serving(text=tf.constant(texts))

    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_path)
    hf_model = transformers.BertModel.from_pretrained(minilm_path).eval()
    batch = hf_tokenizer(texts, padding=True, truncation=True, max_length=128,
                         return_tensors="pt")
    with torch.inference_mode():
        want = hf_model(**batch)
    np.testing.assert_array_equal(got["input_mask"].numpy(), batch["attention_mask"].numpy())
    mask = batch["attention_mask"].numpy()[..., None].astype(bool)
    np.testing.assert_allclose(np.where(mask, got["sequence_output"].numpy(), 0),
                               np.where(mask, want.last_hidden_state.numpy(), 0), atol=1e-4)
    np.testing.assert_allclose(got["pooled_output"].numpy(), want.pooler_output.numpy(),
                               atol=1e-4)


@pytest.fixture(scope="module")
def reader(tiny_reader, tiny_reader_export):
    """(task, model, SavedModel dir): the shared tiny random-weight SQuAD v2.0 model
    (max_seq_length 32, doc_stride 8, answers of at most 6 pieces, threshold 0.5)."""
    return tiny_reader.task, tiny_reader.model, tiny_reader_export


@pytest.mark.slow  # one fresh TF1-session process for three exports: ~60 s
def test_qa_answers_with_character_offsets(reader, fresh_session):
    """Question + context in, the answer out: the fresh TF1 session gives what the task
    computes in memory, over contexts cut into several windows, with offsets into the
    original (accented, CJK) context."""
    task, model, path = reader
    contexts, questions = QA_CONTEXTS, QA_QUESTIONS
    inputs = {"question": tf.constant(questions), "context": tf.constant(contexts)}
    want = {k: v.numpy() for k, v in task.serve(model, inputs).items()}
    (outputs,), report = fresh_session["qa"]
    assert report["imported"] == [] and set(report["custom_ops"]) <= TF_TEXT_OPS
    assert_outputs_equal(outputs, want)
    assert task.preprocess(inputs)["window_example"].shape[0] > len(contexts)  # windows
    for i, context in enumerate(contexts):
        for k in range(outputs["nbest_text"].shape[1]):
            start, end = outputs["nbest_start"][i, k], outputs["nbest_end"][i, k]
            if start >= 0:
                assert context[start:end] == outputs["nbest_text"][i, k].decode()
        answered = outputs["answer_start"][i] >= 0
        assert answered == (outputs["null_score_diff"][i] <= 0.5)
        assert outputs["answer_text"][i].decode() == (
            outputs["nbest_text"][i, 0].decode() if answered else "")
    # An empty context, alone or batched with others, is an `error` row, not a failure.
    serve = tf.saved_model.load(path).signatures["serving_default"]
    alone = serve(question=tf.constant(["Who?"]), context=tf.constant([" "]))
    assert alone["error"].numpy()[0].decode().startswith("context has no text")
    assert alone["answer_start"].numpy().tolist() == [NO_ANSWER]
    mixed = serve(question=tf.constant(["Who?", questions[0]]),
                  context=tf.constant(["", contexts[0]]))
    assert [e.decode()[:7] for e in mixed["error"].numpy()] == ["context", ""]
    assert mixed["answer_text"].numpy()[1] == outputs["answer_text"][0]


def test_qa_ids_signature_finds_spans_in_the_second_segment(reader):
    task, model, path = reader
    features = model_features(task.preprocess({"question": tf.constant(["Who?"]),
                                               "context": tf.constant(["Gustave Eiffel"])}))
    got = tf.saved_model.load(path).signatures["serve_ids"](**features)
    logits = model(features, training=False).numpy()[0]
    context = [p for p in range(features["input_word_ids"].shape[1])
               if features["input_type_ids"][0, p] == 1
               and p < features["input_mask"][0].numpy().sum() - 1]
    best = max(((s, e) for s in context for e in context if s <= e < s + 6),
               key=lambda span: logits[0, span[0]] + logits[1, span[1]])
    assert (got["start_position"][0], got["end_position"][0]) == best
    np.testing.assert_allclose(got["null_score"][0], logits[0, 0] + logits[1, 0], rtol=1e-5)


def test_bert_predict_answers_questions_from_jsonl(reader, tmp_path):
    """bert-predict over the QA export: named inputs from a .jsonl file, rows back in input
    order (sorted internally by the export's per-question `sequence_lengths`)."""
    task, model, path = reader
    rows = [{"question": "Who designed it?", "context": "Gustave Eiffel's company " * 20},
            {"question": "Where?", "context": "In Paris."},
            {"question": "When?", "context": "It was completed in 1889, in Paris, France."}]
    lengths = tf.saved_model.load(path).signatures["sequence_lengths"](
        question=tf.constant([r["question"] for r in rows]),
        context=tf.constant([r["context"] for r in rows]))["sequence_length"]
    assert lengths.shape == (3,) and lengths[0] == MAX_SEQ_LENGTH  # one per question
    input_file = tmp_path / "questions.jsonl"
    input_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    proc = subprocess.run(  # paths relative to the working directory, as a user types
        [sys.executable, "-m", "bert_tf_tools.predict",
         f"--saved_model={os.path.relpath(path, tmp_path)}", "--input_file=questions.jsonl",
         "--batch_size=2"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    want = task.serve(model, {name: tf.constant([r[name] for r in rows])
                              for name in ("question", "context")})
    assert [p["question"] for p in printed] == [r["question"] for r in rows]
    assert [p["answer_text"] for p in printed] == [t.decode() for t in want["answer_text"].numpy()]
