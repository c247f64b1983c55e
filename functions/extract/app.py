"""Workflow Task Extract: one LLM call proposes candidate facts."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.logic.generation.extraction import extract
from engram.models.workflow import StepInput
from engram.observability import logger, metrics, tracer
from engram.workflow_steps import workflow_step


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    with workflow_step("extract", event) as step:
        deps = step.deps
        candidates = extract(deps.operations, deps.configs, deps.llm, deps.clock, step.ctx)
        step.record.add(candidates=candidates)
    return step.output(count=candidates).model_dump()
