"""Rebuild the derived index from the store alone: every stored memory carries its embedding and
embedding model id, so no LLM or embedding call is needed."""

from __future__ import annotations

from dataclasses import dataclass

from engram.logic.indexing import to_document
from engram.logic.memories import is_live
from engram.models.index import IndexDocument
from engram.ports import Clock, MemoryRepository, VectorIndex

BATCH = 100
#: How often a batch is read back and repaired when a concurrent write overtook it (see ``reindex``).
REPAIR_ROUNDS = 3


@dataclass
class ReindexResult:
    """What a reindex did: memories written to the index, skipped (no embedding, expired, or the index
    already holding a newer revision), documents removed because their memory is gone (``removed``), and
    documents still behind the store after ``REPAIR_ROUNDS`` (``behind``: a memory changing faster than the
    rounds; the stream delivers its next change)."""

    indexed: int = 0
    skipped_without_embedding: int = 0
    skipped_expired: int = 0
    skipped_newer_in_index: int = 0
    removed: int = 0
    repaired: int = 0
    behind: int = 0


def reindex(
    memories: MemoryRepository, index: VectorIndex, clock: Clock, tenant_id: str | None = None, batch: int = BATCH
) -> ReindexResult:
    """Make ``index`` hold every live memory of the store (of ``tenant_id``, or of all), and nothing else.

    1. The store is scanned in batches of ``batch``. Each batch is read again (consistent reads) right
       before it is written, and a memory is written only if the index does not already hold a newer
       revision of it (revision ids grow with time), so a scan racing a PATCH never writes back the older
       revision; a memory deleted since the scan is removed instead. After the write the batch is read
       back from both sides: a memory a concurrent write changed or deleted meanwhile (its stream record
       may have reached the index before this write) is written again or removed, up to ``REPAIR_ROUNDS``.
    2. Documents the index holds for memories the store no longer has (deleted while the stream was not
       delivering) are removed, after a consistent read confirms each one is gone.

    It can run while writes continue (the stream keeps feeding the index). Memories without an embedding
    (never indexed) and expired ones are not written. Each memory is read twice (the scan, then the
    consistent batch read); the scanned ids are kept in memory (about 100 bytes each) to find the
    orphans. No LLM or embedding call.
    """
    index.ensure_index()
    result = ReindexResult()
    seen: set[tuple[str, str]] = set()
    pending: dict[str, list[str]] = {}
    for memory in memories.scan(tenant_id):
        seen.add((memory.tenant_id, memory.id))
        group = pending.setdefault(memory.tenant_id, [])
        group.append(memory.id)
        if len(group) >= batch:
            _reindex_batch(memories, index, clock, memory.tenant_id, pending.pop(memory.tenant_id), result)
    for owner, group in pending.items():
        _reindex_batch(memories, index, clock, owner, group, result)
    _remove_orphans(memories, index, tenant_id, seen, batch, result)
    return result


def _reindex_batch(
    memories: MemoryRepository, index: VectorIndex, clock: Clock, tenant_id: str, ids: list[str], result: ReindexResult
) -> None:
    """Write the current copies of ``ids`` (one tenant's) that the index holds no newer revision of, then
    read back and repair what a concurrent write overtook."""
    current = memories.get_many(tenant_id, ids)
    held = index.revisions(tenant_id, ids)
    documents: list[IndexDocument] = []
    gone: list[str] = []
    for memory_id in ids:
        memory = current.get(memory_id)
        if memory is None:
            if memory_id in held:
                gone.append(memory_id)
        elif not memory.embedding:
            result.skipped_without_embedding += 1
        elif not is_live(memory, clock):
            result.skipped_expired += 1
        elif memory_id in held and held[memory_id] > memory.revision_id:
            result.skipped_newer_in_index += 1
        else:
            documents.append(to_document(memory))
    if documents:
        index.upsert(documents)
        result.indexed += len(documents)
    if gone:
        index.delete(tenant_id, gone)
        result.removed += len(gone)
    _repair(memories, index, clock, tenant_id, [d.memory_id for d in documents], result)


def _repair(
    memories: MemoryRepository, index: VectorIndex, clock: Clock, tenant_id: str, ids: list[str], result: ReindexResult
) -> None:
    """Read ``ids`` back from the store and the index; rewrite those the index holds at another revision
    than the store (the store is the truth; ids made in one millisecond need not sort by time, so this
    compares for equality), remove those the store no longer has; repeat until they agree
    (``REPAIR_ROUNDS``)."""
    for _ in range(REPAIR_ROUNDS):
        if not ids:
            return
        current, held = memories.get_many(tenant_id, ids), index.revisions(tenant_id, ids)
        stale = [
            m
            for memory_id in ids
            if (m := current.get(memory_id)) is not None
            and m.embedding
            and is_live(m, clock)
            and held.get(memory_id) != m.revision_id
        ]
        gone = [memory_id for memory_id in ids if memory_id not in current and memory_id in held]
        if stale:
            index.upsert([to_document(m) for m in stale])
        if gone:
            index.delete(tenant_id, gone)
        result.repaired += len(stale) + len(gone)
        ids = [m.id for m in stale] + gone
    result.behind += len(ids)


def _remove_orphans(
    memories: MemoryRepository,
    index: VectorIndex,
    tenant_id: str | None,
    seen: set[tuple[str, str]],
    batch: int,
    result: ReindexResult,
) -> None:
    """Remove the index's documents of memories the scan did not see and a consistent read does not find
    (a memory created after the scan passed it is found, and kept)."""
    unseen: dict[str, list[str]] = {}
    for owner, memory_id in index.indexed_ids(tenant_id):
        if (owner, memory_id) not in seen:
            unseen.setdefault(owner, []).append(memory_id)
    for owner, ids in unseen.items():
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            found = memories.get_many(owner, chunk)
            orphans = [memory_id for memory_id in chunk if memory_id not in found]
            if orphans:
                index.delete(owner, orphans)
                result.removed += len(orphans)
