"""serving/'s REST and gRPC clients, and their CLI, against a stand-in for TF Serving
built from its own protos.

The model server binary cannot be installed here, so the tests run a small server that
does what `tensorflow_model_server` does with a SavedModel: load it with the TF1 Session
loader and run a signature by the tensor names in its SignatureDef, behind
PredictionService/Predict (gRPC, from tensorflow-serving-api's generated service) and
the REST API (/v1/models/<name>[/versions/<v>]:predict, "instances" and "inputs"), with
TF Serving's error codes and messages. Both listen on 127.0.0.1, on ephemeral ports, and
are shut down after the tests.
"""
import http.server
import json
import re
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from bert_tf.tasks.base import model_features
from bert_tf_serving import errors
from bert_tf_serving.grpc_client import GrpcClient
from bert_tf_serving.inputs import (InputError, int_inputs, read_input_file, request_inputs,
                                    request_texts)
from bert_tf_serving.rest import RestClient
from bert_tf_serving.retry import RetryPolicy

LABELS = ["fresh", "rotten"]


# --- the stand-in server -----------------------------------------------------------------
class Status(Exception):
    """A canonical error status, as TF Serving returns it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class SessionModelServer:
    """TF Serving's model handling in Python: {(name, version): Session bundle}.

    `unavailable_replies` makes the next N requests answer UNAVAILABLE, like a server
    still loading or with a full batching queue.
    """

    def __init__(self, models):
        self.bundles = {}
        for (name, version), path in models.items():
            session = tf.compat.v1.Session(graph=tf.Graph())
            with session.graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
            self.bundles[name, version] = (session, meta_graph.signature_def)
        self.unavailable_replies = 0
        self.requests = 0
        self._lock = threading.Lock()

    def signature(self, name, version, signature_name):
        versions = [v for n, v in self.bundles if n == name]
        if version is None and versions:
            version = max(versions)
        if (name, version) not in self.bundles:
            spec = f"Specific({name}, {version})" if version else f"Latest({name})"
            raise Status("NOT_FOUND", f"Servable not found for request: {spec}")
        session, signatures = self.bundles[name, version]
        if signature_name not in signatures:
            raise Status("FAILED_PRECONDITION",
                         f'Serving signature key "{signature_name}" not found.')
        return session, signatures[signature_name]

    def predict(self, name, version, signature_name, inputs):
        with self._lock:
            self.requests += 1
            if self.unavailable_replies:
                self.unavailable_replies -= 1
                raise Status("UNAVAILABLE", "The batch scheduling queue is full")
        session, signature = self.signature(name, version, signature_name)
        if set(inputs) != set(signature.inputs):
            raise Status("INVALID_ARGUMENT",
                         f"input size does not match signature: {sorted(inputs)} != "
                         f"{sorted(signature.inputs)}")
        feed = {}
        for i, (alias, value) in enumerate(sorted(inputs.items())):
            expected = tf.dtypes.as_dtype(signature.inputs[alias].dtype)
            if tf.dtypes.as_dtype(value.dtype) != expected:
                raise Status("INVALID_ARGUMENT", f"Expects arg[{i}] to be {expected.name} "
                             f"but {tf.dtypes.as_dtype(value.dtype).name} is provided")
            feed[signature.inputs[alias].name] = value
        fetch = {alias: info.name for alias, info in signature.outputs.items()}
        try:
            return session.run(fetch, feed)
        except tf.errors.OpError as e:  # TF's error codes are gRPC's canonical codes
            code = next(c.name for c in grpc.StatusCode if c.value[0] == e.error_code)
            raise Status(code, e.message) from e


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, server):
        self.server = server

    def Predict(self, request, context):
        try:
            outputs = self.server.predict(
                request.model_spec.name,
                request.model_spec.version.value if request.model_spec.HasField("version")
                else None,
                request.model_spec.signature_name or "serving_default",
                {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        except Status as e:
            context.abort(grpc.StatusCode[e.code], e.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response


_HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404,
                "UNAVAILABLE": 503, "INTERNAL": 500}
_PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict")


def _from_json(values, dtype, alias):
    """JSON values to an array of the signature's dtype, or INVALID_ARGUMENT."""
    array = np.array(values, dtype=object)
    flat = array.reshape(-1)
    if dtype == tf.string:
        if not all(isinstance(v, str) for v in flat):
            raise Status("INVALID_ARGUMENT", f"JSON Value for {alias} is not formatted "
                                             "correctly: expected a string")
        return np.vectorize(lambda v: v.encode("utf-8"), otypes=[object])(array)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        raise Status("INVALID_ARGUMENT", f"JSON Value for {alias} is not formatted "
                                         f"correctly: expected {dtype.name}")
    return array.astype(dtype.as_numpy_dtype)


