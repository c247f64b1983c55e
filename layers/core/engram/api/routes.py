"""The v1 routes. Each is a few lines: parse, one call into ``engram.logic`` with the collaborators from
``wiring.dependencies()``, map. Mutating routes are ``idempotent`` (the ``Idempotency-Key`` header)."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import AwareDatetime

from engram import wiring
from engram.api.context import tenant_of
from engram.api.errors import Accepted, responses
from engram.api.idempotency import idempotent
from engram.api.params import IdempotencyKey, MemoryId, OperationId, ReceiptId, SessionId
from engram.logic import config, forget, generation, memories, sessions
from engram.models.api import (
    MAX_REVISIONS_PAGE,
    BatchCreateRequest,
    BatchCreateResponse,
    CountRequest,
    CountResponse,
    CreateMemoryRequest,
    GenerateRequest,
    PurgeRequest,
    PurgeResponse,
    RetrieveRequest,
    RetrieveResponse,
    RevisionsResponse,
    RollbackRequest,
    UpdateMemoryRequest,
)
from engram.models.config import TenantConfig
from engram.models.forget import ForgetReceipt, ForgetRequest
from engram.models.memory import Memory, ScoredMemory
from engram.models.operation import Operation
from engram.models.session import (
    MAX_LIST,
    AppendEventsRequest,
    SessionEventsResponse,
    TruncateSessionRequest,
    TruncateSessionResponse,
)
from engram.ports import EventWindow

router = APIGatewayRouter()


def _json(status: int, model: Operation | Memory | BatchCreateResponse | SessionEventsResponse) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=model)


def _key(route: str, idempotency_key: str | None) -> str | None:
    """What identifies a request among the tenant's: its route and ``Idempotency-Key`` (None without one)."""
    return f"{route}:{idempotency_key}" if idempotency_key is not None else None


def _no_content() -> Response:
    """204 with no body and no Content-Type (a JSON content type makes Powertools send the body ``null``)."""
    return Response(status_code=204)


