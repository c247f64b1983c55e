"""When and how long to wait before a request is sent again."""

from __future__ import annotations

import random
from dataclasses import dataclass

from engram_client.errors import ConflictError, ConnectionError, EngramError, RateLimitError, ServerError

RETRYABLE = (ConnectionError, RateLimitError, ServerError)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one call: on connection errors and timeouts, 429, 5xx, and 409 ``IDEMPOTENCY_IN_PROGRESS``
    (the first try of the same call is still running on the server). Nothing else is retried (a 422 never is).

    - ``max_retries``: retries after the first try (so at most ``max_retries + 1`` requests).
    - ``initial_delay`` / ``max_delay``: seconds; the n-th retry waits a random time in
      ``[d/2, d]`` with ``d = min(max_delay, initial_delay * 2**n)`` (exponential backoff, jitter).
    - ``max_retry_after``: a ``Retry-After`` of the server is honoured (waited exactly) up to this many
      seconds; a longer one is not waited for: the error is raised with its ``retry_after``.

    Every try of a mutating call carries the same ``Idempotency-Key``, so a retry never applies twice.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based) when the server gave no ``Retry-After``."""
        ceiling = min(self.max_delay, self.initial_delay * 2**retry)
        return random.uniform(ceiling / 2, ceiling)

    def delay(self, retry: int, error: EngramError) -> float | None:
        """Seconds to wait before retry number ``retry`` after ``error``, or None: do not retry, raise."""
        if retry >= self.max_retries or not is_retryable(error):
            return None
        if error.retry_after is None:
            return self.backoff(retry)
        return error.retry_after if error.retry_after <= self.max_retry_after else None


def is_retryable(error: EngramError) -> bool:
    """Connection errors, 429, 5xx, and a 409 saying the same idempotent call is still running."""
    if isinstance(error, RETRYABLE):
        return True
    return isinstance(error, ConflictError) and error.code == "IDEMPOTENCY_IN_PROGRESS"
