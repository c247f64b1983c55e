"""Domain errors: plain classes, mapped to HTTP codes in one place (``engram.api.errors``)
and matched by class name in the state machine's Retry/Catch (``statemachine/generate.asl.json``)."""


class EngramError(Exception):
    """Base of every error Engram raises on purpose. ``code`` is the stable machine-readable code."""

    code = "INTERNAL"
    http_status = 500
    #: What a tenant is told of a server-side error (``http_status`` >= 500) instead of ``message``, which
    #: may quote a provider's answer or name a resource (a secret's ARN): operators read ``message`` in the logs.
    public_text = "internal error; it has been logged"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()

    @property
    def public_message(self) -> str:
        """What the tenant sees: ``message`` for a client error (``http_status`` < 500), which is about the
        request; the class's generic ``public_text`` for a server-side one."""
        return self.message if self.http_status < 500 else self.public_text


class InvalidInput(EngramError):
    """The request is well formed JSON but breaks a rule of the API."""

    code = "INVALID_ARGUMENT"
    http_status = 422


class PayloadTooLarge(InvalidInput):
    """The request is larger than Engram accepts."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class InvalidIdentifier(InvalidInput, ValueError):
    """An id breaks its grammar (``engram.models.identifiers``); also a ``ValueError``, so pydantic
    validators report it as a field error."""


class MalformedJson(InvalidInput):
    """The request body is not JSON Engram accepts (syntax, NaN or Infinity, invalid Unicode, nesting)."""

    code = "INVALID_JSON"
    http_status = 400


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
    public_text = "a dependency is temporarily unavailable; retry later"


class LLMUnavailable(RetryableError):
    """The LLM provider timed out, throttled or failed after the client's own retries."""

    code = "LLM_UNAVAILABLE"
    public_text = "the language model provider is unavailable; retry later"


class LLMOutputInvalid(RetryableError):
    """The LLM answered with output that does not fit the requested schema."""

    code = "LLM_OUTPUT_INVALID"
    public_text = "the language model's answer could not be used; retry later"


class EmbeddingUnavailable(RetryableError):
    """The embedding provider failed after the client's own retries."""

    code = "EMBEDDING_UNAVAILABLE"
    public_text = "the embedding provider is unavailable; retry later"


class IndexUnavailable(RetryableError):
    """The vector index cannot be reached."""

    code = "INDEX_UNAVAILABLE"
    public_text = "the search index is unavailable; retry later"


class IndexNotReady(RetryableError):
    """The vector index does not yet reflect the operation's writes (read-your-writes barrier)."""

    code = "INDEX_NOT_READY"
    public_text = "the search index has not caught up yet; retry shortly"


class ScopeBusy(RetryableError):
    """Another generation holds this scope's consolidation lease; the step retries until it is free."""

    code = "SCOPE_BUSY"
    public_text = "another generation is changing this scope; retry shortly"


class StoreConflict(RetryableError):
    """A conditional write lost a race; the step is retried on fresh state."""

    code = "STORE_CONFLICT"
    public_text = "a concurrent change won; retry"


class ConfigurationError(EngramError):
    """The deployment is misconfigured (missing table name, bad model id...)."""

    code = "CONFIGURATION"
    public_text = "the service is not configured correctly; the operator has been alerted (details are in the logs)"


class TooLargeToStore(PayloadTooLarge):
    """A write the store cannot hold: ``position`` is the index of the item (in the write) over an item's
    size limit, or None when the write as a whole is over a transaction's."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class InvalidPageToken(InvalidInput):
    """The ``page_token`` was not issued for this listing: malformed, altered, expired with its signing
    key, or from another tenant, route, scope or filter."""

    http_status = 400


#: The workflow's caught errors whose text is the service's own (Step Functions' ``States.*``), kept as is.
_SERVICE_ERROR_PREFIX = "States."
#: What a tenant is told of a caught workflow error Engram does not know by name.
UNKNOWN_FAILURE_TEXT = "the generation failed; the operator's logs hold the details"


def public_message_for(error_name: str, message: str) -> str:
    """What a tenant may see of an error known only by its class name (the ``Error`` a workflow's Catch
    caught) and its ``message``: the message of a client error (an ``EngramError`` below 500) or of a
    Step Functions ``States.*`` error; an Engram server-side error's ``public_text``; for any other name
    (a Lambda or Python error), ``UNKNOWN_FAILURE_TEXT``."""
    if error_name.startswith(_SERVICE_ERROR_PREFIX):
        return message
    known = _errors_by_name().get(error_name)
    if known is None:
        return UNKNOWN_FAILURE_TEXT
    return message if known.http_status < 500 else known.public_text


def _errors_by_name() -> dict[str, type[EngramError]]:
    found: dict[str, type[EngramError]] = {}
    pending: list[type[EngramError]] = [EngramError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found
