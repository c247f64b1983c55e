"""The API resolver: validation on, bodies parsed by ``engram.api.json_body``, routes from
``engram.api.routes`` (and the mem0-compatible ones from ``engram.api.mem0``), errors from ``engram.api.errors``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from engram.api import cors, errors, json_body, lifecycle, mem0, routes
from engram.settings import get_settings

app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=json_body.loads)
app.include_router(routes.router)
app.include_router(lifecycle.router)  # archive, stats
app.include_router(mem0.router)  # the mem0-compatible surface under /mem0
errors.register(app)


def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one API Gateway proxy event: a non-JSON body is refused (415) before routing. With CORS on
    (``ENGRAM_CORS_ALLOW_ORIGIN``), every response carries ``Access-Control-Allow-Origin``."""
    response = errors.reject_non_json(event) or app.resolve(event, context)
    return cors.with_allow_origin(response, get_settings().cors_allow_origin)
