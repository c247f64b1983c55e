"""Workflow Task Compress: summarize the groups of a compression operation (``engram.logic.compression``)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.logic import compression
from engram.models.workflow import CompressOutput, StepInput
from engram.observability import logger, metrics, tracer
from engram.workflow_steps import workflow_step


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    with workflow_step("compress", event) as step:
        d = step.deps
        result, more = compression.compress(
            d.operations, d.memories, d.leases, d.configs, d.embedder, d.llm, d.clock, step.ctx
        )
        report = result.compression if result is not None else None
        if report is not None:
            step.record.add(groups_compressed=report.groups_compressed, groups_skipped=report.groups_skipped)
        created = len(result.generated_memories) if result is not None else 0
    return CompressOutput(**step.output(count=created).model_dump(), more=more).model_dump()
