"""The OpenAPI document of the HTTP API, generated from the routes (Powertools), with Engram's error
envelope on every operation.

Writing it to ``docs/openapi.json`` and rendering the README's API reference from it are development
tooling: ``python -m engram_dev.openapi --write`` / ``--check`` (``make openapi``, ``make test``).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from engram import __version__
from engram.api.app import app

ERROR_CODES = {
    "400": "The body is not valid JSON.",
    "401": "Missing or unknown API key.",
    "403": "The API key is revoked.",
    "404": "Not found (also: another tenant's resource).",
    "409": "A concurrent change won; retry with fresh state.",
    "413": "The request is too large.",
    "422": "A rule of the API is broken; the message names the field.",
    "500": "Internal error (logged; never a stack trace).",
    "503": "A dependency is unavailable; retry later.",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: routes, request/response schemas, bearer auth, and the error envelope."""
    raw = app.get_openapi_json_schema(
        title="Engram",
        version=__version__,
        description="A self-hostable memory bank for AI agents. Every route needs `Authorization: Bearer <api key>`.",
        security_schemes={"bearer": HTTPBearer(description="An Engram API key")},
        security=[{"bearer": []}],
    )
    doc = json.loads(raw)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    docs = {
        (route.openapi_path, route.method.lower()): " ".join((route.func.__doc__ or "").split())
        for route in app._static_routes + app._dynamic_routes  # Powertools' registered routes
    }
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if docs.get((path, method)):
                operation["summary"] = docs[(path, method)].split(". ")[0].rstrip(".")
                operation["description"] = docs[(path, method)]
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_CODES.items():
                responses[code] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            for response in responses.values():  # empty 204 bodies carry no schema
                content = response.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("type") == "null":
                    response.pop("content")
    return doc