def _to_json(value):
    if value.dtype == object:
        return np.vectorize(lambda v: v.decode("utf-8"), otypes=[object])(value).tolist()
    return value.tolist()


class RestHandler(http.server.BaseHTTPRequestHandler):
    server_version = "stand-in-tf-serving"

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        model_server = self.server.model_server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            match = _PREDICT_PATH.fullmatch(self.path)
            if not match:
                raise Status("INVALID_ARGUMENT", f"Malformed request: POST {self.path}")
            name, version = match.group(1), match.group(2) and int(match.group(2))
            request = json.loads(body)
            signature_name = request.get("signature_name", "serving_default")
            try:
                _, signature = model_server.signature(name, version, signature_name)
            except Status as e:  # The REST API words this one differently from gRPC.
                if e.code != "FAILED_PRECONDITION":
                    raise
                raise Status("INVALID_ARGUMENT", f'Serving signature name: '
                             f'"{signature_name}" not found in signature def') from e
            dtypes = {k: tf.dtypes.as_dtype(v.dtype) for k, v in signature.inputs.items()}
            if "instances" in request:
                instances = request["instances"]
                if all(isinstance(i, dict) for i in instances):
                    columns = {k: [i.get(k) for i in instances] for k in instances[0]}
                else:
                    columns = {next(iter(dtypes)): instances}
            elif "inputs" in request:
                columns = request["inputs"]
            else:
                raise Status("INVALID_ARGUMENT", "Missing 'instances' or 'inputs' key")
            unknown = sorted(set(columns) - set(dtypes))
            if unknown:
                raise Status("INVALID_ARGUMENT", f"input tensor alias not found in "
                                                 f"signature: {unknown[0]}")
            outputs = model_server.predict(
                name, version, signature_name,
                {k: _from_json(v, dtypes[k], k) for k, v in columns.items()})
        except Status as e:
            return self._reply(_HTTP_STATUS.get(e.code, 500), {"error": e.message})
        outputs = {k: _to_json(v) for k, v in outputs.items()}
        if "instances" in request:
            rows = [dict(zip(outputs, row)) for row in zip(*outputs.values())]
            return self._reply(200, {"predictions": rows})
        return self._reply(200, {"outputs": outputs})


@pytest.fixture(scope="module")
def classifier(tiny_classifier, tiny_classifier_export):
    """(task, model, export path): the shared tiny random-weight classifier (labels
    fresh / rotten) on the MiniLM vocab, exported."""
    return tiny_classifier.task, tiny_classifier.model, tiny_classifier_export


@pytest.fixture(scope="module")
def servers(classifier):
    """(model server, REST port, gRPC port), listening on 127.0.0.1."""
    model_server = SessionModelServer({("rt", 1): classifier[2]})
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(model_server), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RestHandler)
    http_server.model_server = model_server
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    try:
        yield model_server, http_server.server_address[1], grpc_port
    finally:
        http_server.shutdown()
        http_server.server_close()
        grpc_server.stop(grace=None).wait()
        thread.join(timeout=10)


@pytest.fixture
def rest(servers):
    with RestClient(port=servers[1], timeout=30,
                                   retry=RetryPolicy(initial_backoff=0.01)) as c:
        yield c


@pytest.fixture
def grpc_client(servers):
    with GrpcClient(port=servers[2], timeout=30,
                                   retry=RetryPolicy(initial_backoff=0.01)) as c:
        yield c


def expected(classifier, texts):
    task, model, _ = classifier
    return {k: v.numpy() for k, v in task.serve(model, {"text": tf.constant(texts)}).items()}


def test_rest_inputs_and_instances_forms(rest, classifier, real_sentences):
    texts = real_sentences[:4]
    want = expected(classifier, texts)
    columns = rest.predict("rt", {"text": texts})
    assert columns["label"] == [label.decode() for label in want["label"]]
    assert columns["label_id"] == want["label_id"].tolist()
    np.testing.assert_allclose(columns["probabilities"], want["probabilities"], atol=1e-5)
    rows = rest.predict("rt", [{"text": t} for t in texts], version=1)
    assert [row["label"] for row in rows] == columns["label"]
    np.testing.assert_allclose([row["probabilities"] for row in rows],
                               want["probabilities"], atol=1e-5)


