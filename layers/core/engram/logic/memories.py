"""Direct memory use cases: create (one or a batch, no LLM), get, retrieve (similarity or list)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from engram.clock import new_id
from engram.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, StoreConflict, TooLargeToStore
from engram.logic.config import expire_at, get_config
from engram.models.api import (
    MAX_BATCH,
    MAX_REVISIONS_PAGE,
    CountRequest,
    MetadataUpdateStrategy,
    PurgeRequest,
    RetrieveRequest,
    RetrieveResponse,
    RollbackRequest,
    UpdateMemoryRequest,
)
from engram.models.filters import Node, matches
from engram.models.filters import parse as parse_filter
from engram.models.index import IndexQuery
from engram.models.limits import MAX_RESPONSE_BYTES, check_metadata, fitting
from engram.models.memory import Action, Memory, NewMemory, Revision, ScoredMemory, Source, StoredMemory
from engram.models.scope import scope_hash
from engram.ports import Change, Clock, ConfigRepository, Embedder, MemoryRepository, VectorIndex


def is_live(memory: StoredMemory, clock: Clock) -> bool:
    """False once ``expire_time`` has passed: an expired memory is never returned, even before the
    retention job or DynamoDB TTL deletes it."""
    return memory.expire_time is None or memory.expire_time > clock.now()


def _revision_expiry(configs: ConfigRepository, tenant_id: str, now: datetime) -> datetime | None:
    return expire_at(now, get_config(configs, tenant_id).ttl.revision_ttl_seconds)


def create_memories(
    memories: MemoryRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    new: Sequence[NewMemory],
    request_key: str | None = None,
    field: str | None = None,
) -> list[Memory]:
    """Create memories directly (no LLM), embedding all facts in one call: all of them or none
    (``MemoryRepository.create_all``: one transaction for the memories, their revisions after it).

    A memory expires after its ``ttl_seconds``, else the tenant's ``create_ttl_seconds`` (if any).

    ``request_key`` identifies the request (its route and ``Idempotency-Key``, e.g. ``"batch:k-1"``): the
    memory ids are then derived from it, the tenant and the body (``request_ids``), so a retry of a request
    that failed after storing its memories returns those (completing their revisions) and stores nothing
    twice. Without it the ids are new. ``field`` names the list in errors (``"memories"`` →
    ``memories[59]``). More than ``MAX_BATCH`` memories (only internal callers: the API takes at most
    that many) are created in consecutive all-or-nothing groups of ``MAX_BATCH``.

    Raises, before anything is written, ``PayloadTooLarge`` (413) naming the memory too large to store
    (400 KB as stored) or the batch, when too large for one transaction (4 MB); ``Conflict`` if a memory
    id is taken; ``RetryableError`` (503) when the store failed midway (nothing is kept; retry).
    """
    ids = request_ids(tenant_id, request_key, new) if request_key is not None else [new_id() for _ in new]
    if request_key is not None and (earlier := memories.get_many(tenant_id, ids)):
        return _replayed(memories, configs, tenant_id, new, ids, earlier)
    changes = _creations(configs, embedder, clock, tenant_id, new, ids)
    start = 0
    try:
        for start in range(0, len(changes), MAX_BATCH):  # one group: the API takes at most MAX_BATCH
            memories.create_all(tenant_id, changes[start : start + MAX_BATCH])
    except TooLargeToStore as error:
        where = f"{field}[{start + error.position}]: " if field and error.position is not None else ""
        raise PayloadTooLarge(f"{where}{error.message}") from error
    except StoreConflict as error:
        if request_key is not None and (earlier := memories.get_many(tenant_id, ids)):
            return _replayed(memories, configs, tenant_id, new, ids, earlier)  # a concurrent attempt won
        raise Conflict("a memory of this request already exists; retry") from error
    return [c.after.public() for c in changes if c.after is not None]


def request_ids(tenant_id: str, request_key: str, new: Sequence[NewMemory]) -> list[str]:
    """The ids of the memories a request creates, derived from the tenant, ``request_key`` and the body:
    28 hex digits each (the shape of ``new_id``), the same for every retry of the request, different for
    another body, key, route or tenant."""
    body = [item.model_dump(mode="json") for item in new]
    seed = hashlib.sha256(json.dumps([tenant_id, request_key, body], sort_keys=True).encode()).hexdigest()
    return [hashlib.sha256(f"{seed}:{position}".encode()).hexdigest()[:28] for position in range(len(new))]


def _creations(
    configs: ConfigRepository,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    new: Sequence[NewMemory],
    ids: Sequence[str],
) -> list[Change]:
    """The CREATED changes of ``new`` with ``ids``: one embedding call for every fact."""
    vectors = embedder.embed([m.fact for m in new])
    now = clock.now()
    config = get_config(configs, tenant_id)
    revision_expire = expire_at(now, config.ttl.revision_ttl_seconds)
    changes = []
    for item, memory_id, vector in zip(new, ids, vectors, strict=True):
        memory = StoredMemory(
            id=memory_id,
            tenant_id=tenant_id,
            scope=item.scope,
            fact=item.fact,
            topics=item.topics,
            metadata=item.metadata,
            create_time=now,
            update_time=now,
            expire_time=expire_at(now, item.ttl_seconds or config.ttl.create_ttl_seconds),
            revision_id=new_id(),
            source=Source(event_ids=item.source.event_ids),
            embedding=vector,
            embedding_model=embedder.model_id,
        )
        revision = revision_for(memory, Action.CREATED, now, None, item.revision_labels, revision_expire)
        changes.append(Change(Action.CREATED, memory, None, revision))
    return changes


def _replayed(
    memories: MemoryRepository,
    configs: ConfigRepository,
    tenant_id: str,
    new: Sequence[NewMemory],
    ids: Sequence[str],
    earlier: dict[str, StoredMemory],
) -> list[Memory]:
    """The memories an earlier attempt of the request stored (those still there), after writing the
    CREATED revision of each one not changed since, should that attempt have failed before writing it."""
    ttl = get_config(configs, tenant_id).ttl.revision_ttl_seconds
    revisions = [
        revision_for(
            stored, Action.CREATED, stored.create_time, None, item.revision_labels, expire_at(stored.create_time, ttl)
        )
        for memory_id, item in zip(ids, new, strict=True)
        if (stored := earlier.get(memory_id)) is not None and stored.version == 1
    ]
    memories.put_revisions(tenant_id, revisions)
    return [earlier[memory_id].public() for memory_id in ids if memory_id in earlier]


def revision_for(
    memory: StoredMemory,
    action: Action,
    now: datetime,
    previous_fact: str | None,
    labels: dict[str, str],
    expire_time: datetime | None,
    operation_id: str | None = None,
    candidate_facts: list[str] | None = None,
    deleted_revision_id: str | None = None,
) -> Revision:
    """The revision recording ``action`` on ``memory`` (its state after the change; for DELETED, before).

    Its id is ``memory.revision_id``, except for DELETED: ``deleted_revision_id``, or a new id.
    """
    revision_id = (deleted_revision_id or new_id()) if action is Action.DELETED else memory.revision_id
    return Revision(
        id=revision_id,
        memory_id=memory.id,
        action=action,
        fact=memory.fact,
        previous_fact=previous_fact,
        operation_id=operation_id,
        labels=labels,
        candidate_facts=candidate_facts or [],
        scope=memory.scope,
        topics=memory.topics,
        metadata=memory.metadata,
        create_time=now,
        expire_time=expire_time,
    )


def _live_or_404(memories: MemoryRepository, clock: Clock, tenant_id: str, memory_id: str) -> StoredMemory:
    memory = memories.get(tenant_id, memory_id)
    if memory is None or not is_live(memory, clock):
        raise NotFound(f"memory {memory_id} not found")
    return memory


def update_memory(
    memories: MemoryRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    memory_id: str,
    request: UpdateMemoryRequest,
) -> Memory:
    """Change the given fields; a new fact is re-embedded (one call). Writes an UPDATED revision.

    ``metadata`` is merged into the stored map (the keys given win; ``null`` is stored as a value), or
    replaces it with ``metadata_merge_strategy`` ``OVERWRITE``; the merge reads and writes the memory
    under its version, so a concurrent change is never lost (it makes this call a ``Conflict``).

    Raises ``NotFound`` (absent, expired or another tenant's), ``InvalidInput`` when the merged metadata
    breaks a metadata limit (e.g. more than 20 keys), and ``Conflict`` when a concurrent change won
    (retry with fresh state).
    """
    before = _live_or_404(memories, clock, tenant_id, memory_id)
    now = clock.now()
    changes: dict[str, Any] = {"update_time": now, "revision_id": new_id()}
    fields = request.model_fields_set
    if request.fact is not None and request.fact.strip() != before.fact:
        changes["fact"] = request.fact.strip()
        [changes["embedding"]] = embedder.embed([changes["fact"]])
        changes["embedding_model"] = embedder.model_id
    if request.topics is not None:
        changes["topics"] = request.topics
    if request.metadata is not None:
        changes["metadata"] = _updated_metadata(before.metadata, request)
    if "ttl_seconds" in fields:
        changes["expire_time"] = expire_at(now, request.ttl_seconds)
    after = before.model_copy(update=changes)
    revision = revision_for(
        after, Action.UPDATED, now, before.fact, request.revision_labels, _revision_expiry(configs, tenant_id, now)
    )
    _apply_one(memories, tenant_id, Change(Action.UPDATED, after, before, revision))
    return after.public()


def _updated_metadata(stored: dict[str, Any], request: UpdateMemoryRequest) -> dict[str, Any]:
    """The metadata after ``request`` (which gives ``metadata``): merged or overwritten, then checked
    against the metadata limits (``InvalidInput`` naming the broken one)."""
    given = dict(request.metadata or {})
    if request.metadata_merge_strategy is MetadataUpdateStrategy.OVERWRITE:
        return given
    try:
        return check_metadata({**stored, **given})
    except ValueError as error:
        raise InvalidInput(f"merged with the stored metadata: {error}") from error


def delete_memory(
    memories: MemoryRepository, configs: ConfigRepository, clock: Clock, tenant_id: str, memory_id: str
) -> None:
    """Delete a memory, keeping its revisions (with a DELETED one) for the revision TTL.

    Raises ``NotFound`` (absent, expired or another tenant's) and ``Conflict`` on a concurrent change.
    """
    before = _live_or_404(memories, clock, tenant_id, memory_id)
    now = clock.now()
    revision = revision_for(before, Action.DELETED, now, before.fact, {}, _revision_expiry(configs, tenant_id, now))
    _apply_one(memories, tenant_id, Change(Action.DELETED, None, before, revision))


def _apply_one(memories: MemoryRepository, tenant_id: str, change: Change) -> None:
    try:
        memories.apply_changes(tenant_id, [change])
    except StoreConflict as error:
        raise Conflict("the memory changed concurrently; read it again and retry") from error


def list_revisions(memories: MemoryRepository, tenant_id: str, memory_id: str) -> list[Revision]:
    """Newest first; also for a deleted memory. Raises ``NotFound`` when it never existed for this tenant."""
    revisions = memories.revisions(tenant_id, memory_id)
    if not revisions:
        raise NotFound(f"memory {memory_id} not found")
    return revisions


def list_revisions_page(
    memories: MemoryRepository,
    tenant_id: str,
    memory_id: str,
    page_size: int = MAX_REVISIONS_PAGE,
    page_token: str | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> tuple[list[Revision], str | None]:
    """One page of a memory's revisions, newest first (also after it was deleted): at most ``page_size``
    (default ``MAX_REVISIONS_PAGE``) and stopping before ``max_bytes`` of response (at least one), with
    the token of the next page (None at the end). Raises ``NotFound`` when the memory never existed for
    this tenant and ``InvalidPageToken`` for a token of another memory or listing."""
    revisions, token = memories.revision_page(tenant_id, memory_id, page_size, page_token, max_bytes)
    if not revisions and not page_token:
        raise NotFound(f"memory {memory_id} not found")
    return revisions, token


def rollback(
    memories: MemoryRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    memory_id: str,
    request: RollbackRequest,
) -> Memory | None:
    """Restore the memory to its state after revision ``revision_id`` (re-creating it if it was deleted).

    Rolling back to a DELETED revision deletes the memory (returns None). The rollback is itself a
    new revision labelled ``rollback_to=<revision_id>``. Raises ``NotFound`` for an unknown memory or
    revision, ``Conflict`` on a concurrent change.
    """
    revisions = list_revisions(memories, tenant_id, memory_id)
    target = next((r for r in revisions if r.id == request.revision_id), None)
    if target is None:
        raise NotFound(f"revision {request.revision_id} of memory {memory_id} not found")
    now = clock.now()
    labels = {**request.revision_labels, "rollback_to": target.id}
    revision_expire = _revision_expiry(configs, tenant_id, now)
    current = memories.get(tenant_id, memory_id)
    if target.action is Action.DELETED:
        if current is None:
            return None
        revision = revision_for(current, Action.DELETED, now, current.fact, labels, revision_expire)
        _apply_one(memories, tenant_id, Change(Action.DELETED, None, current, revision))
        return None
    if target.scope is None:
        raise InvalidInput(f"revision {target.id} predates rollback support")
    [vector] = embedder.embed([target.fact])
    restored = {
        "fact": target.fact,
        "topics": target.topics,
        "metadata": target.metadata,
        "update_time": now,
        "revision_id": new_id(),
        "embedding": vector,
        "embedding_model": embedder.model_id,
    }
    if current is not None:
        after = current.model_copy(update=restored)
        action = Action.UPDATED
    else:
        after = StoredMemory(
            id=memory_id, tenant_id=tenant_id, scope=target.scope, create_time=now, source=Source(), **restored
        )
        action = Action.CREATED
    revision = revision_for(after, action, now, current.fact if current else None, labels, revision_expire)
    _apply_one(memories, tenant_id, Change(action, after, current, revision))
    return after.public()


def purge(
    memories: MemoryRepository, configs: ConfigRepository, clock: Clock, tenant_id: str, request: PurgeRequest
) -> int:
    """Delete (``force``) or count (dry run: live memories only) the memories of ``scope`` (or the tenant)
    matching ``filter``.

    Each deleted memory gets a DELETED revision labelled ``purge=true``; the index follows through the
    stream. Deletions are written in atomic blocks (``MemoryRepository.apply_in_blocks``). Returns the count.
    """
    node = parse_filter(request.filter)
    matching = list(memories.matching(tenant_id, request.scope, node))
    if not request.force:  # what a read would show: expired memories are already invisible
        return sum(1 for memory in matching if is_live(memory, clock))
    now = clock.now()
    revision_expire = _revision_expiry(configs, tenant_id, now)
    changes = [
        Change(
            Action.DELETED, None, m, revision_for(m, Action.DELETED, now, m.fact, {"purge": "true"}, revision_expire)
        )
        for m in matching
    ]
    memories.apply_in_blocks(tenant_id, changes)
    return len(changes)


def count_memories(memories: MemoryRepository, clock: Clock, tenant_id: str, request: CountRequest) -> int:
    """How many memories of ``request.scope`` match ``request.filter`` and have not expired (one store
    query, page after page, returning no memory). Raises ``InvalidInput`` for a bad filter."""
    return memories.count(tenant_id, request.scope, parse_filter(request.filter), clock.now())


def get_memory(memories: MemoryRepository, clock: Clock, tenant_id: str, memory_id: str) -> Memory:
    """Raises ``NotFound`` when the memory does not exist for this tenant or has expired."""
    memory = memories.get(tenant_id, memory_id)
    if memory is None or not is_live(memory, clock):
        raise NotFound(f"memory {memory_id} not found")
    return memory.public()


#: Hits one similarity search asks the index for at most: ``k`` starts at ``top_k`` and doubles while the
#: store's copies of some hits no longer match the request, for at most ``MAX_SEARCH_ROUNDS`` index queries.
MAX_FETCH = 400
MAX_SEARCH_ROUNDS = 3


def retrieve(
    memories: MemoryRepository,
    index: VectorIndex,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    request: RetrieveRequest,
) -> RetrieveResponse:
    """Search by ``request.mode`` (hybrid, dense or lexical: one embedding call, none for lexical, one
    index query, one batched read) or, without a query, a newest-first page of the scope's memories.

    Every memory returned satisfies the request as of the copy returned: the index only ranks, what is
    returned is read from the store (a consistent read for a search) and checked there against the
    request's scope, ``filter``, ``topics`` and expiry, so a memory deleted or changed after indexing
    (e.g. its metadata no longer matching the filter) is never served. When that check drops hits, the
    index is asked again for more (``k`` doubled, at most ``MAX_SEARCH_ROUNDS`` queries and ``MAX_FETCH``
    hits), so ``top_k`` still fills when enough memories match. A list page may hold fewer than
    ``page_size`` memories; follow ``next_page_token``. A response stays under ``MAX_RESPONSE_BYTES``
    (about 5 MB): a list page then holds fewer memories (the token continues after them), a search the
    best ones that fit.
    """
    node = parse_filter(request.filter)
    wanted = set(request.topics or [])
    if request.query is None:
        page, token = memories.page(tenant_id, request.scope, request.page_size, request.page_token, node)
        listed = [ScoredMemory(memory=m.public()) for m in page if _satisfies(m, request, wanted, node, clock)]
        fit = fitting([m.model_dump(mode="json") for m in listed], MAX_RESPONSE_BYTES)
        if fit < len(listed):  # too large for one response: read fewer, so the token resumes after them
            page, token = memories.page(tenant_id, request.scope, fit, request.page_token, node)
            listed = [ScoredMemory(memory=m.public()) for m in page if _satisfies(m, request, wanted, node, clock)]
        return RetrieveResponse(memories=listed, next_page_token=token)

    # A lexical search needs no embedding (and so no embedding call); the model still filters.
    [vector] = embedder.embed([request.query]) if request.mode != "lexical" else [[]]
    query = IndexQuery(
        tenant_id=tenant_id,
        scope_hash=scope_hash(request.scope),
        vector=vector,
        embedding_model=embedder.model_id,
        k=request.top_k,
        topics=request.topics,
        text=request.query,
        mode=request.mode,
        filter=node,
    )
    return RetrieveResponse(memories=_search(memories, index, clock, query, request, node))


def _search(
    memories: MemoryRepository,
    index: VectorIndex,
    clock: Clock,
    query: IndexQuery,
    request: RetrieveRequest,
    node: Node | None,
) -> list[ScoredMemory]:
    """The ``request.top_k`` best hits of ``query`` whose store copy satisfies the request, asking the index
    for more while the check drops hits (see ``retrieve``); each memory is read from the store once."""
    wanted = set(request.topics or [])
    stored: dict[str, StoredMemory] = {}
    read: set[str] = set()
    results: list[ScoredMemory] = []
    for _ in range(MAX_SEARCH_ROUNDS):
        hits = index.search(query)
        unread = [hit.memory_id for hit in hits if hit.memory_id not in read]
        stored.update(memories.get_many(query.tenant_id, unread))
        read.update(unread)
        results = [
            ScoredMemory(memory=memory.public(), score=round(hit.score, 6))
            for hit in hits
            if (memory := stored.get(hit.memory_id)) is not None and _satisfies(memory, request, wanted, node, clock)
        ]
        if len(results) >= request.top_k or len(hits) < query.k or query.k >= MAX_FETCH:
            break
        query = replace(query, k=min(MAX_FETCH, 2 * query.k))
    results = results[: request.top_k]
    return results[: fitting([r.model_dump(mode="json") for r in results], MAX_RESPONSE_BYTES)]  # best first


def _satisfies(
    memory: StoredMemory, request: RetrieveRequest, topics: set[str], node: Node | None, clock: Clock
) -> bool:
    """Whether the store's copy ``memory`` may answer ``request``: of its scope, live, with one of ``topics``
    (when given) and matching the filter ``node``."""
    return (
        memory.scope == request.scope
        and is_live(memory, clock)
        and (not topics or not topics.isdisjoint(memory.topics))
        and matches(node, memory.metadata, memory.create_time, memory.update_time)
    )
