"""The mem0-compatible routes (``/mem0``): what ``MemoryClient`` / ``AsyncMemoryClient`` of ``mem0ai``
2.2.1 send, given ``host="https://<engram api>/mem0"``, answered by Engram's own logic (``engram.logic.mem0``
on top of ``engram.logic.memories`` and generation), with the response shapes that client's users parse.

The same API key authenticates, sent as ``Authorization: Token <key>`` (mem0's scheme; accepted only under
``/mem0``) or ``Bearer``. Tenants, isolation, idempotency (``Idempotency-Key`` on every mutating route),
limits and the error body (``{"error": {"code", "message"}}``) are those of ``/v1``. Routes of the client
that Engram does not offer (profiles, webhooks, exports, summaries, projects, feedback) answer 501 with a
message. docs/mem0.md maps every route.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from engram import wiring
from engram.api.context import tenant_of
from engram.api.errors import responses
from engram.api.idempotency import idempotent
from engram.api.params import IdempotencyKey, MemoryId
from engram.errors import InvalidInput
from engram.logic import mem0
from engram.logic.memories import delete_memory, get_memory, list_revisions, purge
from engram.models.api import MAX_TOP_K, MAX_WAIT_SECONDS, Error, ErrorDetail, PurgeRequest
from engram.models.mem0 import (
    DEFAULT_PAGE_SIZE,
    ENTITY_KEYS,
    ENTITY_TYPE_PATTERN,
    ENTITY_TYPES,
    MAX_PAGE,
    Mem0AddEvent,
    Mem0AddRequest,
    Mem0AddResponse,
    Mem0BatchDeleteRequest,
    Mem0BatchUpdateRequest,
    Mem0DeleteOneResponse,
    Mem0DeleteResponse,
    Mem0Entities,
    Mem0Entity,
    Mem0EventData,
    Mem0History,
    Mem0HistoryEntry,
    Mem0ListRequest,
    Mem0Memory,
    Mem0Message,
    Mem0Page,
    Mem0Ping,
    Mem0ScoredMemory,
    Mem0SearchRequest,
    Mem0SearchResponse,
    Mem0UpdateRequest,
)
from engram.models.memory import Action, Memory, Revision
from engram.models.operation import Operation, OperationStatus
from engram.models.scope import MAX_SCOPE_VALUE_CHARS

router = APIGatewayRouter()

TAG = "mem0"
SECURITY: list[dict[str, list[str]]] = [{"mem0Token": []}, {"bearer": []}]
EVENTS = {Action.CREATED: "ADD", Action.UPDATED: "UPDATE", Action.DELETED: "DELETE", Action.ARCHIVED: "UPDATE"}
EntityValue = Annotated[str | None, Query(min_length=1, max_length=MAX_SCOPE_VALUE_CHARS)]


def _route(method: str, path: str, operation_id: str, summary: str, success: str) -> Callable[..., Any]:
    """The decorator of a mem0 route: its operationId, the ``mem0`` tag, mem0's Token scheme (or Bearer)."""
    return router.route(
        path,
        method,
        operation_id=operation_id,
        tags=[TAG],
        summary=summary,
        responses=responses({200: success}),
        security=SECURITY,
    )


def _only_query(*accepted: str) -> None:
    """Refuse (422) a query parameter the route does not read: it would otherwise be silently ignored."""
    unknown = sorted(set(router.current_event.query_string_parameters or {}) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) or "none"
        raise InvalidInput(f"query parameter {unknown[0]!r} is not supported here (accepted: {allowed})")


def as_mem0(memory: Memory) -> dict[str, Any]:
    """The fields of ``Mem0Memory`` for an Engram memory."""
    expires = memory.expire_time
    return {
        "id": memory.id,
        "memory": memory.fact,
        **{key: memory.scope.get(key) for key in ENTITY_KEYS},
        "metadata": memory.metadata,
        "categories": memory.topics,
        "created_at": memory.create_time,
        "updated_at": memory.update_time,
        # the day whose end it expires at (an expiry exactly at midnight belongs to the day before)
        "expiration_date": (expires - timedelta(seconds=1)).date() if expires else None,
    }


def _ttl(day: date | None) -> int | None:
    return None if day is None else mem0.ttl_until_end_of(day, wiring.dependencies().clock.now())


