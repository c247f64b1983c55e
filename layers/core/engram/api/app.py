"""The API resolver: validation on, routes from ``engram.api.routes``, errors from ``engram.api.errors``."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from engram.api import errors, routes

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(routes.router)
errors.register(app)
