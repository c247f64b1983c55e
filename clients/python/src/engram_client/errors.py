"""Exceptions raised by the client. Every one is an ``EngramError`` carrying ``status``, ``code``, ``message``.

The API answers errors as ``{"error": {"code": "...", "message": "..."}}``; the HTTP status picks the class:

=======  ==========================  ==========================================================
status   class                       typical ``code``
=======  ==========================  ==========================================================
400      ``BadRequestError``         ``INVALID_JSON``
401      ``AuthenticationError``     ``UNAUTHENTICATED`` (missing or unknown API key)
403      ``PermissionDeniedError``   ``PERMISSION_DENIED`` (revoked key)
404      ``NotFoundError``           ``NOT_FOUND`` (absent, expired, or another tenant's)
409      ``ConflictError``           ``CONFLICT``, ``IDEMPOTENCY_IN_PROGRESS``
413      ``PayloadTooLargeError``    ``PAYLOAD_TOO_LARGE``
415      ``UnsupportedMediaTypeError`` ``UNSUPPORTED_MEDIA_TYPE``
422      ``ValidationError``         ``INVALID_ARGUMENT``, ``IDEMPOTENCY_KEY_REUSED``
429      ``RateLimitError``          (API Gateway throttling)
5xx      ``ServerError``             ``INTERNAL``, ``UNAVAILABLE``, ``INDEX_UNAVAILABLE``...
none     ``ConnectionError``         ``CONNECTION_ERROR`` / ``TIMEOUT`` (no HTTP answer)
=======  ==========================  ==========================================================

Other statuses raise ``EngramError`` itself. ``OperationFailedError`` and ``OperationTimeoutError`` come
from waiting on a generation (``client.operations.wait`` and the facades), not from an HTTP status.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from engram_client.models import Operation


class EngramError(Exception):
    """Base class. ``status``: the HTTP status (None without an HTTP answer); ``code``: the API's error
    code (e.g. ``NOT_FOUND``); ``message``: its text; ``response``: the ``httpx.Response`` if any;
    ``retry_after``: seconds the server asked to wait (``Retry-After``), if it did."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "ERROR",
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.response = response
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        return f"{where}{self.code}: {self.message}"


class BadRequestError(EngramError):
    """400: the body is not valid JSON."""


class AuthenticationError(EngramError):
    """401: missing or unknown API key."""


class PermissionDeniedError(EngramError):
    """403: the API key is revoked."""


class NotFoundError(EngramError):
    """404: absent, expired, or another tenant's (existence never leaks)."""


class ConflictError(EngramError):
    """409: a concurrent change won (retry with fresh state), or an idempotent request is still running."""


class PayloadTooLargeError(EngramError):
    """413: the request is too large (bodies ≤ 6 MB, a stored generate request ≤ 350 KB compressed)."""


class UnsupportedMediaTypeError(EngramError):
    """415: the body was not sent as JSON."""


class ValidationError(EngramError):
    """422: a rule of the API is broken; ``message`` names the field. Never retried."""


class RateLimitError(EngramError):
    """429: throttled. Retried with backoff, honouring ``Retry-After``, before this is raised."""


class ServerError(EngramError):
    """5xx: internal error or an unavailable dependency. Retried with backoff before this is raised."""


class ConnectionError(EngramError):
    """No HTTP answer: connection refused or reset, or a timeout. Retried before this is raised."""


class OperationFailedError(EngramError):
    """A generation ended FAILED; ``code``/``message`` are the operation's error, ``operation`` the operation."""

    def __init__(self, operation: Operation) -> None:
        error = operation.error
        super().__init__(
            error.message if error else "the operation failed", code=error.code if error else "OPERATION_FAILED"
        )
        self.operation = operation


class OperationTimeoutError(EngramError):
    """A generation was still RUNNING when the wait ran out; ``operation`` is its last known state."""

    def __init__(self, operation: Operation, timeout: float) -> None:
        super().__init__(f"operation {operation.id} still {operation.status} after {timeout:g} s", code="TIMEOUT")
        self.operation = operation


_BY_STATUS: dict[int, type[EngramError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
}


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` from ``{"error": {"code", "message"}}``, else from the status and the text."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:500] or response.reason_phrase
        return f"HTTP_{response.status_code}", text


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (it may be a number of seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_from_response(response: httpx.Response) -> EngramError:
    """The exception for a non-2xx response."""
    code, message = _error_fields(response)
    status = response.status_code
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, EngramError)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return cls(message, status=status, code=code, response=response, retry_after=retry_after)


def error_from_transport(exc: httpx.TransportError) -> ConnectionError:
    """The exception for a request that got no HTTP answer (chained to the httpx error)."""
    code = "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "CONNECTION_ERROR"
    error = ConnectionError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, code=code)
    error.__cause__ = exc
    return error
