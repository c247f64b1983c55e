"""The v1 routes. Each is a few lines: parse, one call into ``engram.logic`` with the collaborators from
``wiring.dependencies()``, map. Mutating routes are ``idempotent`` (the ``Idempotency-Key`` header)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from engram import wiring
from engram.api.context import tenant_of
from engram.api.idempotency import idempotent
from engram.logic import config, generation, memories, sessions
from engram.models.api import (
    BatchCreateRequest,
    BatchCreateResponse,
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
from engram.models.memory import Memory, ScoredMemory
from engram.models.operation import Operation
from engram.models.session import MAX_LIST, AppendEventsRequest, SessionEventsResponse

router = APIGatewayRouter()

MemoryId = Annotated[str, Path(min_length=1, max_length=64)]
SessionId = Annotated[str, Path(min_length=1, max_length=128)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes a retry safe: the same key and body within 24 h return the first response; "
        "another body with the key → 422; while the first is running → 409.",
    ),
]


def _json(status: int, model: Operation | Memory | BatchCreateResponse | SessionEventsResponse) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=model)


def _no_content() -> Response:
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON)


@router.post("/v1/memories/generate", responses={202: {"description": "Operation started"}})
@idempotent(router, "generate")
def generate_memories(
    request: Annotated[GenerateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Operation]:
    """Start generating memories from a conversation; returns the operation (202, or 200 if finished
    within ``wait_seconds``)."""
    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    operation = generation.start_generation(deps.operations, deps.workflow, deps.clock, tenant_id, request)
    if request.wait_seconds > 0:
        operation = generation.wait_for_operation(deps.operations, tenant_id, operation.id, request.wait_seconds)
    return _json(200 if operation.done else 202, operation)


@router.get("/v1/operations/<operation_id>")
def get_operation(operation_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Operation:
    """The current state of an operation."""
    return generation.get_operation(wiring.dependencies().operations, tenant_of(router), operation_id)


@router.post("/v1/memories", responses={201: {"description": "Memory created"}})
@idempotent(router, "create")
def create_memory(
    request: Annotated[CreateMemoryRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Memory]:
    """Create one memory directly (no LLM)."""
    deps = wiring.dependencies()
    [memory] = memories.create_memories(
        deps.memories, deps.configs, deps.embedder, deps.clock, tenant_of(router), [request]
    )
    return _json(201, memory)


@router.post("/v1/memories/batch", responses={201: {"description": "Memories created"}})
@idempotent(router, "batch")
def create_memories(
    request: Annotated[BatchCreateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[BatchCreateResponse]:
    """Create up to 100 memories directly, with one embedding call."""
    deps = wiring.dependencies()
    created = memories.create_memories(
        deps.memories, deps.configs, deps.embedder, deps.clock, tenant_of(router), request.memories
    )
    return _json(201, BatchCreateResponse(memories=[ScoredMemory(memory=m) for m in created]))


@router.get("/v1/memories/<memory_id>")
def get_memory(memory_id: MemoryId) -> Memory:
    """One memory by id (404 when absent, expired, or another tenant's)."""
    deps = wiring.dependencies()
    return memories.get_memory(deps.memories, deps.clock, tenant_of(router), memory_id)


@router.post("/v1/memories/retrieve")
def retrieve_memories(request: Annotated[RetrieveRequest, Body()]) -> RetrieveResponse:
    """Similarity search with ``query`` (top_k), or newest-first listing without it."""
    deps = wiring.dependencies()
    return memories.retrieve(deps.memories, deps.index, deps.embedder, deps.clock, tenant_of(router), request)


@router.patch("/v1/memories/<memory_id>")
@idempotent(router, "patch:{memory_id}")
def update_memory(
    memory_id: MemoryId, request: Annotated[UpdateMemoryRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Memory:
    """Change a memory's fact, topics, metadata or TTL (a new fact is re-embedded); writes a revision."""
    deps = wiring.dependencies()
    return memories.update_memory(
        deps.memories, deps.configs, deps.embedder, deps.clock, tenant_of(router), memory_id, request
    )


@router.delete("/v1/memories/<memory_id>", responses={204: {"description": "Deleted"}})
@idempotent(router, "delete:{memory_id}")
def delete_memory(memory_id: MemoryId, idempotency_key: IdempotencyKey = None) -> Response[None]:
    """Delete a memory; its revisions stay (with a DELETED one) for the revision TTL."""
    deps = wiring.dependencies()
    memories.delete_memory(deps.memories, deps.configs, deps.clock, tenant_of(router), memory_id)
    return _no_content()


@router.get("/v1/memories/<memory_id>/revisions")
def list_revisions(memory_id: MemoryId) -> RevisionsResponse:
    """Every revision of a memory, newest first (also after it was deleted)."""
    revisions = memories.list_revisions(wiring.dependencies().memories, tenant_of(router), memory_id)
    return RevisionsResponse(revisions=revisions)


@router.post("/v1/memories/<memory_id>/rollback")
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


@router.post("/v1/memories/purge")
@idempotent(router, "purge")
def purge_memories(request: Annotated[PurgeRequest, Body()], idempotency_key: IdempotencyKey = None) -> PurgeResponse:
    """Delete (``force: true``) or count (dry run) the memories of a scope and/or matching a filter."""
    deps = wiring.dependencies()
    count = memories.purge(deps.memories, deps.configs, deps.clock, tenant_of(router), request)
    return PurgeResponse(purge_count=count)


@router.get("/v1/config")
def get_config() -> TenantConfig:
    """The tenant's configuration (defaults if never set)."""
    return config.get_config(wiring.dependencies().configs, tenant_of(router))


@router.put("/v1/config")
@idempotent(router, "config")
def put_config(request: Annotated[TenantConfig, Body()], idempotency_key: IdempotencyKey = None) -> TenantConfig:
    """Replace the tenant's configuration: topics, few-shot examples, TTL defaults."""
    deps = wiring.dependencies()
    return config.put_config(deps.configs, deps.clock, tenant_of(router), request)


@router.post("/v1/sessions/<session_id>/events", responses={201: {"description": "Appended"}})
@idempotent(router, "append:{session_id}")
def append_session_events(
    session_id: SessionId, request: Annotated[AppendEventsRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[SessionEventsResponse]:
    """Append events to a session (idempotent on ``event_id``); returns them with their ids."""
    deps = wiring.dependencies()
    events = sessions.append_events(deps.sessions, deps.configs, deps.clock, tenant_of(router), session_id, request)
    return _json(201, SessionEventsResponse(events=events))


@router.get("/v1/sessions/<session_id>/events")
def list_session_events(
    session_id: SessionId,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIST)] = None,
    role: Annotated[str | None, Query(pattern="^(user|assistant|system|tool)$")] = None,
    start_time: Annotated[datetime | None, Query()] = None,
    end_time: Annotated[datetime | None, Query()] = None,
) -> SessionEventsResponse:
    """A session's events, oldest first: the last ``limit`` (1-1000), of ``role``, in ``[start_time, end_time)``."""
    deps = wiring.dependencies()
    events = sessions.list_events(
        deps.sessions, deps.clock, tenant_of(router), session_id, limit, role, start_time, end_time
    )
    return SessionEventsResponse(events=events)


@router.delete("/v1/sessions/<session_id>", responses={204: {"description": "Deleted"}})
@idempotent(router, "delete-session:{session_id}")
def delete_session(session_id: SessionId, idempotency_key: IdempotencyKey = None) -> Response[None]:
    """Delete every event of a session."""
    sessions.delete_session(wiring.dependencies().sessions, tenant_of(router), session_id)
    return _no_content()
