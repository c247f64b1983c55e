"""Workflow Task RecordFailure (the Catch target): mark the operation FAILED with its error."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.logic import generation
from engram.models.workflow import StepInput
from engram.observability import logger, metrics, tracer
from engram.workflow_steps import workflow_step


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    with workflow_step("record_failure", event) as step:
        deps = step.deps
        generation.record_failure(deps.operations, deps.leases, deps.clock, step.ctx, event.error or {})
        metrics.add_metric(name="GenerationFailed", unit="Count", value=1)
    return step.output().model_dump()
