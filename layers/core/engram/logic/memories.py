"""Direct memory use cases: create (one or a batch, no LLM), get, retrieve (similarity or list)."""

from __future__ import annotations

from collections.abc import Sequence

from engram.clock import new_id
from engram.errors import NotFound
from engram.models.api import RetrieveRequest, RetrieveResponse
from engram.models.memory import Action, Memory, NewMemory, Revision, ScoredMemory, Source, StoredMemory
from engram.models.scope import scope_hash
from engram.ports import Change, Clock, Embedder, IndexQuery, MemoryStore, VectorIndex

TRANSACTION_CHANGES = 49


def is_live(memory: StoredMemory, clock: Clock) -> bool:
    """False once ``expire_time`` has passed: an expired memory is never returned, even before the
    retention job or DynamoDB TTL deletes it."""
    return memory.expire_time is None or memory.expire_time > clock.now()


def create_memories(
    store: MemoryStore, embedder: Embedder, clock: Clock, tenant_id: str, new: Sequence[NewMemory]
) -> list[Memory]:
    """Create memories directly (no LLM), embedding all facts in one call.

    Each block of 49 memories is written atomically with its revisions.
    """
    vectors = embedder.embed([m.fact for m in new])
    now = clock.now()
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
            revision_id=revision_id,
            source=Source(event_ids=item.source.event_ids),
            embedding=vector,
            embedding_model=embedder.model_id,
        )
        revision = Revision(id=revision_id, memory_id=memory_id, action=Action.CREATED, fact=item.fact, create_time=now)
        changes.append(Change(action=Action.CREATED, after=memory, before=None, revision=revision))
    for start in range(0, len(changes), TRANSACTION_CHANGES):
        store.apply_changes(tenant_id, changes[start : start + TRANSACTION_CHANGES])
    return [c.after.public() for c in changes if c.after is not None]


def get_memory(store: MemoryStore, clock: Clock, tenant_id: str, memory_id: str) -> Memory:
    """Raises ``NotFound`` when the memory does not exist for this tenant or has expired."""
    memory = store.get_memory(tenant_id, memory_id)
    if memory is None or not is_live(memory, clock):
        raise NotFound(f"memory {memory_id} not found")
    return memory.public()


def retrieve(
    store: MemoryStore,
    index: VectorIndex,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    request: RetrieveRequest,
) -> RetrieveResponse:
    """Similarity search (one embedding call, one index query, one batched read) or, without a query,
    a newest-first page of the scope's memories.

    The index only ranks: what is returned is read from the store, so a memory deleted or changed
    after indexing is never served stale.
    """
    if request.query is None:
        memories, token = store.list_memories(tenant_id, request.scope, request.page_size, request.page_token)
        wanted = set(request.topics or [])
        live = [
            ScoredMemory(memory=m.public())
            for m in memories
            if is_live(m, clock) and (not wanted or wanted.intersection(m.topics))
        ]
        return RetrieveResponse(memories=live, next_page_token=token)

    [vector] = embedder.embed([request.query])
    hits = index.search(
        IndexQuery(
            tenant_id=tenant_id,
            scope_hash=scope_hash(request.scope),
            vector=vector,
            embedding_model=embedder.model_id,
            k=request.top_k,
            topics=request.topics,
        )
    )
    stored = store.get_memories(tenant_id, [hit.memory_id for hit in hits])
    results = []
    for hit in hits:
        memory = stored.get(hit.memory_id)
        if memory is None or not is_live(memory, clock) or memory.scope != request.scope:
            continue
        results.append(ScoredMemory(memory=memory.public(), score=round(hit.score, 6)))
    return RetrieveResponse(memories=results)
