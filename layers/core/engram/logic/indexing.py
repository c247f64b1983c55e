"""Keeping the derived index in sync with the store: every memory write reaches the index through the
DynamoDB stream, whoever made it (API, workflow, TTL, retention, purge)."""

from __future__ import annotations

from engram.models.index import IndexDocument
from engram.models.memory import StoredMemory
from engram.models.scope import scope_hash
from engram.ports import VectorIndex


def to_document(memory: StoredMemory) -> IndexDocument:
    return IndexDocument(
        tenant_id=memory.tenant_id,
        memory_id=memory.id,
        scope_hash=scope_hash(memory.scope),
        fact=memory.fact,
        topics=list(memory.topics),
        embedding=list(memory.embedding),
        embedding_model=memory.embedding_model,
        revision_id=memory.revision_id,
        update_time=memory.update_time,
        expire_time=memory.expire_time,
        metadata=dict(memory.metadata),
        create_time=memory.create_time,
    )


def apply_stream_change(index: VectorIndex, new: StoredMemory | None, old: StoredMemory | None) -> str:
    """Upsert the new image or delete the old one. Returns what was done: ``upsert``, ``delete`` or ``skip``.

    A memory without an embedding is not indexable and is skipped (it stays listable in the store).
    """
    if new is not None:
        if not new.embedding:
            return "skip"
        index.upsert([to_document(new)])
        return "upsert"
    if old is not None:
        index.delete(old.tenant_id, [old.id])
        return "delete"
    return "skip"