# --- the key check ----------------------------------------------------------------------------------


@_route("GET", "/mem0/v1/ping", "pingMem0", "mem0: check the API key", "The key's organisation and project")
def ping() -> Mem0Ping:
    """The key check ``MemoryClient`` makes when it is built: ``org_id`` and ``project_id`` are both the
    key's tenant (an Engram tenant is one organisation with one project); ``user_email`` is null."""
    _only_query()
    tenant_id = tenant_of(router)
    return Mem0Ping(org_id=tenant_id, project_id=tenant_id)


# --- add ------------------------------------------------------------------------------------------------


@_route("POST", "/mem0/v3/memories/add", "addMem0Memories", "mem0: add memories", "What was stored, or the event")
@idempotent(router, "mem0-add")
def add_memories(request: Annotated[Mem0AddRequest, Body()], idempotency_key: IdempotencyKey = None) -> Mem0AddResponse:
    """``infer`` false: each non-system message's text is stored as a memory (``POST /v1/memories/batch``;
    status SUCCEEDED with an ADD event each). ``infer`` true (default): a generation
    (``POST /v1/memories/generate``); ``event_id`` is its operation id, status PENDING while it runs
    (``async_mode`` false waits up to 25 s for it), then SUCCEEDED with its ADD/UPDATE/DELETE events."""
    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    entities = {key: getattr(request, key) for key in ENTITY_KEYS}
    scope = mem0.add_scope(entities, request.filters)
    metadata, ttl = request.metadata or {}, _ttl(request.expiration_date)
    if not request.infer:
        created = mem0.add_verbatim(
            deps.memories, deps.configs, deps.embedder, deps.clock, tenant_id, scope, request.messages, metadata, ttl
        )
        events = [_event("ADD", memory.id, memory.fact) for memory in created]
        return Mem0AddResponse(results=events, status="SUCCEEDED", message=f"memories stored: {len(events)}")
    wait = 0 if request.async_mode else MAX_WAIT_SECONDS
    operation = mem0.add_inferred(
        deps.operations,
        deps.workflow,
        deps.configs,
        deps.clock,
        tenant_id,
        scope,
        request.messages,
        metadata,
        ttl,
        wait,
    )
    return _added(operation)


def _event(event: str, memory_id: str, text: str) -> Mem0AddEvent:
    return Mem0AddEvent(id=memory_id, event=event, memory=text, data=Mem0EventData(memory=text))


def _added(operation: Operation) -> Mem0AddResponse:
    """An add's answer for its generation as it is now."""
    if operation.status is OperationStatus.RUNNING:
        message = f"queued: poll GET /v1/operations/{operation.id}, or list the memories"
        return Mem0AddResponse(status="PENDING", event_id=operation.id, message=message)
    if operation.status is OperationStatus.FAILED:
        reason = f"{operation.error.code}: {operation.error.message}" if operation.error else "unknown"
        return Mem0AddResponse(status="FAILED", event_id=operation.id, message=f"nothing was stored ({reason})")
    changes = operation.result.generated_memories if operation.result else []
    events = [_event(EVENTS[c.action], c.memory.id, c.memory.fact) for c in changes]
    return Mem0AddResponse(
        results=events, status="SUCCEEDED", event_id=operation.id, message=f"memories changed: {len(events)}"
    )


# --- list and search ------------------------------------------------------------------------------------


@_route("POST", "/mem0/v3/memories", "listMem0Memories", "mem0: list memories", "One page, newest first")
def list_memories(
    request: Annotated[Mem0ListRequest, Body()],
    page: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE, description="1-1,000,000 (default 1); wins over the body's.")
    ] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_TOP_K, description="1-100 (default 100).")] = None,
) -> Mem0Page:
    """A page of the memories of the scope ``filters`` names, newest first, and how many match (``count``).
    ``next`` / ``previous`` are query strings to send with the same body."""
    _only_query("page", "page_size")
    deps = wiring.dependencies()
    number = page or request.page or 1
    size = page_size or request.page_size or DEFAULT_PAGE_SIZE
    query = mem0.translate(
        request.filters, categories=request.categories, created=(request.start_date, request.end_date)
    )
    found, total = mem0.list_page(deps.memories, deps.clock, tenant_of(router), query, number, size)
    after = (number - 1) * size + len(found)
    return Mem0Page(
        count=total,
        next=f"?page={number + 1}&page_size={size}" if after < total else None,
        previous=f"?page={number - 1}&page_size={size}" if number > 1 else None,
        results=[Mem0Memory(**as_mem0(memory)) for memory in found],
    )


