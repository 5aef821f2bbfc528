r"""Clients for models exported by `bert-export` and served by TF Serving.

    from bert_tf_serving.client import RestClient, GrpcClient

    rest = RestClient("127.0.0.1", 8501)
    rest.predict("rt_sentiment", {"text": ["a fine film"]})         # "inputs" (columnar)
    # -> {"label": ["fresh"], "label_id": [1], "probabilities": [[0.1, 0.9]]}
    rest.predict("rt_sentiment", [{"text": "a fine film"}])         # "instances" (rows)
    # -> [{"label": "fresh", "label_id": 1, "probabilities": [0.1, 0.9]}]

    with GrpcClient("127.0.0.1", 8500) as grpc_client:
        grpc_client.predict("rt_sentiment", {"text": ["a fine film"]}, version=2)
        # -> {"label": array([b"fresh"]), "label_id": array([1]), ...} (numpy arrays)

    bert-serving-client --model=rt_sentiment --text="a fine film" --protocol=grpc

REST: POST /v1/models/<model>[/versions/<v>]:predict. gRPC: tensorflow.serving
PredictionService/Predict (needs `tensorflow-serving-api`). Every call has a timeout;
a server that is UNAVAILABLE (starting, overloaded: a full batching queue, or not
listening yet) is retried a bounded number of times with exponential backoff. Errors
name what was wrong: `ModelNotFoundError` (model or version not served),
`SignatureNotFoundError`, `InvalidRequestError` (inputs the model rejects: wrong dtype,
empty text, ...), `ServerUnavailableError` (still unavailable after the retries).
"""
import dataclasses
import json
import random
import re
import socket
import sys
import threading
import time

import numpy as np
import requests

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REST_PORT = 8501
DEFAULT_GRPC_PORT = 8500
DEFAULT_SIGNATURE = "serving_default"


# --- errors ---------------------------------------------------------------------------
class ServingError(Exception):
    """A request the server answered with an error (or could not be made).

    Attributes:
      code: str, the canonical status name ("NOT_FOUND", "INVALID_ARGUMENT", ...).
      message: str, the server's message.
    """

    def __init__(self, code, message, target=""):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" + (f" [{target}]" if target else ""))


class ModelNotFoundError(ServingError):
    """The server serves no such model, or not that version."""


class SignatureNotFoundError(ServingError):
    """The model has no signature of that name."""


class InvalidRequestError(ServingError):
    """The model rejected the inputs (wrong names, dtype or shape, empty text, ...)."""


class ServerUnavailableError(ServingError):
    """The server stayed unreachable or unavailable through every retry."""


# TF Serving says 'Serving signature key "x" not found.' (gRPC) or 'Serving signature
# name: "x" not found in signature def' (REST).
_SIGNATURE_NOT_FOUND = re.compile(r"signature (key|name)\b.*not found", re.IGNORECASE)


def _error_for(code, message, target):
    if code == "NOT_FOUND":
        return ModelNotFoundError(code, message, target)
    if _SIGNATURE_NOT_FOUND.search(message):
        return SignatureNotFoundError(code, message, target)
    if code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return InvalidRequestError(code, message, target)
    if code == "UNAVAILABLE":
        return ServerUnavailableError(code, message, target)
    return ServingError(code, message, target)


