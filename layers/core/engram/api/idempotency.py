"""``Idempotency-Key`` on every mutating route, with Powertools idempotency and its DynamoDB persistence
(records in Engram's own table, under ``PK = T#<tenant>#IDEMPOTENCY``, expiring through the table's TTL).

- The same key and body within 24 hours return the first response again (same status, same body:
  for generate, the same operation) without running the route twice.
- The same key with a different body is rejected: 422 ``IDEMPOTENCY_KEY_REUSED``.
- A request with a key whose first request is still running gets 409 ``IDEMPOTENCY_IN_PROGRESS``.
Keys are scoped by tenant and route; 1-255 printable characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from pydantic import BaseModel

from engram.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidInput
from engram.settings import get_settings

HEADER = "Idempotency-Key"
EXPIRES_AFTER_SECONDS = 24 * 3600
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_lambda_context: Any = None

# Powertools' idempotency utility (and boto3 with it) is imported only when a request carries the
# header: it costs ~100 ms of cold start that requests without a key should not pay.


@functools.cache
def _config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[tenant, route, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        raise_on_no_idempotency_key=True,
    )


@functools.cache
def _client() -> Any:
    import boto3

    s = get_settings()
    return boto3.client("dynamodb", region_name=s.aws_region, endpoint_url=s.aws_endpoint_url)


def _persistence(tenant_id: str) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        static_pk_value=f"T#{tenant_id}#IDEMPOTENCY",
        expiry_attr="ttl",
        boto3_client=_client(),
    )


def _dump(result: tuple[int, BaseModel | None]) -> dict[str, Any]:
    status, model = result
    return {"status": status, "body": model.model_dump(mode="json") if model is not None else None}


def run(
    app: APIGatewayRestResolver,
    tenant_id: str,
    route: str,
    body: BaseModel | dict[str, Any] | None,
    action: Callable[[], tuple[int, BaseModel | None]],
) -> Response:
    """Run ``action`` (returning ``(status, model)``) once per ``Idempotency-Key``, or every time without one."""
    key = app.current_event.get_header_value(HEADER, case_sensitive=False)
    if key is None:
        return _response(_dump(action()))
    if not _KEY.match(key):
        raise InvalidInput(f"{HEADER} must be 1-255 printable ASCII characters without spaces")
    payload = {
        "tenant": tenant_id,
        "route": route,
        "key": key,
        "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
    }

    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = _config()
    if _lambda_context is not None:
        config.register_lambda_context(_lambda_context)

    @idempotent_function(data_keyword_argument="payload", persistence_store=_persistence(tenant_id), config=config)
    def once(payload: dict[str, Any]) -> dict[str, Any]:
        return _dump(action())

    try:
        return _response(once(payload=payload))
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReused(f"this {HEADER} was used with a different body") from error
    except IdempotencyAlreadyInProgressError as error:
        raise IdempotencyInProgress(f"a request with this {HEADER} is still running; retry later") from error


def _response(result: dict[str, Any]) -> Response:
    """The stored ``{status, body}`` as a response; the body stays a dict so response validation applies."""
    body = result["body"]
    return Response(
        status_code=int(result["status"]),
        content_type=content_types.APPLICATION_JSON,
        body="" if body is None else body,
    )


def register_lambda_context(context: Any) -> None:
    """Keep the invocation's context for Powertools, so an in-progress record expires with the invocation."""
    global _lambda_context
    _lambda_context = context
