"""``apply_stream_batch``: a DynamoDB stream batch reaches the index as one upsert and one delete per tenant,
the last change of each memory wins, and a failed index write fails exactly the records it carried."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from engram.errors import IndexUnavailable
from engram.logic.indexing import StreamChange, apply_stream_batch
from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.memory import Source, StoredMemory

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def memory(
    memory_id: str, tenant: str = "t-1", revision: str = "r-1", embedding: list[float] | None = None
) -> StoredMemory:
    return StoredMemory(
        id=memory_id,
        tenant_id=tenant,
        scope={"user_id": "u-1"},
        fact=f"fact {memory_id}",
        topics=[],
        create_time=NOW,
        update_time=NOW,
        revision_id=revision,
        source=Source(operation_id="op-1", event_ids=[]),
        embedding=[1.0, 0.0] if embedding is None else embedding,
        embedding_model="model-1",
        version=1,
    )


def created(record_id: str, stored: StoredMemory) -> StreamChange:
    return StreamChange(record_id, new=stored, old=None)


def removed(record_id: str, stored: StoredMemory) -> StreamChange:
    return StreamChange(record_id, new=None, old=stored)


class RecordingIndex:
    """Records each write; ``down`` makes ``upsert`` (or ``delete`` of that tenant) raise IndexUnavailable."""

    def __init__(self, down: str | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.down = down

    def ensure_index(self) -> None:
        return None

    def search(self, query: IndexQuery) -> list[IndexHit]:
        return []

    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        return {}

    def indexed_ids(self, tenant_id: str | None = None) -> Iterator[tuple[str, str]]:
        return iter(())

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        self.calls.append(("upsert", [(d.memory_id, d.revision_id) for d in documents]))
        if self.down == "upsert":
            raise IndexUnavailable("scripted: index down")

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        self.calls.append(("delete", (tenant_id, list(memory_ids))))
        if self.down == tenant_id:
            raise IndexUnavailable("scripted: index down")


def test_a_batch_of_creates_is_one_upsert():
    # Given 5 memories created and a record of another item type
    changes = [created(str(n), memory(f"m{n}")) for n in range(5)] + [StreamChange("9", new=None, old=None)]
    index = RecordingIndex()
    # When the batch is applied
    outcome = apply_stream_batch(index, changes)
    # Then the index got one upsert with the 5 memories, and nothing failed
    assert index.calls == [("upsert", [(f"m{n}", "r-1") for n in range(5)])]
    assert (outcome.upserted, outcome.deleted, outcome.skipped, outcome.failed) == (5, 0, 1, [])


def test_the_last_change_of_a_memory_wins():
    # Given a memory created then updated, another created then deleted, a third deleted
    changes = [
        created("1", memory("a")),
        created("2", memory("b")),
        StreamChange("3", new=memory("a", revision="r-2"), old=memory("a")),
        removed("4", memory("b")),
        removed("5", memory("c")),
    ]
    index = RecordingIndex()
    apply_stream_batch(index, changes)
    # Then a is upserted at its last revision once, b and c deleted in one call, b never upserted
    assert index.calls == [("upsert", [("a", "r-2")]), ("delete", ("t-1", ["b", "c"]))]


def test_deletes_are_grouped_per_tenant():
    changes = [
        removed("1", memory("a", tenant="t-1")),
        removed("2", memory("b", tenant="t-2")),
        removed("3", memory("c")),
    ]
    index = RecordingIndex()
    apply_stream_batch(index, changes)
    assert index.calls == [("delete", ("t-1", ["a", "c"])), ("delete", ("t-2", ["b"]))]


def test_a_memory_without_an_embedding_is_skipped():
    index = RecordingIndex()
    outcome = apply_stream_batch(index, [created("1", memory("a", embedding=[])), created("2", memory("b"))])
    assert index.calls == [("upsert", [("b", "r-1")])]
    assert outcome.skipped == 1


def test_a_failed_upsert_fails_every_record_it_carried_and_only_those():
    # Given a batch mixing creates, an update of one of them, a delete, and an item of another type
    changes = [
        created("10", memory("a")),
        StreamChange("20", new=None, old=None),
        created("30", memory("b")),
        removed("40", memory("c")),
        StreamChange("50", new=memory("a", revision="r-2"), old=memory("a")),
    ]
    # When the upsert fails (the delete succeeds)
    outcome = apply_stream_batch(RecordingIndex(down="upsert"), changes)
    # Then the records of a (both) and b fail, in stream order; the delete and the other item do not
    assert outcome.failed == ["10", "30", "50"]
    assert (outcome.upserted, outcome.deleted) == (0, 1)
    assert outcome.errors == ["IndexUnavailable: scripted: index down"]


def test_a_failed_delete_fails_only_that_tenants_deletes():
    changes = [created("1", memory("a")), removed("2", memory("b", tenant="t-2")), removed("3", memory("c"))]
    outcome = apply_stream_batch(RecordingIndex(down="t-2"), changes)
    assert outcome.failed == ["2"]
    assert (outcome.upserted, outcome.deleted) == (1, 1)
