"""``MemoryRepository.create_all``: a batch of up to 100 memories is stored all or none, checked whole
against DynamoDB's item and transaction sizes before anything is written; ``put_revisions`` completes a
history without touching what exists — the same on the fake and on DynamoDB."""

from __future__ import annotations

import pytest
from engram.adapters.dynamodb.memories import fits_one_transaction
from engram.errors import StoreConflict, TooLargeToStore
from engram.models.memory import Action
from engram.models.scope import scope_hash
from engram.wiring import Dependencies

from tests.integration.store.builders import SCOPE, T0, created, memory, new_id, revision


def _batch(tenant: str, n: int, big: dict[int, int] | None = None, each: int = 0) -> list:
    """``n`` CREATED changes; memory ``i`` of ``big`` carries that many bytes of metadata, every one ``each``."""
    big = big or {}
    return [created(memory(tenant, f"Fact {i}.", metadata={"blob": "x" * (big.get(i, each) or 1)})) for i in range(n)]


def _stored(stores, tenant) -> int:
    return len(list(stores.memories.matching(tenant, SCOPE)))


def test_a_batch_of_100_is_stored_whole_with_its_revisions(stores, tenant) -> None:
    changes = _batch(tenant, 100)
    stores.memories.create_all(tenant, changes)
    assert _stored(stores, tenant) == 100
    for change in changes[:3] + changes[-3:]:
        [rev] = stores.memories.revisions(tenant, change.after.id)
        assert (rev.id, rev.action) == (change.revision.id, Action.CREATED)
        assert stores.memories.get(tenant, change.after.id).version == 1


def test_an_item_too_large_is_named_and_nothing_is_written(stores, tenant) -> None:
    # Given 100 memories, the 60th over DynamoDB's 400 KB item size
    changes = _batch(tenant, 100, big={59: 420_000})
    # When they are created, Then the write is refused naming it, and nothing is stored
    with pytest.raises(TooLargeToStore) as raised:
        stores.memories.create_all(tenant, changes)
    assert raised.value.position == 59 and raised.value.http_status == 413
    assert _stored(stores, tenant) == 0


def test_a_batch_over_a_transactions_size_is_refused_whole(stores, tenant) -> None:
    # Given 100 memories of about 45 KB each (4.5 MB together; a transaction holds 4 MB)
    with pytest.raises(TooLargeToStore) as raised:
        stores.memories.create_all(tenant, _batch(tenant, 100, each=45_000))
    assert raised.value.position is None
    assert _stored(stores, tenant) == 0


def test_an_existing_memory_fails_the_whole_batch(stores, tenant) -> None:
    # Given a batch one of whose memories exists
    changes = _batch(tenant, 60)
    stores.memories.create_all(tenant, [changes[30]])
    # When it is created, Then it conflicts and nothing else is written
    with pytest.raises(StoreConflict):
        stores.memories.create_all(tenant, changes)
    assert _stored(stores, tenant) == 1


def test_put_revisions_writes_the_missing_and_leaves_the_existing(stores, tenant) -> None:
    [change] = _batch(tenant, 1)
    stores.memories.create_all(tenant, [change])
    first = change.revision
    again = first.model_copy(update={"fact": "changed"})
    missing = revision(change.after, Action.UPDATED, id=new_id())
    stores.memories.put_revisions(tenant, [again, missing])
    by_id = {r.id: r for r in stores.memories.revisions(tenant, change.after.id)}
    assert by_id[first.id].fact == first.fact
    assert (by_id[missing.id].action, by_id[missing.id].fact) == (Action.UPDATED, missing.fact)


def test_a_failed_single_create_keeps_neither_the_memory_nor_its_counts(stores, tenant) -> None:
    if not isinstance(stores, Dependencies):
        pytest.skip("the fake writes a batch's revisions unguarded; this is the adapter's one transaction")
    # Given a memory created (and counted), and a second whose revision id is taken already
    first, second = created(memory(tenant, "Tea.")), created(memory(tenant, "Jazz."))
    stores.memories.create_all(tenant, [first])
    stores.memories.put_revisions(tenant, [second.revision])
    # When the second is created, Then its transaction fails whole: the memory and its counts with it
    with pytest.raises(StoreConflict):
        stores.memories.create_all(tenant, [second])
    assert stores.memories.get(tenant, second.after.id) is None
    counted = stores.stats.read(tenant, scope_hash(SCOPE), [T0.date().isoformat()])
    assert counted.total == 1 and counted.per_day[T0.date().isoformat()].created == 1


@pytest.mark.parametrize(("n", "one_transaction"), [(1, True), (48, True), (49, False), (100, False)])
def test_a_create_fits_one_transaction_with_its_counters_up_to_100_items(tenant, n, one_transaction) -> None:
    changes = _batch(tenant, n)
    assert fits_one_transaction(changes, 1_000 * n) is one_transaction
    # a single memory of the largest size still fits, with its four counter items at their largest
    assert fits_one_transaction(changes[:1], 2 * 400 * 1024)