@_route("POST", "/mem0/v3/memories/search", "searchMem0Memories", "mem0: search memories", "The best memories first")
def search_memories(request: Annotated[Mem0SearchRequest, Body()]) -> Mem0SearchResponse:
    """The ``top_k`` memories of the scope ``filters`` names that best match ``query`` (Engram's hybrid mode,
    or lexical with ``keyword_search``), with Engram's ``score``; ``threshold`` drops lower scores."""
    _only_query()
    deps = wiring.dependencies()
    query = mem0.translate(request.filters, metadata=request.metadata, categories=request.categories)
    found = mem0.search(
        deps.memories,
        deps.index,
        deps.embedder,
        deps.clock,
        tenant_of(router),
        query,
        request.query,
        request.top_k,
        request.keyword_search,
    )
    threshold = request.threshold
    kept = [hit for hit in found if threshold is None or (hit.score is not None and hit.score >= threshold)]
    return Mem0SearchResponse(results=[Mem0ScoredMemory(**as_mem0(hit.memory), score=hit.score) for hit in kept])


# --- one memory -----------------------------------------------------------------------------------------


@_route("GET", "/mem0/v1/memories/<memory_id>", "getMem0Memory", "mem0: get a memory", "The memory")
def get_one(memory_id: MemoryId) -> Mem0Memory:
    """One memory by id (404 when absent, expired, or another tenant's)."""
    _only_query()
    deps = wiring.dependencies()
    return Mem0Memory(**as_mem0(get_memory(deps.memories, deps.clock, tenant_of(router), memory_id)))