# --- retries --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, for UNAVAILABLE only.

    Other errors are not retried: the request itself is wrong, or (on a timeout) the
    server may still be working on it.

    Args:
      attempts: int, tries in all (1 disables retries).
      initial_backoff: float, seconds before the first retry.
      max_backoff: float, cap on any one wait.
      multiplier: float, growth of the wait per retry.
    """
    attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 2.0
    multiplier: float = 2.0

    def __post_init__(self):
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff times must be >= 0")

    def backoff(self, retry):
        """Seconds to wait before retry number `retry` (1, 2, ...), with jitter."""
        wait = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        return wait * random.uniform(0.5, 1.0)

    def call(self, fn, timeout):
        """Returns `fn(seconds left)`, retrying while it raises ServerUnavailableError,
        all within `timeout` seconds: no retry starts, and no wait runs, past it."""
        deadline = time.monotonic() + timeout
        attempt = 1
        while True:
            try:
                return fn(deadline - time.monotonic())
            except ServerUnavailableError as e:
                wait = self.backoff(attempt)
                if attempt >= self.attempts or time.monotonic() + wait >= deadline:
                    raise ServerUnavailableError(
                        e.code, f"{e.message} (gave up after {attempt} attempts)") from e
            time.sleep(wait)
            attempt += 1


def _model_path(model, version):
    if not model or "/" in model or ":" in model:
        raise ValueError(f"Bad model name {model!r}")
    if version is None:
        return f"/v1/models/{model}"
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer or None, got {version!r}")
    return f"/v1/models/{model}/versions/{version}"


def jsonable(value):
    """Inputs and outputs as JSON values: numpy arrays become lists, bytes become str."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- REST -----------------------------------------------------------------------------
def checked_timeout(timeout):
    """`timeout` as float seconds; ValueError unless it is a number > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


class _Client:
    """Closes the connection at the end of a `with` block."""

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RestClient(_Client):
    """TF Serving's REST API (default port 8501).

    Args:
      host: str, the server's address (loopback by default).
      port: int, its REST port.
      timeout: float, seconds a call may take in all: connecting, sending, the reply's
        last byte, and retries (a server that trickles its reply is cut off too).
      retry: RetryPolicy for UNAVAILABLE (HTTP 503, refused connections).
    """

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_REST_PORT, timeout=10.0,
                 retry=RetryPolicy()):
        self.base_url = f"http://{host}:{port}"
        self.timeout = checked_timeout(timeout)
        self.retry = retry
        self._session = requests.Session()

    def close(self):
        self._session.close()

    def predict(self, model, inputs, version=None, signature=DEFAULT_SIGNATURE):
        """Runs a signature of a served model.

        Args:
          model: str, the model name.
          inputs: dict {input name: list or array [B, ...]} (sent in the columnar
            "inputs" form; returns a dict of outputs), or a list of per-example values
            (dicts for several inputs; sent in the row "instances" form; returns a list
            of per-example outputs).
          version: int or None (None: the newest version the server has loaded).
          signature: str, the signature name.

        Returns:
          dict {output name: nested lists} for "inputs"; list for "instances".
        """
        if isinstance(inputs, dict):
            body, key = {"inputs": jsonable(inputs)}, "outputs"
        elif isinstance(inputs, (list, tuple)):
            body, key = {"instances": jsonable(inputs)}, "predictions"
        else:
            raise TypeError(f"inputs must be a dict (columns) or a list (instances), got "
                            f"{type(inputs).__name__}")
        body["signature_name"] = signature
        url = self.base_url + _model_path(model, version) + ":predict"
        reply = self._call("POST", url, body)
        if not isinstance(reply, dict) or key not in reply:
            raise ServingError("UNKNOWN", f"Reply has no {key!r}: {str(reply)[:200]}", url)
        return reply[key]

    def model_status(self, model, version=None):
        """The server's `model_version_status` list for the model (or one version)."""
        return self._call("GET", self.base_url + _model_path(model, version))[
            "model_version_status"]

    def _call(self, method, url, body=None):
        return self.retry.call(lambda seconds: self._request(method, url, body, seconds),
                               self.timeout)

    def _request(self, method, url, body, seconds):
        """One HTTP request, its reply read whole within `seconds`.

        requests' own timeout bounds each socket read, not the call: a reply trickled a
        byte at a time would never end. So the request runs in a worker thread that the
        call stops waiting for at the deadline (shutting its socket down once the reply
        has begun, which ends the worker's read).
        """
        outcome = {}

        def send():
            try:
                response = self._session.request(method, url, json=body, stream=True,
                                                  timeout=max(seconds, 0.001))
                outcome["response"] = response
                outcome["content"] = response.content  # the whole body
            except Exception as e:  # noqa: BLE001 (handed to the caller below)
                outcome["error"] = e

        worker = threading.Thread(target=send, daemon=True)
        worker.start()
        worker.join(max(seconds, 0))
        if worker.is_alive():
            _abort(outcome.get("response"))
            raise ServingError("DEADLINE_EXCEEDED", f"no whole reply within {self.timeout} s",
                               url)
        error = outcome.get("error")
        if isinstance(error, requests.ConnectionError):
            raise ServerUnavailableError("UNAVAILABLE", f"cannot connect: {error}", url) \
                from error
        if isinstance(error, requests.Timeout):
            raise ServingError("DEADLINE_EXCEEDED",
                               f"no whole reply within {self.timeout} s", url) from error
        if error is not None:
            raise error
        response, content = outcome["response"], outcome["content"]
        try:
            reply = json.loads(content)
        except ValueError:
            if response.ok:
                raise ServingError("UNKNOWN", f"the reply is not JSON (HTTP "
                                   f"{response.status_code}); it starts with "
                                   f"{content[:200]!r}", url) from None
            reply = {"error": content[:500].decode("utf-8", "replace")}
        if response.ok:
            return reply
        code = _HTTP_CODES.get(response.status_code, "UNKNOWN")
        raise _error_for(code, str(reply.get("error", reply) if isinstance(reply, dict)
                                   else reply), url)


