"""Step Functions: starts the GenerateMemories workflow (boto3, client built lazily).

With tracing on, ``start`` runs in subsegment ``stepfunctions.start_execution`` annotated with the
``operation_id`` (a generated id) and ``already_started`` (true when the execution existed already).
"""

from __future__ import annotations

import functools
import json
from typing import Any

from engram.errors import ConfigurationError
from engram.observability import annotate, traced


class StepFunctionsWorkflow:
    """``WorkflowStarter`` on Step Functions. The execution name is the operation id, so a repeated start
    of the same operation is rejected by Step Functions instead of running twice."""

    def __init__(self, state_machine_arn: str | None, region: str, endpoint_url: str | None = None) -> None:
        if not state_machine_arn:
            raise ConfigurationError("ENGRAM_STATE_MACHINE_ARN is not set")
        self.state_machine_arn = state_machine_arn
        self._region = region
        self._endpoint_url = endpoint_url

    @functools.cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("stepfunctions", region_name=self._region, endpoint_url=self._endpoint_url)

    @traced("stepfunctions.start_execution")
    def start(self, tenant_id: str, operation_id: str, kind: str = "generate") -> None:
        """Start the execution named ``operation_id`` with input ``{"tenant_id", "operation_id", "kind"}``
        (the state machine's first state chooses the work by ``kind``); an execution of that name existing
        already is success (the start is idempotent)."""
        annotate(operation_id=operation_id)
        try:
            self._client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=operation_id,
                input=json.dumps({"tenant_id": tenant_id, "operation_id": operation_id, "kind": kind}),
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            annotate(already_started=True)
            return
        annotate(already_started=False)
