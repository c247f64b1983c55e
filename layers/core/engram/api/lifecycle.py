"""Routes of the memory lifecycle: archiving memories into another scope (``POST /v1/memories/archive``),
compressing them into fewer (``POST /v1/memories/compress``, an operation) and usage analytics
(``GET /v1/stats``). Thin: parse, one call into ``engram.logic``, map the result."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from engram import wiring
from engram.api.context import tenant_of
from engram.api.errors import Accepted, responses
from engram.api.idempotency import idempotent
from engram.api.params import IdempotencyKey
from engram.errors import InvalidInput
from engram.logic import archive as archive_logic
from engram.logic import generation
from engram.logic import stats as stats_logic
from engram.models.compression import CompressRequest
from engram.models.lifecycle import MAX_STATS_DAYS, ArchiveRequest, ArchiveResponse, StatsResponse
from engram.models.operation import Operation

router = APIGatewayRouter()


@router.post(
    "/v1/memories/archive",
    operation_id="archiveMemories",
    tags=["memories"],
    summary="Move memories to an archive scope",
    responses=responses(
        {
            200: "How many memories were moved (or would be, dry run); done",
            202: "Some were moved and more remain (done false): send the same request again",
        }
    ),
)
@idempotent(router, "archive")
def archive_memories(
    request: Annotated[ArchiveRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[ArchiveResponse]:
    """Move (``force: true``) or count (dry run) the live memories of ``scope`` matching ``filter`` to
    ``to_scope``: same ids and revisions, one ARCHIVED revision each, ``metadata.archived`` true. Atomic
    per block of 25; under the lease of both scopes (503 SCOPE_BUSY while a generation holds one)."""
    deps = wiring.dependencies()
    deadline = time.monotonic() + archive_logic.ARCHIVE_SECONDS
    result = archive_logic.archive(
        deps.memories, deps.configs, deps.leases, deps.clock, tenant_of(router), request, deadline
    )
    if not result.done:
        raise Accepted(result)  # not stored under the Idempotency-Key: a retry with it goes on
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=result)


@router.post(
    "/v1/memories/compress",
    operation_id="compressMemories",
    tags=["memories"],
    summary="Compress memories into fewer (an operation)",
    responses=responses({200: "The operation, finished within wait_seconds", 202: "The operation, still running"}),
)
@idempotent(router, "compress")
def compress_memories(
    request: Annotated[CompressRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[Operation]:
    """Start summarizing the live memories of ``scope`` matching ``filter`` into about ``max_memories``,
    group by group (``group_by`` ``topic``, or ``time_window`` with ``window_hours``); returns the
    operation (202, or 200 if finished within ``wait_seconds``). Its ``result.compression`` reports groups,
    memories before and after, LLM calls and tokens; each new memory names the ones it replaced in
    ``source.memory_ids`` (roll those back to undo). Waits for the scope's lease like a generation."""
    # Imported by the request that needs it: the compression logic and its prompts (about 2% of the API
    # function's import) are paid by the first compress request of a process, not by every cold start.
    from engram.logic import compression as compression_logic

    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    operation = compression_logic.start_compression(
        deps.operations,
        deps.workflow,
        deps.clock,
        tenant_id,
        request,
        request_key=f"compress:{idempotency_key}" if idempotency_key is not None else None,
    )
    if request.wait_seconds > 0:
        operation = generation.wait_for_operation(deps.operations, tenant_id, operation.id, request.wait_seconds)
    status = 200 if operation.done else 202
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=operation)


STATS_QUERY = ("scope", "days", "group_by")


@router.get(
    "/v1/stats",
    operation_id="getStats",
    tags=["stats"],
    summary="Usage analytics of a scope or the tenant",
    responses=responses({200: "Totals, by topic and group, per day, and usage with its estimated cost"}),
)
def get_stats(
    scope: Annotated[
        str | None,
        Query(max_length=4096, description='The scope as JSON, e.g. {"user_id":"u-1"}; absent: the whole tenant.'),
    ] = None,
    days: Annotated[int, Query(ge=1, le=MAX_STATS_DAYS, description="UTC days of per_day, today included.")] = 30,
    group_by: Annotated[
        str | None, Query(max_length=73, description="'topic', or 'metadata.<key>' (needs a scope): by_group.")
    ] = None,
) -> StatsResponse:
    """``{total, by_topic, by_group, per_day, usage_per_day, prices}`` of a scope (or the tenant), read from
    counters kept on write; a request reads ``4 × (days + 1)`` small counter items (``engram.logic.stats``
    says what each option costs)."""
    unknown = sorted(set(router.current_event.query_string_parameters or {}) - set(STATS_QUERY))
    if unknown:
        raise InvalidInput(f"query parameter {unknown[0]!r} is not supported here (accepted: {', '.join(STATS_QUERY)})")
    deps = wiring.dependencies()
    parsed = stats_logic.parse_scope(scope)
    return stats_logic.get_stats(
        deps.stats, deps.memories, deps.clock, deps.prices, tenant_of(router), parsed, days, group_by
    )
