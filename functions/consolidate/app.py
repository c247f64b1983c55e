"""Workflow Task Consolidate: decide and apply CREATE/UPDATE/DELETE against the scope's memories."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.logic.generation.consolidation import consolidate
from engram.models.workflow import StepInput
from engram.observability import logger, metrics, tracer
from engram.workflow_steps import action_counts, workflow_step


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    with workflow_step("consolidate", event) as step:
        d = step.deps
        result = consolidate(
            d.operations,
            d.memories,
            d.leases,
            d.configs,
            d.index,
            d.embedder,
            d.llm,
            d.clock,
            step.ctx,
            d.consolidation,
        )
        step.record.add(**action_counts(result))
    return step.output(count=len(result.generated_memories)).model_dump()
