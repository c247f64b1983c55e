"""Workflow Task RecordFailure (the Catch target): mark the operation FAILED with its error, or SUCCEEDED with
``index_pending`` when its changes were already stored (``engram.logic.generation.record_failure``)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram.errors import LLMOutputInvalid
from engram.logic.generation.operations import caught_error_detail, record_failure
from engram.models.operation import OperationStatus
from engram.models.workflow import StepInput
from engram.observability import logger, metrics, redact, tracer
from engram.workflow_steps import workflow_step


@logger.inject_lambda_context(correlation_id_path="operation_id")
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
@event_parser(model=StepInput)
def handler(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    with workflow_step("record_failure", event) as step:
        deps = step.deps
        operation = record_failure(deps.operations, deps.leases, deps.clock, step.ctx, event.error or {})
        committed = operation.status is OperationStatus.SUCCEEDED
        metrics.add_metric(name="GenerationIndexPending" if committed else "GenerationFailed", unit="Count", value=1)
        code, detail = caught_error_detail(event.error or {})
        # The tenant sees a generic message; the operator gets the caught error here (credentials redacted;
        # not an LLM output error's text, which quotes the model's answer and so may hold personal data).
        logger.warning(
            "generation finished after a caught error",
            extra={
                "operation_id": event.operation_id,
                "tenant_id": event.tenant_id,
                "status": operation.status.value,
                "index_pending": operation.index_pending,
                "error_code": code,
                "error": "(not logged)" if code == LLMOutputInvalid.__name__ else redact(detail),
            },
        )
    return step.output().model_dump()
