"""Archiving (``engram.logic.archive``) on the in-memory fakes: what a moved memory keeps and gets, the dry
run, blocks and resumption, leases, and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from engram.errors import ScopeBusy, StoreConflict
from engram.logic.archive import ARCHIVE_BLOCK, archive
from engram.logic.memories import create_memories, get_memory, list_revisions
from engram.models.lifecycle import ArchiveRequest
from engram.models.memory import Action, NewMemory
from engram.models.scope import scope_hash
from pydantic import ValidationError

TENANT = "tenant-a"
OTHER = "tenant-b"
SCOPE = {"user_id": "u-1"}
ARCHIVE = {"user_id": "u-1", "collection": "archive"}


def _create(stores: Any, embedder: Any, clock: Any, facts: list[str], tenant: str = TENANT, **fields: Any) -> list:
    items = [NewMemory(scope=SCOPE, fact=fact, **fields) for fact in facts]
    return create_memories(stores.memories, stores.configs, embedder, clock, tenant, items)


def _archive(stores: Any, clock: Any, tenant: str = TENANT, **body: Any):
    request = ArchiveRequest.model_validate({"scope": SCOPE, "to_scope": ARCHIVE, "force": True, **body})
    return archive(stores.memories, stores.configs, stores.leases, clock, tenant, request)


def _ids(stores: Any, scope: dict[str, str], tenant: str = TENANT) -> set[str]:
    return {m.id for m in stores.memories.matching(tenant, scope)}


def test_an_archived_memory_keeps_its_id_history_and_provenance_in_the_new_scope(stores, embedder, clock):
    # Given a memory with topics, metadata and provenance
    [memory] = _create(
        stores,
        embedder,
        clock,
        ["The user likes tea."],
        topics=["USER_PREFERENCES"],
        metadata={"lang": "en"},
        source={"event_ids": ["e-1"]},
    )
    before = stores.memories.get(TENANT, memory.id)
    clock.advance(seconds=5)

    # When it is archived
    result = _archive(stores, clock)

    # Then it moved, the same item, with archived metadata and one ARCHIVED revision naming both scopes
    assert (result.archive_count, result.dry_run, result.done) == (1, False, True)
    moved = get_memory(stores.memories, clock, TENANT, memory.id)
    assert moved.scope == ARCHIVE and moved.fact == before.fact and moved.topics == before.topics
    assert moved.metadata == {"lang": "en", "archived": True}
    assert moved.source == before.source and moved.create_time == before.create_time
    assert moved.update_time == clock.now() and moved.revision_id != before.revision_id
    revisions = list_revisions(stores.memories, TENANT, memory.id)
    assert [r.action for r in revisions] == [Action.ARCHIVED, Action.CREATED]
    assert revisions[0].id == moved.revision_id and revisions[0].scope == ARCHIVE
    assert revisions[0].labels == {"from_scope": scope_hash(SCOPE), "to_scope": scope_hash(ARCHIVE)}
    assert _ids(stores, SCOPE) == set() and _ids(stores, ARCHIVE) == {memory.id}


def test_the_index_follows_the_move(stores, embedder, clock, index):
    # Given an indexed memory
    [memory] = _create(stores, embedder, clock, ["The user likes tea."])

    # When it is archived, then the index document carries the new scope and revision
    _archive(stores, clock)
    moved = stores.memories.get(TENANT, memory.id)
    assert index.revisions(TENANT, [memory.id]) == {memory.id: moved.revision_id}


def test_a_dry_run_counts_live_matching_memories_and_moves_nothing(stores, embedder, clock):
    # Given three memories, two matching the filter
    _create(stores, embedder, clock, ["A.", "B."], metadata={"lang": "en"})
    _create(stores, embedder, clock, ["C."], metadata={"lang": "pt"})

    # When archived as a dry run with a filter
    result = _archive(stores, clock, force=False, filter={"lang": "en"})

    # Then it counts two and nothing moved
    assert (result.archive_count, result.dry_run, result.done) == (2, True, True)
    assert len(_ids(stores, SCOPE)) == 3 and _ids(stores, ARCHIVE) == set()


def test_only_matching_memories_move_and_a_second_request_moves_nothing(stores, embedder, clock):
    # Given memories of two languages
    en = {m.id for m in _create(stores, embedder, clock, ["A.", "B."], metadata={"lang": "en"})}
    pt = {m.id for m in _create(stores, embedder, clock, ["C."], metadata={"lang": "pt"})}

    # When the English ones are archived twice
    first = _archive(stores, clock, filter={"lang": "en"})
    second = _archive(stores, clock, filter={"lang": "en"})

    # Then the first moved them, the second nothing (idempotent), and the others stayed
    assert (first.archive_count, second.archive_count) == (2, 0)
    assert _ids(stores, ARCHIVE) == en and _ids(stores, SCOPE) == pt


def test_blocks_are_atomic_and_a_stopped_archive_resumes(stores, embedder, clock, monkeypatch):
    # Given more memories than one block holds
    created = _create(stores, embedder, clock, [f"Fact {n}." for n in range(ARCHIVE_BLOCK + 5)])
    writes = []
    original = stores.memories.apply_changes
    monkeypatch.setattr(stores.memories, "apply_changes", lambda *a, **k: (writes.append(a[1]), original(*a, **k)))

    # When the deadline passes after the first block
    ticks = iter([99.0])  # read before each block after the first (which always runs)
    request = ArchiveRequest(scope=SCOPE, to_scope=ARCHIVE, force=True)
    first = archive(
        stores.memories,
        stores.configs,
        stores.leases,
        clock,
        TENANT,
        request,
        deadline=1.0,
        monotonic=lambda: next(ticks),
    )

    # Then one block moved, in one write, and the same request moves the rest
    assert (first.archive_count, first.done) == (ARCHIVE_BLOCK, False)
    assert [len(w) for w in writes] == [ARCHIVE_BLOCK]
    second = archive(stores.memories, stores.configs, stores.leases, clock, TENANT, request)
    assert (second.archive_count, second.done) == (5, True)
    assert _ids(stores, ARCHIVE) == {m.id for m in created}


def test_a_memory_changed_during_the_move_fails_its_block_and_the_same_request_resumes(
    stores, embedder, clock, monkeypatch
):
    # Given two memories, one of them changed by another writer after the archive read it
    created = _create(stores, embedder, clock, ["A.", "B."])
    original = stores.memories.apply_changes

    def concurrent_write_first(tenant_id, changes, *args, **kwargs):
        key = (TENANT, created[0].id)
        stored = stores.memories.items[key]
        stores.memories.items[key] = stored.model_copy(update={"version": stored.version + 1})
        monkeypatch.setattr(stores.memories, "apply_changes", original)
        return original(tenant_id, changes, *args, **kwargs)

    monkeypatch.setattr(stores.memories, "apply_changes", concurrent_write_first)

    # When archiving, then the block conflicts and nothing of it moved, and no lease is left
    with pytest.raises(StoreConflict):
        _archive(stores, clock)
    assert len(_ids(stores, SCOPE)) == 2 and _ids(stores, ARCHIVE) == set() and stores.leases.items == {}

    # When the same request is sent again, then both move
    assert _archive(stores, clock).archive_count == 2
    assert _ids(stores, ARCHIVE) == {m.id for m in created}


def test_an_archive_waits_for_a_generation_holding_either_scope(stores, embedder, clock):
    # Given a generation holding the archive scope's lease
    _create(stores, embedder, clock, ["A."])
    assert stores.leases.acquire(TENANT, scope_hash(ARCHIVE), "operation-1", clock.now(), 120)

    # When archiving, then the scope is busy, nothing moved and no lease is left behind
    with pytest.raises(ScopeBusy):
        _archive(stores, clock)
    assert len(_ids(stores, SCOPE)) == 1
    assert set(stores.leases.items) == {(TENANT, scope_hash(ARCHIVE))}


def test_leases_are_released_after_an_archive(stores, embedder, clock):
    _create(stores, embedder, clock, ["A."])
    _archive(stores, clock)
    assert stores.leases.items == {}


def test_another_tenant_archives_nothing_of_this_tenant(stores, embedder, clock):
    # Given a memory of tenant A, when tenant B archives the same scope
    _create(stores, embedder, clock, ["A."])
    result = _archive(stores, clock, tenant=OTHER)

    # Then nothing moved
    assert result.archive_count == 0 and len(_ids(stores, SCOPE)) == 1


def test_expired_memories_are_not_moved(stores, embedder, clock):
    _create(stores, embedder, clock, ["A."], ttl_seconds=60)
    clock.advance(seconds=120)
    assert _archive(stores, clock).archive_count == 0
    assert _archive(stores, clock, force=False).archive_count == 0


def test_the_target_scope_must_differ():
    with pytest.raises(ValidationError, match="to_scope must differ"):
        ArchiveRequest(scope=SCOPE, to_scope=dict(SCOPE))


def test_a_request_whose_time_is_up_still_moves_one_block(stores, embedder, clock):
    # Given more memories than a block, and a deadline already passed
    _create(stores, embedder, clock, [f"Fact {n}." for n in range(ARCHIVE_BLOCK + 1)])
    request = ArchiveRequest(scope=SCOPE, to_scope=ARCHIVE, force=True)

    # When archiving, then one block moves (every request makes progress) and more remain
    result = archive(stores.memories, stores.configs, stores.leases, clock, TENANT, request, deadline=0.0)
    assert (result.archive_count, result.done) == (ARCHIVE_BLOCK, False)
