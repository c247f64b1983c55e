"""Rebuild the derived index from the store alone: every stored memory carries its embedding and
embedding model id, so no LLM or embedding call is needed."""

from __future__ import annotations

from dataclasses import dataclass

from engram.logic.indexing import to_document
from engram.logic.memories import is_live
from engram.ports import Clock, MemoryRepository, VectorIndex

BATCH = 100


@dataclass
class ReindexResult:
    indexed: int = 0
    skipped_without_embedding: int = 0
    skipped_expired: int = 0


def reindex(
    memories: MemoryRepository, index: VectorIndex, clock: Clock, tenant_id: str | None = None, batch: int = BATCH
) -> ReindexResult:
    """Upsert every live memory (of ``tenant_id``, or all) into ``index`` in batches of ``batch``.

    Idempotent (upserts), so it can run while writes continue; the stream keeps feeding the index too.
    Memories without an embedding (never indexed) and expired ones are skipped.
    """
    index.ensure_index()
    result = ReindexResult()
    pending = []
    for memory in memories.scan(tenant_id):
        if not memory.embedding:
            result.skipped_without_embedding += 1
            continue
        if not is_live(memory, clock):
            result.skipped_expired += 1
            continue
        pending.append(to_document(memory))
        if len(pending) >= batch:
            index.upsert(pending)
            result.indexed += len(pending)
            pending = []
    if pending:
        index.upsert(pending)
        result.indexed += len(pending)
    return result
