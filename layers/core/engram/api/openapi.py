"""The OpenAPI document of the HTTP API, generated from the routes (Powertools): the operationIds, tags,
summaries and responses come from the route decorators (``engram.api.routes``; the error responses from
``engram.api.errors.responses``), the schemas from the pydantic models.

Writing it to ``docs/openapi.json`` and rendering the README's API reference from it are development
tooling: ``python -m engram_dev.openapi --write`` / ``--check`` (``make openapi``, ``make test``).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer, Tag

from engram import __version__
from engram.api.app import app
from engram.models.limits import LIMITS_MARKDOWN

TAGS = [
    Tag(
        name="memories", description="Long-term memories: generate from conversations, create, search, change, delete."
    ),
    Tag(name="operations", description="Generations run in the background; an operation reports one."),
    Tag(name="sessions", description="Short-term memory: the events of a conversation, in order."),
    Tag(name="config", description="The tenant's configuration: topics, few-shot examples, TTL defaults."),
    Tag(name="forget", description="Erasure: delete for good everything stored for a scope."),
    Tag(name="stats", description="Usage analytics: what a scope or the tenant stores, writes and costs per day."),
    Tag(name="mem0", description="mem0's hosted API under /mem0, for mem0's MemoryClient (docs/mem0.md)."),
]
REF_PREFIX = "#/components/schemas/"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: routes (with the operationIds, tags, summaries and responses their
    decorators give; a route's docstring is its description), named request/response schemas, bearer
    auth, and the error envelope. A 204 has no body; schemas no operation uses are left out."""
    raw = app.get_openapi_json_schema(
        title="Engram",
        version=__version__,
        description="A self-hostable memory bank for AI agents. Every route needs `Authorization: Bearer <api key>`.\n"
        + LIMITS_MARKDOWN,
        tags=list(TAGS),
        security_schemes={
            "bearer": HTTPBearer(description="An Engram API key"),
            "mem0Token": APIKey(
                name="Authorization",
                in_=APIKeyIn.header,
                description="mem0's scheme, accepted under /mem0 only: `Authorization: Token <Engram API key>`.",
            ),
        },
        security=[{"bearer": []}],
    )
    doc: dict[str, Any] = json.loads(raw)
    docstrings = {
        (route.openapi_path, route.method.lower()): " ".join((route.func.__doc__ or "").split())
        for route in app._static_routes + app._dynamic_routes  # Powertools' registered routes
    }
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if not operation.get("description") and docstrings.get((path, method)):
                operation["description"] = docstrings[(path, method)]
            for status, response in operation.get("responses", {}).items():
                if status == "204":
                    response.pop("content", None)
    schemas = doc.get("components", {}).get("schemas", {})
    used = _referenced(doc["paths"], schemas)
    for name in set(schemas) - used:  # Powertools' own validation-error schemas: Engram answers with Error
        del schemas[name]
    return doc


def _referenced(node: Any, schemas: dict[str, Any], found: set[str] | None = None) -> set[str]:
    """The names of the component schemas ``node`` refers to, directly or through other schemas."""
    found = set() if found is None else found
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX) and ref[len(REF_PREFIX) :] not in found:
            name = ref[len(REF_PREFIX) :]
            found.add(name)
            _referenced(schemas.get(name), schemas, found)
        for value in node.values():
            _referenced(value, schemas, found)
    elif isinstance(node, list):
        for item in node:
            _referenced(item, schemas, found)
    return found
