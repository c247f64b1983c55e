"""CORS of the deployed API, off unless the stack's ``CorsAllowOrigin`` parameter is set (it becomes
``ENGRAM_CORS_ALLOW_ORIGIN``): the answer to a browser's preflight ``OPTIONS`` (the ``CorsPreflightFunction``)
and the ``Access-Control-Allow-Origin`` header on every response of the API function. API Gateway's own
answers (401, 403, 429, 5xx) get the header from the template's gateway responses.
"""

from __future__ import annotations

from typing import Any

#: Request headers a browser may send (``Idempotency-Key`` makes retries safe).
ALLOW_HEADERS = "Authorization,Content-Type,Idempotency-Key"
ALLOW_METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS"
#: How long a browser may reuse a preflight answer, in seconds.
MAX_AGE_SECONDS = 600


def preflight_response(origin: str | None) -> dict[str, Any]:
    """The API Gateway proxy response to a preflight: 204, no body, with ``Access-Control-Allow-Origin``
    (``origin``: one origin such as ``https://app.example.com``, or ``*``), ``-Allow-Methods``,
    ``-Allow-Headers`` and ``-Max-Age``. Without an origin (CORS off) it is a 204 without those headers,
    which a browser treats as a refusal."""
    headers: dict[str, str] = {}
    if origin:
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
        }
    return {"statusCode": 204, "headers": headers, "body": "", "isBase64Encoded": False}


def with_allow_origin(response: dict[str, Any], origin: str | None) -> dict[str, Any]:
    """``response`` (an API Gateway proxy response, with ``headers`` and/or ``multiValueHeaders``) with
    ``Access-Control-Allow-Origin: origin`` added; unchanged when ``origin`` is None or empty."""
    if not origin:
        return response
    if response.get("multiValueHeaders") is not None:
        response["multiValueHeaders"]["Access-Control-Allow-Origin"] = [origin]
    else:
        response["headers"] = {**(response.get("headers") or {}), "Access-Control-Allow-Origin": origin}
    return response
