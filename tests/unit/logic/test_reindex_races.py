"""Reindex makes the index hold exactly the store's live memories: it removes documents of deleted
memories and never leaves an older revision over a newer one, even when writes race it
(``engram.logic.reindex``; fakes, with the races injected at each step)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engram.logic.memories import create_memories, delete_memory, update_memory
from engram.logic.reindex import reindex
from engram.models.api import UpdateMemoryRequest
from engram.models.index import IndexDocument
from engram.models.memory import NewMemory

TENANT = "tenant-a"
OTHER = "tenant-b"
SCOPE = {"user_id": "u-1"}


def create(stores: Any, embedder: Any, clock: Any, *facts: str, tenant: str = TENANT) -> list[Any]:
    return create_memories(
        stores.memories, stores.configs, embedder, clock, tenant, [NewMemory(scope=SCOPE, fact=f) for f in facts]
    )


def patch(stores: Any, embedder: Any, clock: Any, memory_id: str, fact: str) -> None:
    clock.advance(seconds=1)
    update_memory(stores.memories, stores.configs, embedder, clock, TENANT, memory_id, UpdateMemoryRequest(fact=fact))


class Hooked:
    """Wraps an object; ``before[name]()`` runs once before the next call of method ``name``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.before: dict[str, Callable[[], None]] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in self.before:
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.before.pop(name)()
            return method(*args, **kwargs)

        return call


def stored_revisions(stores: Any, tenant: str = TENANT) -> dict[str, str]:
    return {m.id: m.revision_id for m in stores.memories.scan(tenant)}


def test_documents_of_deleted_memories_are_removed(stores, index, embedder, clock) -> None:
    # Given two memories, one deleted while the stream did not reach the index, and another tenant's orphan
    [kept, gone] = create(stores, embedder, clock, "The user likes tea.", "The user likes jazz.")
    [theirs] = create(stores, embedder, clock, "Their fact.", tenant=OTHER)
    index.lag = True
    delete_memory(stores.memories, stores.configs, clock, TENANT, gone.id)
    delete_memory(stores.memories, stores.configs, clock, OTHER, theirs.id)
    index.pending.clear()  # the stream's deletions are lost
    index.lag = False

    # When the tenant is reindexed
    result = reindex(stores.memories, index, clock, TENANT)

    # Then the deleted memory's document is gone, the live one is there; the other tenant is untouched
    assert index.revisions(TENANT, [kept.id, gone.id]) == {kept.id: kept.revision_id}
    assert result.removed == 1
    assert index.revisions(OTHER, [theirs.id]) == {theirs.id: theirs.revision_id}
    # And a reindex of every tenant removes that one too
    assert reindex(stores.memories, index, clock).removed == 1
    assert index.revisions(OTHER, [theirs.id]) == {}


def test_a_patch_that_reaches_the_index_before_the_batch_is_not_overwritten(stores, index, embedder, clock) -> None:
    # Given a memory the scan reads at its first revision, then a PATCH whose stream record reaches the
    # index just before reindex reads the index's revisions
    [memory] = create(stores, embedder, clock, "The user lives in Lisbon.")
    hooked = Hooked(index)
    hooked.before["revisions"] = lambda: patch(stores, embedder, clock, memory.id, "The user lives in Porto.")

    # When reindexing
    result = reindex(stores.memories, hooked, clock)

    # Then the index keeps the newer revision
    assert index.revisions(TENANT, [memory.id]) == stored_revisions(stores)
    assert index.documents[(TENANT, memory.id)].fact == "The user lives in Porto."
    assert result.behind == 0


def test_a_patch_landing_between_the_read_and_the_write_is_repaired(stores, index, embedder, clock) -> None:
    # Given a PATCH whose stream record reaches the index after reindex read the memory but before it
    # writes it (so reindex's write would put the older revision back)
    [memory] = create(stores, embedder, clock, "The user lives in Lisbon.")
    hooked = Hooked(index)
    hooked.before["upsert"] = lambda: patch(stores, embedder, clock, memory.id, "The user lives in Porto.")

    # When reindexing
    result = reindex(stores.memories, hooked, clock)

    # Then reindex read it back, saw the index behind the store, and wrote the newer revision again
    assert index.revisions(TENANT, [memory.id]) == stored_revisions(stores)
    assert index.documents[(TENANT, memory.id)].fact == "The user lives in Porto."
    assert (result.repaired, result.behind) == (1, 0)


