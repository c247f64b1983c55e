"""The API resolver: validation on, bodies parsed by ``engram.api.json_body``, routes from
``engram.api.routes`` and ``engram.api.lifecycle`` (and the mem0-compatible ones from ``engram.api.mem0``),
errors from ``engram.api.errors``."""

from __future__ import annotations

import importlib
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from engram.api import cors, errors, json_body
from engram.settings import Settings, get_settings

#: The route groups, by the modules whose ``router`` holds them. The template deploys the API code twice
#: (``ENGRAM_API_ROUTES``): ``v1`` on ApiFunction, ``mem0`` on Mem0Function, so each function imports
#: and validates only its own routes; ``all`` serves both (the local stack, the OpenAPI document).
ROUTE_GROUPS = {"v1": ("routes", "lifecycle"), "mem0": ("mem0",)}


def build(route_groups: str = "all") -> APIGatewayRestResolver:
    """A resolver with the routes of ``route_groups`` (``all`` or a key of ``ROUTE_GROUPS``)."""
    resolver = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=json_body.loads)
    for group, modules in ROUTE_GROUPS.items():
        if route_groups in ("all", group):
            for module in modules:
                resolver.include_router(importlib.import_module(f"engram.api.{module}").router)
    errors.register(resolver)
    return resolver


app = build(Settings().api_routes)  # not get_settings(): importing needs no table or index settings


def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one API Gateway proxy event: a non-JSON body is refused (415) before routing. With CORS on
    (``ENGRAM_CORS_ALLOW_ORIGIN``), every response carries ``Access-Control-Allow-Origin``."""
    response = errors.reject_non_json(event) or app.resolve(event, context)
    return cors.with_allow_origin(response, get_settings().cors_allow_origin)
