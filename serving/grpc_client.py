"""TF Serving's gRPC PredictionService client, `GrpcClient` (needs `grpcio` and
`tensorflow-serving-api`, imported on first use): numpy inputs in, numpy outputs back."""
import numpy as np

from .errors import error_for
from .protocol import (DEFAULT_GRPC_PORT, DEFAULT_HOST, DEFAULT_SIGNATURE, ClosingClient,
                       checked_timeout, model_path)
from .retry import RetryPolicy


class GrpcClient(ClosingClient):
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
        model_path(model, version)  # validates both
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
            raise error_for(e.code().name, e.details() or "", self.target) from e


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
