"""The v1 routes (DESIGN.md §3). Each is a few lines: parse, one call into ``engram.logic``, map."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from engram import wiring
from engram.api.context import tenant_of
from engram.logic import generate, memories
from engram.models.api import (
    BatchCreateRequest,
    BatchCreateResponse,
    CreateMemoryRequest,
    GenerateRequest,
    RetrieveRequest,
    RetrieveResponse,
)
from engram.models.memory import Memory, ScoredMemory
from engram.models.operation import Operation

router = APIGatewayRouter()


def _json(status: int, model: Operation | Memory | BatchCreateResponse) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=model)


@router.post("/v1/memories/generate", responses={202: {"description": "Operation started"}})
def generate_memories(request: Annotated[GenerateRequest, Body()]) -> Response[Operation]:
    """Start generating memories from a conversation; returns the operation (202, or 200 if finished
    within ``wait_seconds``)."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]
    operation = generate.start_generation(wiring.store(), wiring.workflow(), wiring.clock(), tenant_id, request)
    if request.wait_seconds > 0:
        operation = generate.wait_for_operation(wiring.store(), tenant_id, operation.id, request.wait_seconds)
    return _json(200 if operation.done else 202, operation)


@router.get("/v1/operations/<operation_id>")
def get_operation(operation_id: Annotated[str, Path(max_length=64)]) -> Operation:
    """The current state of an operation."""
    return generate.get_operation(wiring.store(), tenant_of(router), operation_id)  # type: ignore[arg-type]


@router.post("/v1/memories", responses={201: {"description": "Memory created"}})
def create_memory(request: Annotated[CreateMemoryRequest, Body()]) -> Response[Memory]:
    """Create one memory directly (no LLM)."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]
    [memory] = memories.create_memories(wiring.store(), wiring.embedder(), wiring.clock(), tenant_id, [request])
    return _json(201, memory)


@router.post("/v1/memories/batch", responses={201: {"description": "Memories created"}})
def create_memories(request: Annotated[BatchCreateRequest, Body()]) -> Response[BatchCreateResponse]:
    """Create up to 100 memories directly, with one embedding call."""
    tenant_id = tenant_of(router)  # type: ignore[arg-type]
    created = memories.create_memories(wiring.store(), wiring.embedder(), wiring.clock(), tenant_id, request.memories)
    return _json(201, BatchCreateResponse(memories=[ScoredMemory(memory=m) for m in created]))


@router.get("/v1/memories/<memory_id>")
def get_memory(memory_id: Annotated[str, Path(max_length=64)]) -> Memory:
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
