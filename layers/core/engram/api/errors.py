"""The one place that maps errors to HTTP responses: ``{"error": {"code", "message"}}``, never a trace;
and the one place that documents them: ``responses`` gives a route's ``responses=`` for its decorator."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from engram.errors import EngramError, RetryableError
from engram.models.api import Error
from engram.observability import logger, redact

#: Every error status an operation may answer, with the ``Error`` body. Some come from API Gateway
#: (its gateway responses use the same body; 429 throttling, 502/504), some from the authorizer (401, 403).
ERROR_STATUSES: dict[int, str] = {
    400: "The body is not valid JSON, or a page_token was not issued for this listing.",
    401: "Missing or unknown API key.",
    403: "The API key is revoked.",
    404: "Not found (also: another tenant's resource).",
    409: "A concurrent change won, or a request with this Idempotency-Key is still running; retry.",
    413: "The request is too large.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "A rule of the API is broken (also: an Idempotency-Key reused with another body); the message names it.",
    429: "Too many requests; retry with backoff.",
    500: "Internal error (logged; never a stack trace).",
    502: "The API function failed; retry.",
    503: "A dependency is unavailable; retry later.",
    504: "The request took longer than the gateway waits; retry (an Idempotency-Key makes that safe).",
}


def responses(success: dict[int, str]) -> dict[int, OpenAPIResponse]:
    """A route's documented answers, for its decorator's ``responses=``: each success status with its
    description (the body is the route's return type; a 204 has none) and every ``ERROR_STATUSES`` one
    with the ``Error`` body."""
    documented: dict[int, OpenAPIResponse] = {status: {"description": text} for status, text in success.items()}
    for status, text in ERROR_STATUSES.items():
        documented[status] = {"description": text, "content": {content_types.APPLICATION_JSON: {"model": Error}}}
    return documented


def error_response(status: int, code: str, message: str) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
    )


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for detail in error.errors()[:10]:
        location = ".".join(str(p) for p in detail.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'}: {detail.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def reject_non_json(event: dict[str, Any]) -> dict[str, Any] | None:
    """A 415 proxy response when the request has a body that is not JSON (form, multipart, text...),
    else None. Checked before routing: Powertools would otherwise try to parse such bodies. A body
    without a ``Content-Type`` is read as JSON."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if event.get("body") and content_type and content_type != "application/json" and not content_type.endswith("+json"):
        return {
            "statusCode": 415,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(
                {
                    "error": {
                        "code": "UNSUPPORTED_MEDIA_TYPE",
                        "message": "send the body as JSON (Content-Type: application/json)",
                    }
                }
            ),
            "isBase64Encoded": False,
        }
    return None


class Accepted(Exception):
    """Raised by a route whose work is accepted but not finished (202 with ``body``): raised rather than
    returned, so an ``Idempotency-Key`` does not store it and a retry with the key continues the work."""

    def __init__(self, body: BaseModel) -> None:
        super().__init__("accepted, not finished")
        self.body = body


def register(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(Accepted)
    def _accepted(accepted: Accepted) -> Response:
        return Response(
            status_code=202,
            content_type=content_types.APPLICATION_JSON,
            body=accepted.body.model_dump_json(),
        )

    @app.exception_handler(RequestValidationError)
    def _validation(error: RequestValidationError) -> Response:
        if any(detail.get("type") == "json_invalid" for detail in error.errors()):
            return error_response(400, "INVALID_JSON", "the request body is not valid JSON")
        return error_response(422, "INVALID_ARGUMENT", _describe_validation(error))

    @app.exception_handler(RequestUnsupportedContentType)
    def _content_type(_: RequestUnsupportedContentType) -> Response:
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json")

    @app.exception_handler(EngramError)
    def _domain(error: EngramError) -> Response:
        # A server-side error's message may quote a provider's answer or name a secret: the tenant gets the
        # code and a generic text, the operator the details (credentials redacted) in this log line.
        if isinstance(error, RetryableError) or error.http_status >= 500:
            logger.warning(
                "request failed",
                extra={
                    "code": error.code,
                    "error_type": type(error).__name__,
                    "error": redact(error.message),
                    **({"cause_type": type(error.__cause__).__name__} if error.__cause__ is not None else {}),
                },
            )
        return error_response(error.http_status, error.code, error.public_message)

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        return error_response(404, "NOT_FOUND", "no such route")

    @app.exception_handler(json.JSONDecodeError)
    def _bad_json(_: json.JSONDecodeError) -> Response:
        return error_response(400, "INVALID_JSON", "the request body is not valid JSON")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(500, "INTERNAL", "internal error; it has been logged")