@router.post(
    "/v1/memories/generate",
    operation_id="generateMemories",
    tags=["memories"],
    summary="Generate memories from a conversation",
    responses=responses({200: "The operation, finished within wait_seconds", 202: "The operation, still running"}),
)
@idempotent(router, "generate")
def generate_memories(
    request: Annotated[GenerateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Operation]:
    """Start generating memories from a conversation; returns the operation (202, or 200 if finished
    within ``wait_seconds``)."""
    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    operation = generation.start_generation(
        deps.operations,
        deps.workflow,
        deps.clock,
        tenant_id,
        request,
        request_key=_key("generate", idempotency_key),
    )
    if request.wait_seconds > 0:
        operation = generation.wait_for_operation(deps.operations, tenant_id, operation.id, request.wait_seconds)
    return _json(200 if operation.done else 202, operation)


@router.get(
    "/v1/operations/<operation_id>",
    operation_id="getOperation",
    tags=["operations"],
    summary="Get an operation",
    responses=responses({200: "The operation"}),
)
def get_operation(operation_id: OperationId) -> Operation:
    """The current state of an operation."""
    return generation.get_operation(wiring.dependencies().operations, tenant_of(router), operation_id)


@router.post(
    "/v1/memories",
    operation_id="createMemory",
    tags=["memories"],
    summary="Create a memory",
    responses=responses({201: "The memory, created"}),
)
@idempotent(router, "create")
def create_memory(
    request: Annotated[CreateMemoryRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Memory]:
    """Create one memory directly (no LLM)."""
    deps = wiring.dependencies()
    [memory] = memories.create_memories(
        deps.memories,
        deps.configs,
        deps.embedder,
        deps.clock,
        tenant_of(router),
        [request],
        _key("create", idempotency_key),
    )
    return _json(201, memory)


@router.post(
    "/v1/memories/batch",
    operation_id="batchCreateMemories",
    tags=["memories"],
    summary="Create up to 100 memories",
    responses=responses({201: "The memories, created"}),
)
@idempotent(router, "batch")
def create_memories(
    request: Annotated[BatchCreateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[BatchCreateResponse]:
    """Create up to 100 memories directly, with one embedding call."""
    deps = wiring.dependencies()
    created = memories.create_memories(
        deps.memories,
        deps.configs,
        deps.embedder,
        deps.clock,
        tenant_of(router),
        request.memories,
        _key("batch", idempotency_key),
        field="memories",
    )
    return _json(201, BatchCreateResponse(memories=[ScoredMemory(memory=m) for m in created]))


@router.get(
    "/v1/memories/<memory_id>",
    operation_id="getMemory",
    tags=["memories"],
    summary="Get a memory",
    responses=responses({200: "The memory"}),
)
def get_memory(memory_id: MemoryId) -> Memory:
    """One memory by id (404 when absent, expired, or another tenant's)."""
    deps = wiring.dependencies()
    return memories.get_memory(deps.memories, deps.clock, tenant_of(router), memory_id)


@router.post(
    "/v1/memories/retrieve",
    operation_id="retrieveMemories",
    tags=["memories"],
    summary="Search or list memories",
    responses=responses({200: "The memories found, best first (search) or newest first (list)"}),
)
def retrieve_memories(request: Annotated[RetrieveRequest, Body()]) -> RetrieveResponse:
    """Similarity search with ``query`` (top_k), or newest-first listing without it."""
    deps = wiring.dependencies()
    return memories.retrieve(deps.memories, deps.index, deps.embedder, deps.clock, tenant_of(router), request)


@router.patch(
    "/v1/memories/<memory_id>",
    operation_id="updateMemory",
    tags=["memories"],
    summary="Update a memory",
    responses=responses({200: "The memory, updated"}),
)
@idempotent(router, "patch:{memory_id}")
def update_memory(
    memory_id: MemoryId, request: Annotated[UpdateMemoryRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Memory:
    """Change a memory's fact, topics, metadata or TTL (a new fact is re-embedded); writes a revision."""
    deps = wiring.dependencies()
    return memories.update_memory(
        deps.memories, deps.configs, deps.embedder, deps.clock, tenant_of(router), memory_id, request
    )


@router.delete(
    "/v1/memories/<memory_id>",
    operation_id="deleteMemory",
    tags=["memories"],
    summary="Delete a memory",
    responses=responses({204: "Deleted"}),
)
@idempotent(router, "delete:{memory_id}")
def delete_memory(memory_id: MemoryId, idempotency_key: IdempotencyKey = None) -> Response[None]:
    """Delete a memory; its revisions stay (with a DELETED one) for the revision TTL."""
    deps = wiring.dependencies()
    memories.delete_memory(deps.memories, deps.configs, deps.clock, tenant_of(router), memory_id)
    return _no_content()


@router.get(
    "/v1/memories/<memory_id>/revisions",
    operation_id="listMemoryRevisions",
    tags=["memories"],
    summary="List a memory's revisions",
    responses=responses({200: "The revisions, newest first"}),
)
def list_revisions(
    memory_id: MemoryId,
    page_size: Annotated[int, Query(ge=1, le=MAX_REVISIONS_PAGE)] = MAX_REVISIONS_PAGE,
    page_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> RevisionsResponse:
    """A memory's revisions, newest first (also after it was deleted): ``page_size`` (1-100, default 100)
    per page, a page also ending before about 5 MB; ``next_page_token`` → ``page_token`` continues."""
    revisions, token = memories.list_revisions_page(
        wiring.dependencies().memories, tenant_of(router), memory_id, page_size, page_token
    )
    return RevisionsResponse(revisions=revisions, next_page_token=token)


@router.post(
    "/v1/memories/<memory_id>/rollback",
    operation_id="rollbackMemory",
    tags=["memories"],
    summary="Roll a memory back to a revision",
    responses=responses({200: "The memory, restored", 204: "That revision's state is deleted; the memory is deleted"}),
)
@idempotent(router, "rollback:{memory_id}")
def rollback_memory(
    memory_id: MemoryId, request: Annotated[RollbackRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Memory]:
    """Restore the memory as it was after ``revision_id`` (200 with it; 204 if that state is deleted)."""
    deps = wiring.dependencies()
    memory = memories.rollback(
        deps.memories, deps.configs, deps.embedder, deps.clock, tenant_of(router), memory_id, request
    )
    return _no_content() if memory is None else _json(200, memory)


@router.post(
    "/v1/memories/purge",
    operation_id="purgeMemories",
    tags=["memories"],
    summary="Delete or count memories by scope and filter",
    responses=responses({200: "How many memories were (or would be) deleted"}),
)
@idempotent(router, "purge")
def purge_memories(request: Annotated[PurgeRequest, Body()], idempotency_key: IdempotencyKey = None) -> PurgeResponse:
    """Delete (``force: true``) or count (dry run) the memories of a scope and/or matching a filter."""
    deps = wiring.dependencies()
    count = memories.purge(deps.memories, deps.configs, deps.clock, tenant_of(router), request)
    return PurgeResponse(purge_count=count)


@router.post(
    "/v1/memories/count",
    operation_id="countMemories",
    tags=["memories"],
    summary="Count the live memories of a scope matching a filter",
    responses=responses({200: "How many live memories match"}),
)
def count_memories(request: Annotated[CountRequest, Body()]) -> CountResponse:
    """How many unexpired memories of ``scope`` match ``filter`` (all of them without one)."""
    deps = wiring.dependencies()
    return CountResponse(count=memories.count_memories(deps.memories, deps.clock, tenant_of(router), request))


@router.get(
    "/v1/config",
    operation_id="getConfig",
    tags=["config"],
    summary="Get the tenant's configuration",
    responses=responses({200: "The configuration"}),
)
def get_config() -> TenantConfig:
    """The tenant's configuration (defaults if never set)."""
    return config.get_config(wiring.dependencies().configs, tenant_of(router))


@router.put(
    "/v1/config",
    operation_id="putConfig",
    tags=["config"],
    summary="Replace the tenant's configuration",
    responses=responses({200: "The configuration, stored"}),
)
@idempotent(router, "config")
def put_config(request: Annotated[TenantConfig, Body()], idempotency_key: IdempotencyKey = None) -> TenantConfig:
    """Replace the tenant's configuration: topics, few-shot examples, TTL defaults."""
    deps = wiring.dependencies()
    return config.put_config(deps.configs, deps.clock, tenant_of(router), request)


@router.post(
    "/v1/sessions/<session_id>/events",
    operation_id="appendSessionEvents",
    tags=["sessions"],
    summary="Append events to a session",
    responses=responses({201: "The events, with their ids"}),
)
@idempotent(router, "append:{session_id}")
def append_session_events(
    session_id: SessionId, request: Annotated[AppendEventsRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[SessionEventsResponse]:
    """Append events to a session (idempotent on ``event_id``); returns them with their ids."""
    deps = wiring.dependencies()
    events = sessions.append_events(deps.sessions, deps.configs, deps.clock, tenant_of(router), session_id, request)
    return _json(201, SessionEventsResponse(events=events))


@router.get(
    "/v1/sessions/<session_id>/events",
    operation_id="listSessionEvents",
    tags=["sessions"],
    summary="List a session's events",
    responses=responses({200: "The events, oldest first"}),
)
def list_session_events(
    session_id: SessionId,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIST)] = None,
    role: Annotated[str | None, Query(pattern="^(user|assistant|system|tool)$")] = None,
    start_time: Annotated[AwareDatetime | None, Query()] = None,
    end_time: Annotated[AwareDatetime | None, Query()] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_LIST)] = MAX_LIST,
    page_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> SessionEventsResponse:
    """A session's events, oldest first: of ``role``, in ``[start_time, end_time)`` (RFC 3339 with a time
    zone), only the last ``limit`` (1-1000) of them; ``page_size`` (1-1000, default 1000) per page, a page
    also ending before about 5 MB; ``next_page_token`` → ``page_token`` continues."""
    deps = wiring.dependencies()
    window = EventWindow(start_time=start_time, end_time=end_time, role=role, last=limit)
    events, token = sessions.list_page(
        deps.sessions, deps.clock, tenant_of(router), session_id, window, page_size, page_token
    )
    return SessionEventsResponse(events=events, next_page_token=token)


@router.post(
    "/v1/sessions/<session_id>/truncate",
    operation_id="truncateSession",
    tags=["sessions"],
    summary="Keep only a session's last events",
    responses=responses({200: "How many events were deleted"}),
)
@idempotent(router, "truncate-session:{session_id}")
def truncate_session(
    session_id: SessionId, request: Annotated[TruncateSessionRequest, Body()], idempotency_key: IdempotencyKey = None
) -> TruncateSessionResponse:
    """Keep the last ``keep_last`` live events of a session and delete the others (404 for a session
    without events); truncating again deletes nothing more."""
    deps = wiring.dependencies()
    deleted = sessions.truncate_session(deps.sessions, deps.clock, tenant_of(router), session_id, request.keep_last)
    return TruncateSessionResponse(deleted_count=deleted)


@router.delete(
    "/v1/sessions/<session_id>",
    operation_id="deleteSession",
    tags=["sessions"],
    summary="Delete a session",
    responses=responses({204: "Deleted"}),
)
@idempotent(router, "delete-session:{session_id}")
def delete_session(session_id: SessionId, idempotency_key: IdempotencyKey = None) -> Response[None]:
    """Delete every event of a session."""
    sessions.delete_session(wiring.dependencies().sessions, tenant_of(router), session_id)
    return _no_content()


@router.post(
    "/v1/forget",
    operation_id="forgetScope",
    tags=["forget"],
    summary="Forget a scope",
    responses=responses(
        {
            200: "The receipt: everything of the scope and the sessions was deleted",
            202: "The receipt of a forget still in progress (completed_at null): send the same request again",
        }
    ),
)
@idempotent(router, "forget")
def forget_scope(
    request: Annotated[ForgetRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[ForgetReceipt]:
    """Delete for good everything stored for ``scope`` — memories (also expired), their revisions and
    index entries, the scope's operations with their stored requests, sources and candidates — and the
    events of ``session_ids``; returns a receipt without content (also at ``GET /v1/forget/{id}``). Each
    batch is atomic with the receipt's counts; the same request resumes a forget in progress (202)."""
    deps = wiring.dependencies()
    deadline = time.monotonic() + forget.FORGET_SECONDS
    receipt = forget.forget(deps.forget, deps.index, deps.clock, tenant_of(router), request, deadline)
    if receipt.completed_at is None:
        raise Accepted(receipt)  # not stored under the Idempotency-Key: a retry with it continues the forget
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=receipt)


@router.get(
    "/v1/forget/<receipt_id>",
    operation_id="getForgetReceipt",
    tags=["forget"],
    summary="Get a forget receipt",
    responses=responses({200: "The receipt"}),
)
def get_forget_receipt(receipt_id: ReceiptId) -> ForgetReceipt:
    """A forget's receipt: scope hash, counts by kind, requested_at, completed_at (null while in progress)."""
    return forget.get_receipt(wiring.dependencies().forget, tenant_of(router), receipt_id)
