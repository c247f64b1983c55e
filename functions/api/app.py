"""API functions: ApiFunction (``/v1`` routes: ``engram.api.routes``, ``engram.api.lifecycle``) and
Mem0Function (``/mem0``: ``engram.api.mem0``) run this handler; ``ENGRAM_API_ROUTES`` picks the routes."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.api import idempotency
from engram.api.app import resolve
from engram.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    idempotency.register_lambda_context(context)
    return resolve(event, context)
