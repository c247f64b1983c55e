"""CORS preflight function, deployed only when the stack's ``CorsAllowOrigin`` is set: answers a browser's
``OPTIONS`` on every resource of the API (no authorizer, no usage plan: a preflight carries no
credentials) with the allowed origin, methods and headers (``engram.api.cors``)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.api.cors import preflight_response
from engram.observability import logger
from engram.settings import get_settings


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    return preflight_response(get_settings().cors_allow_origin)
