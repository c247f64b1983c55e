"""The one place that maps errors to HTTP responses: ``{"error": {"code", "message"}}``, never a trace."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from engram.errors import EngramError, RetryableError
from engram.observability import logger


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


def register(app: APIGatewayRestResolver) -> None:
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
        if isinstance(error, RetryableError) or error.http_status >= 500:
            logger.warning("request failed", extra={"code": error.code, "error": error.message})
        return error_response(error.http_status, error.code, error.message)

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