@_route("PUT", "/mem0/v1/memories/<memory_id>", "updateMem0Memory", "mem0: update a memory", "The memory, updated")
@idempotent(router, "mem0-update:{memory_id}")
def update_one(
    memory_id: MemoryId, request: Annotated[Mem0UpdateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Mem0Memory:
    """Change a memory's text (re-embedded), metadata (replaced) and/or expiration_date (null: no expiry);
    writes a revision (``PATCH /v1/memories/{id}``)."""
    _only_query()
    deps = wiring.dependencies()
    changes: dict[str, Any] = {"text": request.text, "metadata": request.metadata}
    if "expiration_date" in request.model_fields_set:
        changes["ttl_seconds"] = _ttl(request.expiration_date)
    memory = mem0.update(deps.memories, deps.configs, deps.embedder, deps.clock, tenant_of(router), memory_id, changes)
    return Mem0Memory(**as_mem0(memory))


@_route("DELETE", "/mem0/v1/memories/<memory_id>", "deleteMem0Memory", "mem0: delete a memory", "Deleted")
@idempotent(router, "mem0-delete:{memory_id}")
def delete_one(
    memory_id: MemoryId,
    delete_linked: Annotated[
        bool, Query(description="Accepted; no Engram memory is linked (cascade_count 0).")
    ] = False,
    idempotency_key: IdempotencyKey = None,
) -> Mem0DeleteOneResponse:
    """Delete a memory; its revisions stay (with a DELETE one) for the revision TTL (``DELETE /v1/memories/{id}``)."""
    _only_query("delete_linked")
    deps = wiring.dependencies()
    delete_memory(deps.memories, deps.configs, deps.clock, tenant_of(router), memory_id)
    return Mem0DeleteOneResponse(message="Memory deleted successfully!", cascade_count=0 if delete_linked else None)


@_route(
    "GET", "/mem0/v1/memories/<memory_id>/history", "getMem0MemoryHistory", "mem0: a memory's history", "Oldest first"
)
def history(memory_id: MemoryId) -> Mem0History:
    """Every revision of a memory, oldest first, also after it was deleted (``GET /v1/memories/{id}/revisions``)."""
    _only_query()
    revisions = list_revisions(wiring.dependencies().memories, tenant_of(router), memory_id)
    return Mem0History([_history_entry(revision) for revision in reversed(revisions)])


def _history_entry(revision: Revision) -> Mem0HistoryEntry:
    deleted = revision.action is Action.DELETED
    scope = revision.scope or {}
    return Mem0HistoryEntry(
        id=revision.id,
        memory_id=revision.memory_id,
        event=EVENTS[revision.action],
        old_memory=revision.fact if deleted else revision.previous_fact,
        new_memory=None if deleted else revision.fact,
        **{key: scope.get(key) for key in ENTITY_KEYS},
        categories=revision.topics,
        metadata=revision.metadata,
        is_deleted=deleted,
        created_at=revision.create_time,
        updated_at=revision.create_time,
    )


# --- many memories ----------------------------------------------------------------------------------


@_route("DELETE", "/mem0/v1/memories", "deleteMem0Memories", "mem0: delete a scope's memories", "Deleted")
@idempotent(router, "mem0-delete-all:{user_id}:{agent_id}:{app_id}:{run_id}")
def delete_scope(
    user_id: EntityValue = None,
    agent_id: EntityValue = None,
    app_id: EntityValue = None,
    run_id: EntityValue = None,
    idempotency_key: IdempotencyKey = None,
) -> Mem0DeleteResponse:
    """Delete every memory of the scope the entities given form, matched exactly (``POST /v1/memories/purge``
    with ``force``); at least one entity. To delete an entity in every scope: the entity route."""
    _only_query(*ENTITY_KEYS)
    deps = wiring.dependencies()
    entities = {"user_id": user_id, "agent_id": agent_id, "app_id": app_id, "run_id": run_id}
    request = PurgeRequest(scope=mem0.add_scope(entities, None), force=True)
    count = purge(deps.memories, deps.configs, deps.clock, tenant_of(router), request)
    return Mem0DeleteResponse(message="Memories deleted successfully!", deleted_count=count)


@_route("PUT", "/mem0/v1/batch", "batchUpdateMem0Memories", "mem0: update memories", "Updated")
@idempotent(router, "mem0-batch-update")
def batch_update(
    request: Annotated[Mem0BatchUpdateRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Mem0Message:
    """Update 1-100 memories (text and/or metadata, replaced), one revision each. All must exist (else 404
    and nothing changes); each is its own write, so a concurrent change may stop it part way (409)."""
    _only_query()
    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    mem0.live_or_404(deps.memories, deps.clock, tenant_id, [item.memory_id for item in request.memories])
    for item in request.memories:
        changes = {"text": item.text, "metadata": item.metadata}
        mem0.update(deps.memories, deps.configs, deps.embedder, deps.clock, tenant_id, item.memory_id, changes)
    return Mem0Message(message=f"Successfully updated {len(request.memories)} memories")


@_route("DELETE", "/mem0/v1/batch", "batchDeleteMem0Memories", "mem0: delete memories", "Deleted")
@idempotent(router, "mem0-batch-delete")
def batch_delete(
    request: Annotated[Mem0BatchDeleteRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Mem0Message:
    """Delete 1-100 memories, written like a purge (atomic blocks). All must exist (else 404, nothing deleted)."""
    _only_query()
    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    doomed = mem0.live_or_404(deps.memories, deps.clock, tenant_id, [item.memory_id for item in request.memories])
    count = mem0.delete_all_of(deps.memories, deps.configs, deps.clock, tenant_id, doomed, "batch_delete")
    return Mem0Message(message=f"Successfully deleted {count} memories")


# --- entities -------------------------------------------------------------------------------------------


@_route("GET", "/mem0/v1/entities", "listMem0Entities", "mem0: list entities", "Every entity")
def list_entities() -> Mem0Entities:
    """Every user, agent, app and run with live memories (a value of that scope key on any of them), with
    how many; reads every memory of the tenant."""
    _only_query()
    tenant_id = tenant_of(router)
    deps = wiring.dependencies()
    found = mem0.entities(deps.memories, deps.clock, tenant_id)
    types = {key: name for name, key in ENTITY_TYPES.items()}
    results = [
        Mem0Entity(
            id=f"{types[e.key]}:{e.name}",
            name=e.name,
            type=types[e.key],
            total_memories=e.total,
            created_at=e.created,
            updated_at=e.updated,
            owner=tenant_id,
        )
        for e in found
    ]
    totals = {f"total_{name}s": sum(1 for e in found if e.key == key) for name, key in ENTITY_TYPES.items()}
    return Mem0Entities(count=len(results), results=results, **totals)


@_route(
    "DELETE", "/mem0/v2/entities/<entity_type>/<entity_id>", "deleteMem0Entity", "mem0: delete an entity", "Deleted"
)
@idempotent(router, "mem0-delete-entity:{entity_type}:{entity_id}")
def delete_entity(
    entity_type: Annotated[str, Path(pattern=ENTITY_TYPE_PATTERN, description="user, agent, app or run.")],
    entity_id: Annotated[str, Path(min_length=1, max_length=3 * MAX_SCOPE_VALUE_CHARS)],
    idempotency_key: IdempotencyKey = None,
) -> Mem0DeleteResponse:
    """Delete every memory whose scope has this entity (``user`` → ``user_id``), in every scope: reads every
    memory of the tenant. 404 when none has it."""
    _only_query()
    deps, tenant_id = wiring.dependencies(), tenant_of(router)
    doomed = mem0.of_entity(deps.memories, deps.clock, tenant_id, ENTITY_TYPES[entity_type], unquote(entity_id))
    count = mem0.delete_all_of(deps.memories, deps.configs, deps.clock, tenant_id, doomed, "delete_entity")
    return Mem0DeleteResponse(message="Entity deleted successfully.", deleted_count=count)


# --- what Engram does not offer: 501 ------------------------------------------------------------------

#: ``(path, name, what)`` of every resource of ``MemoryClient`` 2.2.1 that Engram does not offer. Each is one
#: ``ANY`` event in template.yaml (the API function's resource policy has a statement per event, and Lambda
#: caps it at 20 KB); every method of it answers 501.
NOT_OFFERED = [
    ("/mem0/v1/exports", "Exports", "memory exports"),
    ("/mem0/v1/exports/get", "ExportsGet", "memory exports"),
    ("/mem0/v1/summary", "Summary", "memory summaries"),
    ("/mem0/v1/feedback", "Feedback", "memory feedback"),
    ("/mem0/v2/entities/<entity_type>/<entity_id>/profile", "Profile", "profiles"),
    ("/mem0/v2/profiles/jobs", "ProfileJobs", "profiles"),
    ("/mem0/v2/profiles/jobs/<job_id>", "ProfileJob", "profiles"),
    ("/mem0/v2/profiles/settings", "ProfileSettings", "profile settings"),
    ("/mem0/api/v1/orgs/organizations/<org_id>/projects", "Projects", "projects"),
    ("/mem0/api/v1/orgs/organizations/<org_id>/projects/<project_id>", "Project", "project settings"),
    ("/mem0/api/v1/orgs/organizations/<org_id>/projects/<project_id>/members", "ProjectMembers", "project members"),
    ("/mem0/api/v1/webhooks/projects/<project_id>", "Webhooks", "webhooks"),
    ("/mem0/api/v1/webhooks/<webhook_id>", "Webhook", "webhooks"),
]
NOT_OFFERED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _not_offered(what: str, path: str) -> Callable[..., Response[Error]]:
    """A handler answering 501 ``NOT_IMPLEMENTED`` for ``what``, declaring the path's parameters (Powertools
    validates and passes them)."""

    def handler(**_: str) -> Response[Error]:
        message = f"Engram does not offer {what} (docs/mem0.md lists what it does)"
        error = Error(error=ErrorDetail(code="NOT_IMPLEMENTED", message=message))
        return Response(status_code=501, content_type=content_types.APPLICATION_JSON, body=error)

    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for name in re.findall(r"<(\w+)>", path)
    ]
    handler.__dict__["__signature__"] = inspect.Signature(parameters, return_annotation=Response[Error])
    handler.__doc__ = f"Not offered by Engram ({what}): 501."
    return handler


for _path, _name, _what in NOT_OFFERED:
    for _method in NOT_OFFERED_METHODS:
        router.route(
            _path,
            _method,
            operation_id=f"{_method.lower()}Mem0{_name}",
            tags=[TAG],
            summary=f"mem0: {_what} (not offered: 501)",
            include_in_schema=False,  # a route that only answers 501 has no success to document
            security=SECURITY,
        )(_not_offered(_what, _path))
