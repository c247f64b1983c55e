"""The v1 routes (DESIGN.md §3). Each is a few lines: parse, one call into ``engram.logic``, map."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from engram import wiring
from engram.api import idempotency
from engram.api.context import tenant_of
from engram.logic import config, generate, memories, sessions
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


@router.post("/v1/memories/generate", responses={202: {"description": "Operation started"}})
def generate_memories(
    request: Annotated[GenerateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Operation]:
    """Start generating memories from a conversation; returns the operation (202, or 200 if finished
    within ``wait_seconds``)."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, Operation]:
        operation = generate.start_generation(wiring.store(), wiring.workflow(), wiring.clock(), tenant_id, request)
        if request.wait_seconds > 0:
            operation = generate.wait_for_operation(wiring.store(), tenant_id, operation.id, request.wait_seconds)
        return (200 if operation.done else 202), operation

    return idempotency.run(router, tenant_id, "generate", request, action)  # type: ignore[arg-type]


@router.get("/v1/operations/<operation_id>")
def get_operation(operation_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Operation:
    """The current state of an operation."""
    return generate.get_operation(wiring.store(), tenant_of(router), operation_id)  # type: ignore[arg-type]


@router.post("/v1/memories", responses={201: {"description": "Memory created"}})
def create_memory(
    request: Annotated[CreateMemoryRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Memory]:
    """Create one memory directly (no LLM)."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, Memory]:
        [memory] = memories.create_memories(wiring.store(), wiring.embedder(), wiring.clock(), tenant_id, [request])
        return 201, memory

    return idempotency.run(router, tenant_id, "create", request, action)  # type: ignore[arg-type]


@router.post("/v1/memories/batch", responses={201: {"description": "Memories created"}})
def create_memories(
    request: Annotated[BatchCreateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[BatchCreateResponse]:
    """Create up to 100 memories directly, with one embedding call."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, BatchCreateResponse]:
        created = memories.create_memories(
            wiring.store(), wiring.embedder(), wiring.clock(), tenant_id, request.memories
        )
        return 201, BatchCreateResponse(memories=[ScoredMemory(memory=m) for m in created])

    return idempotency.run(router, tenant_id, "batch", request, action)  # type: ignore[arg-type]


@router.get("/v1/memories/<memory_id>")
def get_memory(memory_id: MemoryId) -> Memory:
    """One memory by id (404 when absent, expired, or another tenant's)."""
    return memories.get_memory(wiring.store(), wiring.clock(), tenant_of(router), memory_id)  # type: ignore[arg-type]


@router.post("/v1/memories/retrieve")
def retrieve_memories(request: Annotated[RetrieveRequest, Body()]) -> RetrieveResponse:
    """Similarity search with ``query`` (top_k), or newest-first listing without it."""
    return memories.retrieve(
        wiring.store(),
        wiring.index(),
        wiring.embedder(),
        wiring.clock(),
        tenant_of(router),
        request,  # type: ignore[arg-type]
    )


@router.patch("/v1/memories/<memory_id>")
def update_memory(
    memory_id: MemoryId, request: Annotated[UpdateMemoryRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Memory:
    """Change a memory's fact, topics, metadata or TTL (a new fact is re-embedded); writes a revision."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, Memory]:
        return 200, memories.update_memory(
            wiring.store(), wiring.embedder(), wiring.clock(), tenant_id, memory_id, request
        )

    return idempotency.run(router, tenant_id, f"patch:{memory_id}", request, action)  # type: ignore[arg-type,return-value]


@router.delete("/v1/memories/<memory_id>", responses={204: {"description": "Deleted"}})
def delete_memory(memory_id: MemoryId, idempotency_key: IdempotencyKey = None) -> Response[None]:
    """Delete a memory; its revisions stay (with a DELETED one) for the revision TTL."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, None]:
        memories.delete_memory(wiring.store(), wiring.clock(), tenant_id, memory_id)
        return 204, None

    return idempotency.run(router, tenant_id, f"delete:{memory_id}", None, action)  # type: ignore[arg-type]


@router.get("/v1/memories/<memory_id>/revisions")
def list_revisions(memory_id: MemoryId) -> RevisionsResponse:
    """Every revision of a memory, newest first (also after it was deleted)."""
    revisions = memories.list_revisions(wiring.store(), tenant_of(router), memory_id)  # type: ignore[arg-type]
    return RevisionsResponse(revisions=revisions)


@router.post("/v1/memories/<memory_id>/rollback")
def rollback_memory(
    memory_id: MemoryId, request: Annotated[RollbackRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Memory]:
    """Restore the memory as it was after ``revision_id`` (200 with it; 204 if that state is deleted)."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, Memory | None]:
        memory = memories.rollback(wiring.store(), wiring.embedder(), wiring.clock(), tenant_id, memory_id, request)
        return (204, None) if memory is None else (200, memory)

    return idempotency.run(router, tenant_id, f"rollback:{memory_id}", request, action)  # type: ignore[arg-type]


@router.post("/v1/memories/purge")
def purge_memories(request: Annotated[PurgeRequest, Body()], idempotency_key: IdempotencyKey = None) -> PurgeResponse:
    """Delete (``force: true``) or count (dry run) the memories of a scope and/or matching a filter."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, PurgeResponse]:
        return 200, PurgeResponse(purge_count=memories.purge(wiring.store(), wiring.clock(), tenant_id, request))

    return idempotency.run(router, tenant_id, "purge", request, action)  # type: ignore[arg-type,return-value]


@router.get("/v1/config")
def get_config() -> TenantConfig:
    """The tenant's configuration (defaults if never set)."""
    return config.get_config(wiring.store(), tenant_of(router))  # type: ignore[arg-type]


@router.put("/v1/config")
def put_config(request: Annotated[TenantConfig, Body()], idempotency_key: IdempotencyKey = None) -> TenantConfig:
    """Replace the tenant's configuration: topics, few-shot examples, TTL defaults."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, TenantConfig]:
        return 200, config.put_config(wiring.store(), wiring.clock(), tenant_id, request)

    return idempotency.run(router, tenant_id, "config", request, action)  # type: ignore[arg-type,return-value]


@router.post("/v1/sessions/<session_id>/events", responses={201: {"description": "Appended"}})
def append_session_events(
    session_id: SessionId, request: Annotated[AppendEventsRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[SessionEventsResponse]:
    """Append events to a session (idempotent on ``event_id``); returns them with their ids."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, SessionEventsResponse]:
        events = sessions.append_events(wiring.store(), wiring.clock(), tenant_id, session_id, request)
        return 201, SessionEventsResponse(events=events)

    return idempotency.run(router, tenant_id, f"append:{session_id}", request, action)  # type: ignore[arg-type]


@router.get("/v1/sessions/<session_id>/events")
def list_session_events(
    session_id: SessionId,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIST)] = None,
    role: Annotated[str | None, Query(pattern="^(user|assistant|system|tool)$")] = None,
    start_time: Annotated[datetime | None, Query()] = None,
    end_time: Annotated[datetime | None, Query()] = None,
) -> SessionEventsResponse:
    """A session's events, oldest first: the last ``limit`` (1-1000), of ``role``, in ``[start_time, end_time)``."""
    events = sessions.list_events(
        wiring.store(),
        wiring.clock(),
        tenant_of(router),
        session_id,
        limit,
        role,
        start_time,
        end_time,  # type: ignore[arg-type]
    )
    return SessionEventsResponse(events=events)


@router.delete("/v1/sessions/<session_id>", responses={204: {"description": "Deleted"}})
def delete_session(session_id: SessionId, idempotency_key: IdempotencyKey = None) -> Response[None]:
    """Delete every event of a session."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]

    def action() -> tuple[int, None]:
        sessions.delete_session(wiring.store(), tenant_id, session_id)
        return 204, None

    return idempotency.run(router, tenant_id, f"delete-session:{session_id}", None, action)  # type: ignore[arg-type]
