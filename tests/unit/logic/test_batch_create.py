"""Direct creation is all or nothing, validated whole before anything is written, and a retried request
(same ``Idempotency-Key``) never stores anything twice (``engram.logic.memories.create_memories``)."""

from __future__ import annotations

from typing import Any

import pytest
from engram.errors import PayloadTooLarge
from engram.logic.memories import create_memories, request_ids
from engram.models.memory import NewMemory, NewSource

TENANT = "tenant-a"
SCOPE = {"user_id": "u-1"}


def batch(n: int, big: int | None = None) -> list[NewMemory]:
    """``n`` new memories; the one at ``big`` carries 420 KB of metadata (past the API's own checks, as a
    caller inside the stack could pass it)."""
    items = [NewMemory(scope=SCOPE, fact=f"The user owns book {i}.") for i in range(n)]
    if big is not None:
        items[big] = NewMemory.model_construct(
            scope=SCOPE,
            fact="A large one.",
            topics=[],
            metadata={"blob": "x" * 420_000},
            source=NewSource(),
            ttl_seconds=None,
            revision_labels={},
        )
    return items


def create(stores: Any, embedder: Any, clock: Any, items: list[NewMemory], key: str | None = None) -> list[Any]:
    return create_memories(stores.memories, stores.configs, embedder, clock, TENANT, items, key, field="memories")


def test_a_memory_too_large_to_store_refuses_the_batch_naming_it(stores, embedder, clock) -> None:
    # When a batch of 100 is created whose 60th memory is too large to store
    with pytest.raises(PayloadTooLarge) as raised:
        create(stores, embedder, clock, batch(100, big=59), "batch:k-1")

    # Then it is a 413 naming memories[59], and nothing was stored
    assert raised.value.http_status == 413 and raised.value.message.startswith("memories[59]: ")
    assert stores.memories.items == {} and stores.memories.history == {}


def test_a_batch_of_100_is_one_write(stores, embedder, clock) -> None:
    created = create(stores, embedder, clock, batch(100))
    assert len(created) == 100 and [len(t) for t in stores.memories.transactions] == [100]


def test_a_retry_of_a_request_whose_memories_were_stored_returns_them_and_completes_their_history(
    stores, embedder, clock
) -> None:
    # Given a request (with its key) whose memories were stored but whose revisions were lost (its attempt
    # failed after the memory transaction, and the undo failed too)
    first = create(stores, embedder, clock, batch(60), "batch:k-1")
    for memory in first:
        stores.memories.history.pop((TENANT, memory.id))
    calls = embedder.call_count

    # When the same request is sent again
    again = create(stores, embedder, clock, batch(60), "batch:k-1")

    # Then the stored memories are returned (no second copy, no embedding call), each with its revision
    assert again == first and len(stores.memories.items) == 60
    assert embedder.call_count == calls
    for memory in first:
        [revision] = stores.memories.revisions(TENANT, memory.id)
        assert (revision.id, revision.fact) == (memory.revision_id, memory.fact)


def test_ids_are_derived_from_the_tenant_the_key_and_the_body(stores, embedder, clock) -> None:
    items = batch(3)
    ids = request_ids(TENANT, "batch:k-1", items)
    assert ids == request_ids(TENANT, "batch:k-1", batch(3))
    assert len(set(ids)) == 3 and all(len(i) == 28 and int(i, 16) >= 0 for i in ids)
    for other in (
        request_ids("tenant-b", "batch:k-1", items),
        request_ids(TENANT, "batch:k-2", items),
        request_ids(TENANT, "create:k-1", items),
        request_ids(TENANT, "batch:k-1", batch(4)[1:]),
    ):
        assert not set(other) & set(ids)
    # And without a key every request gets new ids
    assert {m.id for m in create(stores, embedder, clock, items)}.isdisjoint(
        {m.id for m in create(stores, embedder, clock, items)}
    )
