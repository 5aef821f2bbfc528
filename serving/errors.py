"""The errors a TF Serving call raises, by what went wrong, and the mapping from a
canonical status (gRPC's code, or REST's HTTP status read back) and message to them."""
import re


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


def error_for(code, message, target):
    """The ServingError subclass for a canonical status `code` and the server's message."""
    if code == "NOT_FOUND":
        return ModelNotFoundError(code, message, target)
    if _SIGNATURE_NOT_FOUND.search(message):
        return SignatureNotFoundError(code, message, target)
    if code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return InvalidRequestError(code, message, target)
    if code == "UNAVAILABLE":
        return ServerUnavailableError(code, message, target)
    return ServingError(code, message, target)
