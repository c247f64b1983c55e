"""Keeping the derived index in sync with the store: every memory write reaches the index through the
DynamoDB stream, whoever made it (API, workflow, TTL, retention, purge).

A stream batch is applied as a whole (``apply_stream_batch``): the last change of each memory in the batch
wins, and the index gets one ``upsert`` with every memory to (re)index and one ``delete`` per tenant with
every memory to remove, instead of one index request per record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engram.errors import EngramError
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


@dataclass(frozen=True)
class StreamChange:
    """One stream record: ``record_id`` (what the batch response names, e.g. the sequence number) and the
    memory of its new and old image (None when absent or when the item is not a memory)."""

    record_id: str
    new: StoredMemory | None
    old: StoredMemory | None


@dataclass
class BatchOutcome:
    """What ``apply_stream_batch`` did: memories upserted and deleted, records skipped (not memories, or
    memories without an embedding), and the ``record_id`` of every record whose change did not reach the
    index (in batch order) with the errors met."""

    upserted: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def apply_stream_batch(index: VectorIndex, changes: Sequence[StreamChange]) -> BatchOutcome:
    """Apply a stream batch (``changes`` in stream order) to ``index``: for each memory only its last
    change counts; one ``index.upsert`` gets every memory whose last image has an embedding (a memory
    without one is skipped, as in ``apply_stream_change``), one ``index.delete`` per tenant every memory
    whose last change removed it.

    An index error (``IndexUnavailable``, ``ConfigurationError``: any ``EngramError``) fails the records
    that write carried: every record of every memory in it, earlier records of the same memory included
    (retrying them is harmless: index writes are idempotent). They are in ``failed``; nothing is raised
    for them. Any other exception propagates (the whole batch is then retried)."""
    outcome = BatchOutcome()
    last = _last_changes(changes, outcome)
    upserts = [(to_document(new), records) for new, records in last.values() if new is not None and new.embedding]
    outcome.skipped += sum(len(records) for new, records in last.values() if new is not None and not new.embedding)
    deletes: dict[str, list[tuple[str, list[str]]]] = {}
    for (tenant_id, memory_id), (new, records) in last.items():
        if new is None:
            deletes.setdefault(tenant_id, []).append((memory_id, records))
    if upserts:
        try:
            index.upsert([doc for doc, _ in upserts])
            outcome.upserted = len(upserts)
        except EngramError as error:
            _failed(outcome, error, [record for _, records in upserts for record in records])
    for tenant_id, removed in deletes.items():
        try:
            index.delete(tenant_id, [memory_id for memory_id, _ in removed])
            outcome.deleted += len(removed)
        except EngramError as error:
            _failed(outcome, error, [record for _, records in removed for record in records])
    position = {change.record_id: n for n, change in enumerate(changes)}
    outcome.failed.sort(key=position.__getitem__)
    return outcome


def _last_changes(
    changes: Sequence[StreamChange], outcome: BatchOutcome
) -> dict[tuple[str, str], tuple[StoredMemory | None, list[str]]]:
    """``{(tenant_id, memory_id): (its last new image or None, the ids of all its records)}``, in the order
    memories first appear; records of no memory count as skipped."""
    last: dict[tuple[str, str], tuple[StoredMemory | None, list[str]]] = {}
    for change in changes:
        memory = change.new if change.new is not None else change.old
        if memory is None:
            outcome.skipped += 1
            continue
        key = (memory.tenant_id, memory.id)
        records = last[key][1] if key in last else []
        last[key] = (change.new, [*records, change.record_id])
    return last


def _failed(outcome: BatchOutcome, error: EngramError, records: list[str]) -> None:
    outcome.failed += records
    outcome.errors.append(f"{type(error).__name__}: {error}")
