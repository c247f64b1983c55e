"""Workflow Task LoadSource: normalize the request's conversation into events with ids."""

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.logic import generate
from engram.models.workflow import StepInput
from engram.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict:
    ctx = generate.StepContext(event.tenant_id, event.operation_id)
    count = generate.load_source(wiring.store(), wiring.llm(), wiring.clock(), ctx)
    return {"tenant_id": event.tenant_id, "operation_id": event.operation_id, "count": count}
