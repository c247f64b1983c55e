"""Reindex function (invoked by an operator: ``engram reindex --function-name ...``): rebuild the vector
index from DynamoDB, with no LLM or embedding calls: every live memory written (never over a newer
revision), documents of deleted memories removed. Event: ``{"tenant_id"?: str}``; returns the counts of
``engram.logic.reindex.ReindexResult``."""

from dataclasses import asdict

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.logic.reindex import reindex
from engram.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    tenant_id = event.get("tenant_id") if isinstance(event, dict) else None
    deps = wiring.dependencies()
    result = reindex(deps.memories, deps.index, deps.clock, tenant_id)
    metrics.add_metric(name="MemoriesReindexed", unit=MetricUnit.Count, value=result.indexed)
    return asdict(result)
