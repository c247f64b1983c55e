"""Direct memory use cases: create (one or a batch, no LLM), get, retrieve (similarity or list)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engram.clock import new_id
from engram.errors import Conflict, InvalidInput, NotFound, StoreConflict
from engram.logic.config import expire_at, get_config
from engram.models.api import (
    PurgeRequest,
    RetrieveRequest,
    RetrieveResponse,
    RollbackRequest,
    UpdateMemoryRequest,
)
from engram.models.filters import parse as parse_filter
from engram.models.index import IndexQuery
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
) -> list[Memory]:
    """Create memories directly (no LLM), embedding all facts in one call.

    A memory expires after its ``ttl_seconds``, else the tenant's ``create_ttl_seconds`` (if any).
    Memories are written with their revisions in atomic blocks (``MemoryRepository.apply_in_blocks``).
    """
    vectors = embedder.embed([m.fact for m in new])
    now = clock.now()
    config = get_config(configs, tenant_id)
    revision_expire = expire_at(now, config.ttl.revision_ttl_seconds)
    changes = []
    for item, vector in zip(new, vectors, strict=True):
        memory_id = new_id()
        revision_id = new_id()
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
            revision_id=revision_id,
            source=Source(event_ids=item.source.event_ids),
            embedding=vector,
            embedding_model=embedder.model_id,
        )
        changes.append(
            Change(
                Action.CREATED,
                memory,
                None,
                revision_for(memory, Action.CREATED, now, None, item.revision_labels, revision_expire),
            )
        )
    memories.apply_in_blocks(tenant_id, changes)
    return [c.after.public() for c in changes if c.after is not None]


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

    Raises ``NotFound`` (absent, expired or another tenant's) and ``Conflict`` when a concurrent
    change won (retry with fresh state).
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
        changes["metadata"] = request.metadata
    if "ttl_seconds" in fields:
        changes["expire_time"] = expire_at(now, request.ttl_seconds)
    after = before.model_copy(update=changes)
    revision = revision_for(
        after, Action.UPDATED, now, before.fact, request.revision_labels, _revision_expiry(configs, tenant_id, now)
    )
    _apply_one(memories, tenant_id, Change(Action.UPDATED, after, before, revision))
    return after.public()


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
    """Delete (``force``) or count (dry run) the memories of ``scope`` (or the tenant) matching ``filter``.

    Each deleted memory gets a DELETED revision labelled ``purge=true``; the index follows through the
    stream. Deletions are written in atomic blocks (``MemoryRepository.apply_in_blocks``). Returns the count.
    """
    node = parse_filter(request.filter)
    matching = list(memories.matching(tenant_id, request.scope, node))
    if not request.force:
        return len(matching)
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


def get_memory(memories: MemoryRepository, clock: Clock, tenant_id: str, memory_id: str) -> Memory:
    """Raises ``NotFound`` when the memory does not exist for this tenant or has expired."""
    memory = memories.get(tenant_id, memory_id)
    if memory is None or not is_live(memory, clock):
        raise NotFound(f"memory {memory_id} not found")
    return memory.public()


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

    The index only ranks: what is returned is read from the store, so a memory deleted or changed
    after indexing is never served stale.
    """
    node = parse_filter(request.filter)
    if request.query is None:
        page, token = memories.page(tenant_id, request.scope, request.page_size, request.page_token, node)
        wanted = set(request.topics or [])
        live = [
            ScoredMemory(memory=m.public())
            for m in page
            if is_live(m, clock) and (not wanted or wanted.intersection(m.topics))
        ]
        return RetrieveResponse(memories=live, next_page_token=token)

    # A lexical search needs no embedding (and so no embedding call); the model still filters.
    [vector] = embedder.embed([request.query]) if request.mode != "lexical" else [[]]
    hits = index.search(
        IndexQuery(
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
    )
    stored = memories.get_many(tenant_id, [hit.memory_id for hit in hits])
    results = []
    for hit in hits:
        memory = stored.get(hit.memory_id)
        if memory is None or not is_live(memory, clock) or memory.scope != request.scope:
            continue
        results.append(ScoredMemory(memory=memory.public(), score=round(hit.score, 6)))
    return RetrieveResponse(memories=results)
