"""Domain errors: plain classes, mapped to HTTP codes in one place (``engram.api.errors``)
and matched by class name in the state machine's Retry/Catch (``statemachine/generate.asl.json``)."""


class EngramError(Exception):
    """Base of every error Engram raises on purpose. ``code`` is the stable machine-readable code."""

    code = "INTERNAL"
    http_status = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()


class InvalidInput(EngramError):
    """The request is well formed JSON but breaks a rule of the API."""

    code = "INVALID_ARGUMENT"
    http_status = 422


class PayloadTooLarge(InvalidInput):
    """The request is larger than Engram accepts."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class NotFound(EngramError):
    """The resource does not exist for this tenant."""

    code = "NOT_FOUND"
    http_status = 404


class Conflict(EngramError):
    """The resource changed concurrently; retry with fresh state."""

    code = "CONFLICT"
    http_status = 409


class IdempotencyKeyReused(InvalidInput):
    """This Idempotency-Key was used with a different body."""

    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyInProgress(Conflict):
    """A request with this Idempotency-Key is still running."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class Unauthorized(EngramError):
    """Missing or unknown API key."""

    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(EngramError):
    """The API key is revoked."""

    code = "PERMISSION_DENIED"
    http_status = 403


# --- errors raised inside the generation workflow (matched by name in the ASL) -----------------


class RetryableError(EngramError):
    """A transient fault: the workflow retries it with backoff."""

    code = "UNAVAILABLE"
    http_status = 503


class LLMUnavailable(RetryableError):
    """The LLM provider timed out, throttled or failed after the client's own retries."""

    code = "LLM_UNAVAILABLE"


class LLMOutputInvalid(RetryableError):
    """The LLM answered with output that does not fit the requested schema."""

    code = "LLM_OUTPUT_INVALID"


class EmbeddingUnavailable(RetryableError):
    """The embedding provider failed after the client's own retries."""

    code = "EMBEDDING_UNAVAILABLE"


class IndexUnavailable(RetryableError):
    """The vector index cannot be reached."""

    code = "INDEX_UNAVAILABLE"


class IndexNotReady(RetryableError):
    """The vector index does not yet reflect the operation's writes (read-your-writes barrier)."""

    code = "INDEX_NOT_READY"


class ScopeBusy(RetryableError):
    """Another generation holds this scope's consolidation lease; the step retries until it is free."""

    code = "SCOPE_BUSY"


class StoreConflict(RetryableError):
    """A conditional write lost a race; the step is retried on fresh state."""

    code = "STORE_CONFLICT"


class ConfigurationError(EngramError):
    """The deployment is misconfigured (missing table name, bad model id...)."""

    code = "CONFIGURATION"
