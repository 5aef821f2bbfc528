"""TF Serving's REST API client, `RestClient`: each call bounded by one deadline (the
whole reply included), UNAVAILABLE retried, HTTP errors read back into `ServingError`s."""
import json
import socket
import threading

import requests

from .errors import ServerUnavailableError, ServingError, error_for
from .protocol import (DEFAULT_HOST, DEFAULT_REST_PORT, DEFAULT_SIGNATURE, ClosingClient,
                       checked_timeout, jsonable, model_path)
from .retry import RetryPolicy


class RestClient(ClosingClient):
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
        url = self.base_url + model_path(model, version) + ":predict"
        reply = self._call("POST", url, body)
        if not isinstance(reply, dict) or key not in reply:
            raise ServingError("UNKNOWN", f"Reply has no {key!r}: {str(reply)[:200]}", url)
        return reply[key]

    def model_status(self, model, version=None):
        """The server's `model_version_status` list for the model (or one version)."""
        return self._call("GET", self.base_url + model_path(model, version))[
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
        raise error_for(code, str(reply.get("error", reply) if isinstance(reply, dict)
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
