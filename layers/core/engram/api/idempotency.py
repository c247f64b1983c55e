"""``Idempotency-Key`` on every mutating route (the ``idempotent`` decorator), with Powertools idempotency
persisting records in Engram's own table (``Dependencies.idempotency_records``: the table's client, keys
built by the DynamoDB adapter, expiry through the table's TTL).

- The same key and body within 24 hours return the first response again (same status, same body:
  for generate, the same operation) without running the route twice.
- The same key with a different body is rejected: 422 ``IDEMPOTENCY_KEY_REUSED``.
- A request with a key whose first request is still running gets 409 ``IDEMPOTENCY_IN_PROGRESS``.
Keys are scoped by tenant and route; 1-255 printable characters.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from engram import wiring
from engram.api.context import tenant_of
from engram.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

HEADER = "Idempotency-Key"
EXPIRES_AFTER_SECONDS = 24 * 3600
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_lambda_context: Any = None

P = ParamSpec("P")
RouteResult = Response | BaseModel | None

# Powertools' idempotency utility (and boto3 with it) is imported only when a request carries the
# header: it costs ~100 ms of cold start that requests without a key should not pay.


@functools.cache
def _config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[tenant, route, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        raise_on_no_idempotency_key=True,
    )


def idempotent(router: APIGatewayRouter, route: str) -> Callable[[Callable[P, RouteResult]], Callable[P, Response]]:
    """Make a route run once per ``Idempotency-Key`` (every time without one).

    ``route`` names the route among the tenant's keys; ``{name}`` fields are filled from the route's
    arguments (``"patch:{memory_id}"``). The route's ``request`` argument, if it has one, is the body a
    replay must repeat. The route returns a ``Response`` (its status and body are stored), a model
    (status 200) or None (204); the decorated route always returns a ``Response`` with a JSON body.
    Raises ``InvalidInput`` for a malformed key, ``IdempotencyKeyReused`` and ``IdempotencyInProgress``.
    """

    def decorate(func: Callable[P, RouteResult]) -> Callable[P, Response]:
        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> Response:
            key = router.current_event.get_header_value(HEADER, case_sensitive=False)
            if key is None:
                return _response(_dump(func(*args, **kwargs)))
            body = kwargs.get("request")
            payload = {
                "tenant": tenant_of(router),
                "route": route.format(**kwargs),
                "key": _valid(key),
                "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
            }
            return _response(_once(payload, lambda: _dump(func(*args, **kwargs))))

        # Powertools reads the route's parameters (validation, OpenAPI) from this signature, with the
        # annotations resolved in the route's own module.
        run.__dict__["__signature__"] = inspect.signature(func, eval_str=True)
        return run

    return decorate


def _valid(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput(f"{HEADER} must be 1-255 printable ASCII characters without spaces")
    return key


def _once(payload: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``action()`` once per payload's ``[tenant, route, key]``; a replay returns the stored result."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = _config()
    if _lambda_context is not None:
        config.register_lambda_context(_lambda_context)
    records = wiring.dependencies().idempotency_records(payload["tenant"])

    @idempotent_function(data_keyword_argument="payload", persistence_store=records, config=config)
    def once(payload: dict[str, Any]) -> dict[str, Any]:
        return action()

    try:
        return once(payload=payload)
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReused(f"this {HEADER} was used with a different body") from error
    except IdempotencyAlreadyInProgressError as error:
        raise IdempotencyInProgress(f"a request with this {HEADER} is still running; retry later") from error


def _dump(result: RouteResult) -> dict[str, Any]:
    """A route's result as the stored ``{status, body}`` (body: JSON data, or None)."""
    if isinstance(result, Response):
        status, body = result.status_code, result.body
    else:
        status, body = (200, result) if result is not None else (204, None)
    return {"status": status, "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body}


def _response(result: dict[str, Any]) -> Response:
    """The stored ``{status, body}`` as a response; the body stays a dict so response validation applies."""
    body = result["body"]
    if body is None:
        return Response(status_code=int(result["status"]))  # no body, no Content-Type (204)
    return Response(status_code=int(result["status"]), content_type=content_types.APPLICATION_JSON, body=body)


def register_lambda_context(context: Any) -> None:
    """Keep the invocation's context for Powertools, so an in-progress record expires with the invocation."""
    global _lambda_context
    _lambda_context = context
