"""Workflow Task Finalize: SUCCEEDED once the index reflects every change (read-your-writes)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.logic.generation.operations import finalize
from engram.models.workflow import StepInput
from engram.observability import logger, metrics, tracer
from engram.workflow_steps import workflow_step


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    with workflow_step("finalize", event) as step:
        deps = step.deps
        operation = finalize(deps.operations, deps.memories, deps.leases, deps.index, deps.clock, step.ctx)
        memories = len(operation.result.generated_memories) if operation.result else 0
        step.record.add(memories=memories)
    return step.output(count=memories).model_dump()