def test_grpc_both_signatures(grpc_client, classifier, real_sentences):
    task, model, _ = classifier
    texts = real_sentences[4:8]
    want = expected(classifier, texts)
    got = grpc_client.predict("rt", {"text": texts}, version=1)
    np.testing.assert_array_equal(got["label"], want["label"])
    np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-5)
    features = {k: v.numpy() for k, v in
                model_features(task.preprocess({"text": tf.constant(texts)})).items()}
    by_ids = grpc_client.predict("rt", features, signature="serve_ids")
    np.testing.assert_allclose(by_ids["probabilities"], want["probabilities"], atol=1e-5)


def test_text_far_beyond_max_length_is_truncated(rest):
    long_text = "a remarkably long review " * 2000
    outputs = rest.predict("rt", {"text": [long_text, "short"]})
    assert len(outputs["label"]) == 2 and len(outputs["probabilities"][0]) == len(LABELS)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_missing_model_version_or_signature(protocol, rest, grpc_client):
    client = rest if protocol == "rest" else grpc_client
    with pytest.raises(errors.ModelNotFoundError, match=r"Latest\(nope\)"):
        client.predict("nope", {"text": ["fine"]})
    with pytest.raises(errors.ModelNotFoundError, match=r"Specific\(rt, 7\)"):
        client.predict("rt", {"text": ["fine"]}, version=7)
    with pytest.raises(errors.SignatureNotFoundError, match="serve_nothing"):
        client.predict("rt", {"text": ["fine"]}, signature="serve_nothing")


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_bad_requests_give_clear_errors(protocol, rest, grpc_client, servers):
    client = rest if protocol == "rest" else grpc_client
    # A row that cannot be served says why in `error`; the request's other rows are served.
    rows = client.predict("rt", {"text": ["a fine film", ""]})
    assert [str(e if isinstance(e, str) else e.decode())[:20] for e in rows["error"]] == [
        "", "text has no text to "]
    with pytest.raises(errors.InvalidRequestError, match="string"):
        client.predict("rt", {"text": [1, 2]})
    with pytest.raises(errors.InvalidRequestError, match="text_b"):
        client.predict("rt", {"text": ["a"], "text_b": ["b"]})
    ids = np.array([[101, 99999, 102]])
    rows = client.predict("rt", {"input_word_ids": ids, "input_mask": np.ones_like(ids),
                                 "input_type_ids": np.zeros_like(ids)}, signature="serve_ids")
    assert "outside" in str(rows["error"][0])
    # The server is still serving.
    assert len(client.predict("rt", {"text": ["still fine"]})["label"]) == 1


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unavailable_is_retried_with_bounded_attempts(protocol, servers, rest, grpc_client):
    model_server = servers[0]
    client = rest if protocol == "rest" else grpc_client
    before = model_server.requests
    model_server.unavailable_replies = 2
    assert len(client.predict("rt", {"text": ["fine"]})["label"]) == 1
    assert model_server.requests - before == 3  # two UNAVAILABLE replies, then success

    model_server.unavailable_replies = 10
    before = model_server.requests
    with pytest.raises(errors.ServerUnavailableError, match="after 4 attempts"):
        client.predict("rt", {"text": ["fine"]})
    assert model_server.requests - before == 4
    model_server.unavailable_replies = 0


def test_unreachable_server_fails_after_retries():
    import socket
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    retry = RetryPolicy(attempts=3, initial_backoff=0.01)
    start = time.monotonic()
    with pytest.raises(errors.ServerUnavailableError, match="after 3 attempts"):
        RestClient(port=port, timeout=2, retry=retry).predict("rt", {"text": ["x"]})
    with pytest.raises(errors.ServerUnavailableError, match="after 3 attempts"):
        GrpcClient(port=port, timeout=2, retry=retry).predict(
            "rt", {"text": ["x"]})
    assert time.monotonic() - start < 20


def test_client_cli_over_rest(servers):
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_serving.client", "--model=rt",
         f"--port={servers[1]}", "--text=a fine film", "--text=a dull one",
         "--form=instances"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    assert len(rows) == 2 and {row["label"] for row in rows} <= set(LABELS)
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_serving.client", "--model=missing",
         f"--port={servers[1]}", "--text=x", "--attempts=1"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Servable not found" in proc.stderr


def test_cli_texts_by_input_name():
    assert request_texts(["a", "b"], ["c", "d"]) == {
        "text": ["a", "b"], "text_b": ["c", "d"]}
    assert request_texts(named=["question=Who?", "context=Ann = Bob.",
                                "question=Why?", "context=x"]) == {
        "question": ["Who?", "Why?"], "context": ["Ann = Bob.", "x"]}
    with pytest.raises(InputError, match="one text per row"):
        request_texts(["a", "b"], ["c"])
    with pytest.raises(InputError, match="NAME=TEXT"):
        request_texts(named=["question"])
    with pytest.raises(InputError, match="Give the texts"):
        request_texts()


