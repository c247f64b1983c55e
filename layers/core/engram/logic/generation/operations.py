"""The life of an operation (a generation, or a compression: ``engram.logic.compression``): the API starts
it, gets it and waits for it; the workflow's last step finishes it (Finalize: SUCCEEDED once the index
shows its changes; RecordFailure: FAILED with the caught error), giving the scope's lease back either way."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engram.clock import new_id
from engram.errors import Conflict, IndexNotReady, NotFound, RetryableError, public_message_for
from engram.logic.config import expire_at, get_config
from engram.models.api import GenerateRequest
from engram.models.config import TenantConfig
from engram.models.operation import Operation, OperationDocument, OperationError, OperationResult, OperationStatus
from engram.models.scope import scope_hash
from engram.ports import (
    Clock,
    ConfigRepository,
    LeaseRepository,
    MemoryRepository,
    OperationRepository,
    VectorIndex,
    WorkflowStarter,
)

#: Characters of a caught error's message kept on a FAILED operation.
MAX_ERROR_CHARS = 2000
#: The message of an operation whose workflow could not be started.
WORKFLOW_START_FAILED = "could not start the generation workflow"
#: The kinds of operation the workflow runs (its first state chooses by the execution input's ``kind``).
GENERATE = "generate"
COMPRESS = "compress"


@dataclass(frozen=True)
class StepContext:
    """Which operation a workflow step works on: ``operation_id`` of ``tenant_id``."""

    tenant_id: str
    operation_id: str


# --- API side ---------------------------------------------------------------------------------


def start_generation(
    operations: OperationRepository,
    workflow: WorkflowStarter,
    clock: Clock,
    tenant_id: str,
    request: GenerateRequest,
    configs: ConfigRepository | None = None,
    request_key: str | None = None,
) -> Operation:
    """Record a RUNNING operation with its request, then start the workflow.

    ``request_key`` identifies the request (route and ``Idempotency-Key``): the operation id then derives
    from it, the tenant and the body (``attempt_ids``), so a retry of a request that failed after its
    operation was recorded returns that operation (starting its workflow, should the failed attempt have
    stopped before: starting is idempotent) instead of starting a second generation of the same
    conversation. An earlier attempt that ended FAILED stored nothing: the retry starts the next attempt.

    The operation and its stored documents expire after the tenant's ``operation_ttl_seconds`` (read from
    ``configs``; without them, the default: 30 days); the retention job then deletes them.

    If the workflow cannot be started, the operation is recorded as FAILED (it never silently
    disappears; its message is generic, since the cause may name the state machine) and
    ``RetryableError`` (503) is raised, its message (for the operator's log) quoting the cause.
    """
    body = request.model_dump(mode="json", exclude={"wait_seconds"}, exclude_none=True)
    return start_operation(operations, workflow, clock, tenant_id, request.scope, body, configs, request_key)


def start_operation(
    operations: OperationRepository,
    workflow: WorkflowStarter,
    clock: Clock,
    tenant_id: str,
    scope: dict[str, str],
    body: dict[str, Any],
    configs: ConfigRepository | None = None,
    request_key: str | None = None,
    kind: str = GENERATE,
) -> Operation:
    """``start_generation`` for any ``kind`` of operation (``GENERATE``, ``COMPRESS``): record the RUNNING
    operation of ``scope`` with its request ``body`` (the stored ``REQ`` document the workflow reads),
    then start the workflow with ``kind``. Same ids, expiry, retries and errors as ``start_generation``."""
    now = clock.now()
    ttl = (get_config(configs, tenant_id) if configs is not None else TenantConfig()).ttl.operation_ttl_seconds
    expire_time = expire_at(now, ttl)
    operation, new = _record(operations, workflow, tenant_id, scope, body, now, expire_time, request_key, kind)
    if not new:
        return operation
    try:
        _start(workflow, tenant_id, operation.id, kind)
    except Exception as error:  # any failure to start is recorded, then reported as 503
        operations.finish(
            tenant_id,
            operation.id,
            OperationStatus.FAILED,
            clock.now(),
            OperationError(code="WorkflowStartFailed", message=WORKFLOW_START_FAILED),
        )
        raise RetryableError(f"{WORKFLOW_START_FAILED}: {type(error).__name__}: {str(error)[:1000]}") from error
    return operation


#: Attempts of one idempotent generate request whose operations may end FAILED before one is kept.
MAX_ATTEMPTS = 5


def _start(workflow: WorkflowStarter, tenant_id: str, operation_id: str, kind: str) -> None:
    """Start the workflow; a generation with the two-argument call (the port's default kind)."""
    if kind == GENERATE:
        workflow.start(tenant_id, operation_id)
    else:
        workflow.start(tenant_id, operation_id, kind)


def _record(
    operations: OperationRepository,
    workflow: WorkflowStarter,
    tenant_id: str,
    scope: dict[str, str],
    body: dict[str, Any],
    now: datetime,
    expire_time: datetime | None,
    request_key: str | None,
    kind: str = GENERATE,
) -> tuple[Operation, bool]:
    """``(the RUNNING operation recorded for this attempt, True)``, or, for a request whose operation an
    earlier attempt recorded and did not fail, ``(that operation, False)`` after starting its workflow
    if it is still running (idempotent). Raises ``Conflict`` after ``MAX_ATTEMPTS`` failed attempts."""
    if request_key is None:
        operation = Operation(id=new_id(), status=OperationStatus.RUNNING, create_time=now, update_time=now)
        operations.create(tenant_id, operation, scope, body, expire_time)
        return operation, True
    for operation_id in attempt_ids(tenant_id, request_key, body):
        operation = Operation(id=operation_id, status=OperationStatus.RUNNING, create_time=now, update_time=now)
        try:
            operations.create(tenant_id, operation, scope, body, expire_time)
            return operation, True
        except Conflict:
            earlier = get_operation(operations, tenant_id, operation_id)
            if earlier.status is not OperationStatus.FAILED:
                if not earlier.done:
                    _start(workflow, tenant_id, earlier.id, kind)
                return earlier, False
    raise Conflict("this request failed too many times with this Idempotency-Key; send it with a new one")


def attempt_ids(tenant_id: str, request_key: str, body: dict[str, Any]) -> list[str]:
    """The operation ids of the successive attempts of one request (``MAX_ATTEMPTS``), derived from the
    tenant, ``request_key`` and the body: 28 hex digits each (the shape of ``new_id``)."""
    seed = hashlib.sha256(json.dumps([tenant_id, request_key, body], sort_keys=True).encode()).hexdigest()
    return [hashlib.sha256(f"{seed}:{attempt}".encode()).hexdigest()[:28] for attempt in range(MAX_ATTEMPTS)]


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
    changed = changed_ids(operation.result) if operation.result else []
    lagging = lagging_memories(memories, index, ctx.tenant_id, changed)
    if lagging:
        raise IndexNotReady(f"{len(lagging)} of {len(changed)} memories not yet indexed")
    operations.finish(ctx.tenant_id, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now())
    release_scope(operations, leases, ctx)
    return get_operation(operations, ctx.tenant_id, ctx.operation_id)


def changed_ids(result: OperationResult) -> list[str]:
    """The ids of the memories ``result`` changed: its generated memories and, for a compression, the
    memories each new one replaced (``source.memory_ids``, deleted), each once."""
    ids = [g.memory.id for g in result.generated_memories]
    ids += [original for g in result.generated_memories for original in g.memory.source.memory_ids]
    return list(dict.fromkeys(ids))


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
    """Finish the operation after the workflow caught ``error`` (``{"Error": name, "Cause": text}``).

    - Its changes are not stored (no ``result`` yet): FAILED. The error's code is ``Error`` (``"Unknown"``
      when absent); its message is what a tenant may read of it (``engram.errors.public_message_for``):
      the text of a client error or of a Step Functions ``States.*`` error, else a generic text, since a
      provider's answer may quote credentials or name a secret (``caught_error_detail`` gives the detail
      for the operator's log).
    - Consolidate already stored its changes with the ``result`` (the failure came after: Finalize gave
      up waiting for the index, or the index failed): SUCCEEDED, with ``index_pending`` when it changed
      memories. Never FAILED, since a client retrying a failed generation would store them twice.

    An operation that already finished is left as it is. The scope's lease is given back either way.
    """
    operation = get_operation(operations, ctx.tenant_id, ctx.operation_id)
    if operation.result is not None:
        pending = bool(operation.result.generated_memories)
        operations.finish(
            ctx.tenant_id, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now(), index_pending=pending
        )
    else:
        code, detail = caught_error_detail(error)
        message = public_message_for(code, detail)
        operations.finish(
            ctx.tenant_id,
            ctx.operation_id,
            OperationStatus.FAILED,
            clock.now(),
            OperationError(code=code, message=message),
        )
    release_scope(operations, leases, ctx)
    return get_operation(operations, ctx.tenant_id, ctx.operation_id)


def caught_error_detail(error: dict[str, Any]) -> tuple[str, str]:
    """``(code, message)`` of a caught workflow error: ``Error`` (``"Unknown"`` when absent), and the
    Lambda error payload's ``errorMessage`` when ``Cause`` is one, else ``Cause`` as text, cut to 2,000
    characters. For operators: the message may quote a provider's answer."""
    return str(error.get("Error") or "Unknown"), _cause_message(error.get("Cause"))


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
