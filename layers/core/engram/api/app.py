"""The API resolver: validation on, routes from ``engram.api.routes``, errors from ``engram.api.errors``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from engram.api import errors, routes

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(routes.router)
errors.register(app)


def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Route one API Gateway proxy event: a non-JSON body is refused (415) before routing."""
    return errors.reject_non_json(event) or app.resolve(event, context)
