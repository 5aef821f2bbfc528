"""Bounded retries with exponential backoff for a TF Serving server that is UNAVAILABLE
(starting, overloaded, not listening yet), within one deadline per call."""
import dataclasses
import random
import time

from .errors import ServerUnavailableError


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
