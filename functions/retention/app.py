"""Scheduled retention (EventBridge Scheduler): hard-delete expired memories, revisions, session events and
operations (with their stored documents) in bounded batches, and publish the deleted counts as metrics."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.logic.retention import run_retention
from engram.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    max_items = int(event.get("max_items", 5000)) if isinstance(event, dict) else 5000
    deps = wiring.dependencies()
    result = run_retention(deps.retention, deps.clock, max_items=max_items)
    for name, value in (
        ("ExpiredMemoriesDeleted", result.memories),
        ("ExpiredRevisionsDeleted", result.revisions),
        ("ExpiredSessionEventsDeleted", result.session_events),
        ("ExpiredOperationsDeleted", result.operations),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("retention run", extra={"deleted": result.deleted, "more": result.more})
    return {
        "memories": result.memories,
        "revisions": result.revisions,
        "session_events": result.session_events,
        "operations": result.operations,
        "other": result.other,
        "more": result.more,
    }
