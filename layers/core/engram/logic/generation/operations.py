"""The life of a generation operation: the API starts it, gets it and waits for it; the workflow's last
step finishes it (Finalize: SUCCEEDED once the index shows its changes; RecordFailure: FAILED with the
caught error), giving the scope's lease back either way."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engram.clock import new_id
from engram.errors import IndexNotReady, NotFound, RetryableError
from engram.models.api import GenerateRequest
from engram.models.operation import Operation, OperationDocument, OperationError, OperationStatus
from engram.models.scope import scope_hash
from engram.ports import Clock, LeaseRepository, MemoryRepository, OperationRepository, VectorIndex, WorkflowStarter

#: Characters of a caught error's message kept on a FAILED operation.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class StepContext:
    """Which operation a workflow step works on: ``operation_id`` of ``tenant_id``."""

    tenant_id: str
    operation_id: str


# --- API side ---------------------------------------------------------------------------------


def start_generation(
    operations: OperationRepository, workflow: WorkflowStarter, clock: Clock, tenant_id: str, request: GenerateRequest
) -> Operation:
    """Record a RUNNING operation with its request, then start the workflow.

    If the workflow cannot be started, the operation is recorded as FAILED (it never silently
    disappears) and ``RetryableError`` (503) is raised.
    """
    now = clock.now()
    operation = Operation(id=new_id(), status=OperationStatus.RUNNING, create_time=now, update_time=now)
    body = request.model_dump(mode="json", exclude={"wait_seconds"}, exclude_none=True)
    operations.create(tenant_id, operation, request.scope, body)
    try:
        workflow.start(tenant_id, operation.id)
    except Exception as error:  # any failure to start is recorded, then reported as 503
        operations.finish(
            tenant_id,
            operation.id,
            OperationStatus.FAILED,
            clock.now(),
            OperationError(code="WorkflowStartFailed", message=str(error)[:1000]),
        )
        raise RetryableError("could not start the generation workflow; retry later") from error
    return operation


def get_operation(operations: OperationRepository, tenant_id: str, operation_id: str) -> Operation:
    """Raises ``NotFound`` when the operation does not exist for this tenant."""
    operation = operations.get(tenant_id, operation_id)
    if operation is None:
        raise NotFound(f"operation {operation_id} not found")
    return operation


def wait_for_operation(
    operations: OperationRepository,
    tenant_id: str,
    operation_id: str,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 0.2,
) -> Operation:
    """Poll the operation until it is done or ``wait_seconds`` have passed; returns its latest state."""
    deadline = time.monotonic() + wait_seconds
    operation = get_operation(operations, tenant_id, operation_id)
    while not operation.done and time.monotonic() < deadline:
        sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))
        operation = get_operation(operations, tenant_id, operation_id)
    return operation


# --- what every step reads ----------------------------------------------------------------------


def stored_request(operations: OperationRepository, ctx: StepContext) -> GenerateRequest:
    """The request the operation was started with. Raises ``NotFound`` when it has none."""
    body = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.REQUEST)
    if body is None:
        raise NotFound(f"operation {ctx.operation_id} has no stored request")
    return GenerateRequest.model_validate(body)


# --- the workflow's last step -------------------------------------------------------------------


def finalize(
    operations: OperationRepository,
    memories: MemoryRepository,
    leases: LeaseRepository,
    index: VectorIndex,
    clock: Clock,
    ctx: StepContext,
) -> Operation:
    """Mark the operation SUCCEEDED once the index reflects every change (read-your-writes).

    Raises ``IndexNotReady`` (retried by the workflow with backoff) while the index lags. A retry after
    the operation finished changes nothing but gives the scope's lease back.
    """
    operation = get_operation(operations, ctx.tenant_id, ctx.operation_id)
    if operation.done:
        release_scope(operations, leases, ctx)  # a retry after finishing: make sure the lease is given back
        return operation
    generated = operation.result.generated_memories if operation.result else []
    lagging = lagging_memories(memories, index, ctx.tenant_id, [g.memory.id for g in generated])
    if lagging:
        raise IndexNotReady(f"{len(lagging)} of {len(generated)} memories not yet indexed")
    operations.finish(ctx.tenant_id, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now())
    release_scope(operations, leases, ctx)
    return get_operation(operations, ctx.tenant_id, ctx.operation_id)


def lagging_memories(memories: MemoryRepository, index: VectorIndex, tenant_id: str, ids: list[str]) -> list[str]:
    """The ids among ``ids`` whose index entry does not match the memory's current state: missing or at
    an older revision for a stored memory, still present for a deleted one. (The current state, not the
    one the operation wrote: a later writer may have changed or deleted the memory since.)"""
    indexed = index.revisions(tenant_id, ids)
    current = memories.get_many(tenant_id, ids)
    lagging = []
    for memory_id in ids:
        stored, have = current.get(memory_id), indexed.get(memory_id)
        if stored is None:
            if have is not None:
                lagging.append(memory_id)
        elif have is None or have < stored.revision_id:
            lagging.append(memory_id)
    return lagging


def record_failure(
    operations: OperationRepository, leases: LeaseRepository, clock: Clock, ctx: StepContext, error: dict[str, Any]
) -> Operation:
    """Record a caught workflow error (``{"Error": name, "Cause": text}``) and mark the operation FAILED.

    The error's code is ``Error`` (``"Unknown"`` when absent); its message is the Lambda error payload's
    ``errorMessage`` when ``Cause`` is one, else ``Cause`` as text, cut to 2,000 characters. An operation
    that already finished is left as it is.
    """
    code = str(error.get("Error") or "Unknown")
    message = _cause_message(error.get("Cause"))
    operations.finish(
        ctx.tenant_id,
        ctx.operation_id,
        OperationStatus.FAILED,
        clock.now(),
        OperationError(code=code, message=message),
    )
    release_scope(operations, leases, ctx)
    return get_operation(operations, ctx.tenant_id, ctx.operation_id)


def release_scope(operations: OperationRepository, leases: LeaseRepository, ctx: StepContext) -> None:
    """Give back the operation's lease on its scope (nothing when it holds none)."""
    scope = operations.scope_of(ctx.tenant_id, ctx.operation_id)
    leases.release(ctx.tenant_id, scope_hash(scope), ctx.operation_id)


def _cause_message(cause: Any) -> str:
    """The Lambda error payload's ``errorMessage`` when the cause is one, else the cause as text."""
    if isinstance(cause, str):
        try:
            cause = json.loads(cause)
        except ValueError:
            return cause[:MAX_ERROR_CHARS]
    if isinstance(cause, dict):
        return str(cause.get("errorMessage") or cause)[:MAX_ERROR_CHARS]
    return str(cause or "")[:MAX_ERROR_CHARS]