def test_a_delete_landing_between_the_read_and_the_write_is_repaired(stores, index, embedder, clock) -> None:
    # Given a memory deleted (and its document removed by the stream) just before reindex writes it
    [memory, other] = create(stores, embedder, clock, "The user lives in Lisbon.", "The user likes jazz.")
    hooked = Hooked(index)
    hooked.before["upsert"] = lambda: delete_memory(stores.memories, stores.configs, clock, TENANT, memory.id)

    # When reindexing
    reindex(stores.memories, hooked, clock)

    # Then its document, written back by reindex, is removed again
    assert index.revisions(TENANT, [memory.id, other.id]) == {other.id: other.revision_id}


class GrowingStore:
    """The fake memories, with a memory created once the scan has yielded everything."""

    def __init__(self, inner: Any, after_scan: Callable[[], None]) -> None:
        self.inner = inner
        self.after_scan = after_scan

    def scan(self, tenant_id: str | None = None) -> Iterator[Any]:
        yield from self.inner.scan(tenant_id)
        self.after_scan()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_memory_created_after_the_scan_is_not_taken_for_an_orphan(stores, index, embedder, clock) -> None:
    # Given a memory created (and indexed by the stream) after the scan passed
    create(stores, embedder, clock, "The user likes tea.")
    created: list[Any] = []
    store = GrowingStore(stores.memories, lambda: created.extend(create(stores, embedder, clock, "A new fact.")))

    # When reindexing
    result = reindex(store, index, clock)

    # Then its document stays
    assert index.revisions(TENANT, [created[0].id]) == {created[0].id: created[0].revision_id}
    assert result.removed == 0


class RecordingIndex:
    """Records the revisions each upsert writes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.written: list[tuple[str, str]] = []

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        self.written += [(d.memory_id, d.revision_id) for d in documents]
        self.inner.upsert(documents)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_scanned_copy_is_never_written_when_the_store_moved_on(stores, index, embedder, clock) -> None:
    # Given a memory PATCHed while the scan holds its first revision
    [memory] = create(stores, embedder, clock, "The user lives in Lisbon.")
    recording = RecordingIndex(index)
    scanned = list(stores.memories.scan(TENANT))
    patch(stores, embedder, clock, memory.id, "The user lives in Porto.")

    class StaleScan(GrowingStore):
        def scan(self, tenant_id: str | None = None) -> Iterator[Any]:
            yield from scanned

    # When reindexing from that scan
    reindex(StaleScan(stores.memories, lambda: None), recording, clock)

    # Then only the store's current revision was ever written
    assert recording.written == [(memory.id, stored_revisions(stores)[memory.id])]


def test_a_newer_revision_whose_id_sorts_first_still_wins(stores, index, embedder, clock, monkeypatch) -> None:
    # Given revision ids made in one millisecond, the newer one sorting first (new_id's random part)
    from engram.logic import memories as logic

    ids = iter(["0196a1b2c3d4m", "0196a1b2c3d4ffffffffffffffff", "0196a1b2c3d40000000000000000"])
    monkeypatch.setattr(logic, "new_id", lambda: next(ids))
    [memory] = create(stores, embedder, clock, "The user lives in Lisbon.")
    hooked = Hooked(index)
    hooked.before["upsert"] = lambda: patch(stores, embedder, clock, memory.id, "The user lives in Porto.")

    # When a PATCH lands between reindex's read and its write
    reindex(stores.memories, hooked, clock)

    # Then the index holds the store's revision, whatever the ids' order
    assert index.revisions(TENANT, [memory.id]) == stored_revisions(stores)
    assert index.documents[(TENANT, memory.id)].fact == "The user lives in Porto."