def _abort(response):
    """Shuts down the socket a reply is being read from, waking the reader (closing the
    reply instead would wait for the reader's lock, i.e. for the whole trickle)."""
    try:
        response.raw.connection.sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):  # no reply yet, or already closed
        pass


# TF Serving's status -> HTTP mapping (model_servers/http_server.cc), read backwards.
_HTTP_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
               404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED",
               499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
               503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


# --- gRPC -----------------------------------------------------------------------------
class GrpcClient(_Client):
    """TF Serving's gRPC PredictionService (default port 8500).

    Needs `grpcio` and `tensorflow-serving-api` (which imports TensorFlow).

    Args:
      host: str, the server's address (loopback by default).
      port: int, its gRPC port.
      timeout: float, seconds a call may take in all, retries included (gRPC deadlines).
      retry: RetryPolicy for UNAVAILABLE.
      max_message_bytes: int, largest request/reply (sequence outputs are big).
    """

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_GRPC_PORT, timeout=10.0,
                 retry=RetryPolicy(), max_message_bytes=256 * 2**20):
        # Imported here, not at the top: the REST client and the CLI need neither gRPC
        # nor TensorFlow (which tensorflow-serving-api's protos import).
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self._grpc = grpc
        self.target = f"{host}:{port}"
        self.timeout = checked_timeout(timeout)
        self.retry = retry
        self._channel = grpc.insecure_channel(self.target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes)])
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def predict(self, model, inputs, version=None, signature=DEFAULT_SIGNATURE):
        """Runs a signature of a served model.

        Args:
          model: str, the model name.
          inputs: dict {input name: array-like [B, ...]}; str lists become tf.string,
            Python ints int32 (the features' dtype), floats float32.
          version: int or None (None: the newest version the server has loaded).
          signature: str, the signature name.

        Returns:
          dict {output name: np.ndarray} (strings as bytes objects).
        """
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        if not isinstance(inputs, dict):
            raise TypeError(f"inputs must be a dict of arrays, got {type(inputs).__name__}")
        request = predict_pb2.PredictRequest()
        _model_path(model, version)  # validates both
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(_as_array(value)))
        response = self.retry.call(lambda seconds: self._predict(request, seconds),
                                   self.timeout)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def _predict(self, request, seconds):
        try:
            return self._stub.Predict(request, timeout=max(seconds, 0.001))
        except self._grpc.RpcError as e:
            raise _error_for(e.code().name, e.details() or "", self.target) from e


def _as_array(value):
    array = np.asarray(value)
    if array.dtype.kind in "US":  # str -> UTF-8 bytes objects, TensorFlow's string type
        return np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s,
                            otypes=[object])(array)
    if array.dtype.kind == "i":
        return array.astype(np.int32)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    return array