def test_cli_int_inputs_and_file_rows_before_flag_rows(tmp_path):
    assert int_inputs(["label_id=-1", "label_id=2"]) == [("label_id", -1), ("label_id", 2)]
    for bad in ("label_id", "=1", "label_id=--1", "label_id=1.5", "label_id=²"):
        with pytest.raises(InputError, match="--int_input must be NAME=INT"):
            int_inputs([bad])
    path = tmp_path / "rows.jsonl"
    path.write_text('{"question": "Who?", "context": "Ann."}\n', encoding="utf-8")
    assert request_inputs(named=["question=Why?", "context=Bob."], int_items=["x=0", "x=1"],
                          input_file=str(path)) == {
        "question": ["Who?", "Why?"], "context": ["Ann.", "Bob."], "x": [0, 1]}
    assert request_inputs(input_file=str(path)) == {"question": ["Who?"], "context": ["Ann."]}


def test_client_cli_bad_input_is_a_usage_error():
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_serving.client", "--model=rt", "--input=question"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--input must be NAME=TEXT" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["-1", "0"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(value):
    """Refused at flag parsing, naming the flag and what it accepts, before any request
    (it used to be sent, then reported as "no whole reply within -1.0 s")."""
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf_serving.client", "--model=rt", "--text=x",
         f"--timeout={value}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert (f"flag --timeout={float(value)}: must be a number of seconds > 0"
            in proc.stderr.splitlines()[0])
    assert "no whole reply" not in proc.stderr
    for client_class in (RestClient, GrpcClient):
        with pytest.raises(ValueError, match=rf"timeout must be a number of seconds > 0, "
                                             rf"got {value}"):
            client_class(timeout=int(value))


def test_predict_input_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"a fine film\n\nd\xe9j\xe0 vu\n")
    with pytest.raises(ValueError, match=r"texts.txt:3: not UTF-8 text \(byte 0xe9\)"):
        read_input_file(str(path))
    path.write_bytes(b"a fine film\r\n\r\nbad\r\n")
    assert read_input_file(str(path)) == {"text": ["a fine film", "bad"]}


class _RawHttpServer:
    """A bounded stand-in server on 127.0.0.1 that answers one connection with `reply`
    (bytes): its first `burst` bytes at once, then one byte every `delay` seconds (all at
    once without a delay); it stops by itself after `max_seconds`."""

    def __init__(self, reply, delay=0.0, burst=0, max_seconds=10.0):
        import socket
        self.reply, self.delay, self.max_seconds = reply, delay, max_seconds
        self.burst = burst
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(max_seconds)
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        end = time.monotonic() + self.max_seconds
        try:
            connection, _ = self.socket.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)  # the request
            if self.delay and self.burst:
                connection.sendall(self.reply[:self.burst])
            for i in range(self.burst if self.delay else 0, len(self.reply)):
                if time.monotonic() > end:
                    return
                try:
                    connection.sendall(self.reply[i:i + 1] if self.delay else self.reply[i:])
                except OSError:
                    return
                if not self.delay:
                    return
                time.sleep(self.delay)

    def close(self):
        self.socket.close()
        self.thread.join(timeout=self.max_seconds)


@pytest.mark.parametrize("trickled", ["headers", "body"])
def test_rest_timeout_bounds_the_whole_call_against_a_trickling_server(trickled):
    body = b'{"outputs": {"label": ["fresh"]}}' + b" " * 200
    headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + \
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    # "body": the headers at once, then the body a byte at a time.
    server = _RawHttpServer(headers + body, delay=0.1,
                            burst=len(headers) if trickled == "body" else 0)
    try:
        start = time.monotonic()
        with RestClient(port=server.port, timeout=1.0) as client:
            with pytest.raises(errors.ServingError, match="DEADLINE_EXCEEDED"):
                client.predict("rt", {"text": ["fine"]})
        assert time.monotonic() - start < 2.5
    finally:
        server.close()


def test_rest_reply_that_is_not_json_says_so():
    body = b"<html><body>502 Bad Gateway from a proxy</body></html>"
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + \
        b"\r\n\r\n" + body
    server = _RawHttpServer(reply)
    try:
        with RestClient(port=server.port, timeout=5.0) as client:
            with pytest.raises(errors.ServingError,
                               match=r"not JSON \(HTTP 200\); it starts with b'<html>"):
                client.predict("rt", {"text": ["fine"]})
    finally:
        server.close()
