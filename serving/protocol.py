"""What the REST and gRPC clients share: the default server address, ports and
signature, the validated model path a request names, JSON-able values, and closing the
connection at the end of a `with` block."""
import numpy as np

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REST_PORT = 8501
DEFAULT_GRPC_PORT = 8500
DEFAULT_SIGNATURE = "serving_default"


def checked_timeout(timeout):
    """`timeout` as float seconds; ValueError unless it is a number > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


def model_path(model, version):
    """REST's /v1/models/<model>[/versions/<v>]; ValueError for a bad name or version."""
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


class ClosingClient:
    """Closes the connection at the end of a `with` block."""

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