# --- CLI ------------------------------------------------------------------------------
def _define_flags():
    from absl import flags
    flags.DEFINE_string("model", None, "Model name on the server.", required=True)
    flags.DEFINE_multi_string("text", None, "A text to send (repeat for a batch).")
    flags.DEFINE_multi_string("text_b", None, "Second texts of a pair task, one per --text.")
    flags.DEFINE_multi_string("input", None, "NAME=TEXT: a text for the signature input "
                              "NAME, repeated for a batch; for inputs other than text and "
                              "text_b, e.g. QA's --input=question=... --input=context=...")
    flags.DEFINE_multi_string("int_input", None, "NAME=INT: an int32 input, repeated for a "
                              "batch; the explain signature's target parts, e.g. "
                              "--signature=explain --int_input=label_id=-1 (-1: the "
                              "model's prediction).")
    flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "API to call.")
    flags.DEFINE_string("host", DEFAULT_HOST, "Server address.")
    flags.DEFINE_integer("port", None, f"Server port (default {DEFAULT_REST_PORT} for "
                         f"REST, {DEFAULT_GRPC_PORT} for gRPC).")
    flags.DEFINE_integer("version", None, "Model version (default: the newest served).")
    flags.DEFINE_string("signature", DEFAULT_SIGNATURE, "Signature name.")
    flags.DEFINE_enum("form", "inputs", ["inputs", "instances"],
                      "REST request form: columnar 'inputs' or row 'instances'.")
    flags.DEFINE_float("timeout", 10.0, "Seconds a call may take in all (the whole reply, "
                       "retries included); > 0.")
    # Checked at flag parsing: a usage error naming the flag, before any request.
    flags.register_validator("timeout", lambda seconds: seconds > 0,
                             message="must be a number of seconds > 0")
    flags.DEFINE_integer("attempts", 4, "Tries in all while the server is UNAVAILABLE.",
                         lower_bound=1)


def request_texts(text=None, text_b=None, named=None):
    """{input name: list of str} from the CLI's --text, --text_b and --input=NAME=TEXT
    values; SystemExit naming the problem when the columns do not line up."""
    texts = {}
    for name, values in (("text", text), ("text_b", text_b)):
        if values:
            texts[name] = list(values)
    for item in named or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--input must be NAME=TEXT, got {item!r}")
        texts.setdefault(name, []).append(value)
    if not texts:
        raise SystemExit("Give the texts to send: --text (and --text_b) or --input=NAME=TEXT")
    sizes = {name: len(values) for name, values in texts.items()}
    if len(set(sizes.values())) != 1:
        raise SystemExit(f"Every input needs one text per row; got {sizes}")
    return texts


def main(argv):
    del argv
    from absl import flags
    FLAGS = flags.FLAGS
    texts = request_texts(FLAGS.text, FLAGS.text_b, FLAGS.input)
    for item in FLAGS.int_input or ():
        name, sep, value = item.partition("=")
        if not sep or not name or not value.lstrip("-").isdigit():
            raise SystemExit(f"--int_input must be NAME=INT, got {item!r}")
        texts.setdefault(name, []).append(int(value))
    retry = RetryPolicy(attempts=FLAGS.attempts)
    if FLAGS.protocol == "rest":
        client = RestClient(FLAGS.host, FLAGS.port or DEFAULT_REST_PORT, FLAGS.timeout, retry)
        if FLAGS.form == "instances":
            texts = [dict(zip(texts, row)) for row in zip(*texts.values())]
    else:
        client = GrpcClient(FLAGS.host, FLAGS.port or DEFAULT_GRPC_PORT, FLAGS.timeout, retry)
    with client:
        try:
            outputs = client.predict(FLAGS.model, texts, FLAGS.version, FLAGS.signature)
        except ServingError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(json.dumps(jsonable(outputs), indent=2, ensure_ascii=False))
    return 0


def run():
    from absl import app
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
