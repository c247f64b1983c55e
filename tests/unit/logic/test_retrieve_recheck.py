"""Retrieve answers from the store's copy, never from the index's: every memory returned satisfies the
request's scope, filter, topics and expiry as of the copy returned, and ``top_k`` still fills when the
index ranks memories whose copy in the store no longer matches (``engram.logic.memories.retrieve``)."""

from __future__ import annotations

from typing import Any

import pytest
from engram.logic.memories import MAX_FETCH, MAX_SEARCH_ROUNDS, create_memories, retrieve, update_memory
from engram.models.api import RetrieveRequest, UpdateMemoryRequest
from engram.models.memory import NewMemory

TENANT = "tenant-a"
SCOPE = {"user_id": "u-1"}


def create(stores: Any, embedder: Any, clock: Any, *facts: str, **fields: Any) -> list[Any]:
    batch = [NewMemory(scope=SCOPE, fact=fact, **fields) for fact in facts]
    return create_memories(stores.memories, stores.configs, embedder, clock, TENANT, batch)


def patch(stores: Any, embedder: Any, clock: Any, memory_id: str, **fields: Any) -> None:
    update_memory(stores.memories, stores.configs, embedder, clock, TENANT, memory_id, UpdateMemoryRequest(**fields))


def ask(stores: Any, index: Any, embedder: Any, clock: Any, **fields: Any) -> list[str]:
    request = RetrieveRequest.model_validate({"scope": SCOPE, **fields})
    return [m.memory.id for m in retrieve(stores.memories, index, embedder, clock, TENANT, request).memories]


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_a_memory_made_private_is_not_found_by_a_public_filter_while_the_index_lags(
    stores, index, embedder, clock, mode
) -> None:
    # Given a public memory, then made private while the index still holds the public copy
    [memory] = create(stores, embedder, clock, "The user keeps a diary.", metadata={"visibility": "public"})
    index.lag = True
    patch(stores, embedder, clock, memory.id, metadata={"visibility": "private"})

    # When the scope is searched for public memories
    found = ask(stores, index, embedder, clock, query="diary", mode=mode, filter={"visibility": "public"})

    # Then the index ranked it (its copy is stale), but the private memory is not returned
    assert memory.id in [hit.memory_id for hit in index.search(index.queries[0])]
    assert found == []


def test_top_k_still_fills_when_the_best_hits_no_longer_match(stores, index, embedder, clock) -> None:
    # Given six public memories about tea, the three best ranked made private while the index lags
    memories = create(
        stores,
        embedder,
        clock,
        *[f"The user drinks tea {'tea ' * (6 - i)}daily." for i in range(6)],
        metadata={"visibility": "public"},
    )
    index.lag = True
    stale = ask(stores, index, embedder, clock, query="tea", mode="lexical", top_k=3)
    for memory_id in stale:
        patch(stores, embedder, clock, memory_id, metadata={"visibility": "private"})
    index.queries.clear()

    # When the top 3 public memories are asked for
    found = ask(stores, index, embedder, clock, query="tea", mode="lexical", top_k=3, filter={"visibility": "public"})

    # Then three public memories come back (none of the private ones), after asking the index for more
    assert len(found) == 3 and not set(found) & set(stale)
    assert set(found) <= {m.id for m in memories}
    assert [q.k for q in index.queries] == [3, 6]


def test_a_memory_whose_topics_changed_is_not_returned_for_its_old_topic(stores, index, embedder, clock) -> None:
    # Given a memory about work, moved to another topic while the index lags
    [memory] = create(stores, embedder, clock, "The user works night shifts.", topics=["WORK"])
    index.lag = True
    patch(stores, embedder, clock, memory.id, topics=["HEALTH"])

    # When the scope is searched for the old topic, Then it is not returned; for the new one it is
    assert ask(stores, index, embedder, clock, query="night shifts", mode="lexical", topics=["WORK"]) == []
    assert ask(stores, index, embedder, clock, query="night shifts", mode="lexical", topics=["HEALTH"]) == []
    index.catch_up()
    assert ask(stores, index, embedder, clock, query="night shifts", mode="lexical", topics=["HEALTH"]) == [memory.id]


def test_the_search_for_more_is_bounded(stores, index, embedder, clock) -> None:
    # Given many matching memories in the index, none of which matches in the store any more
    memories = create(stores, embedder, clock, *[f"Fact number {i} about tea." for i in range(40)], metadata={"v": 1})
    index.lag = True
    for memory in memories:
        patch(stores, embedder, clock, memory.id, metadata={"v": 2})
    index.queries.clear()

    # When the scope is searched with a filter only the stale copies match
    found = ask(stores, index, embedder, clock, query="tea", mode="lexical", top_k=5, filter={"v": 1})

    # Then nothing is returned, after a bounded number of index queries of bounded size
    assert found == []
    assert len(index.queries) <= MAX_SEARCH_ROUNDS
    assert all(q.k <= MAX_FETCH for q in index.queries)
    assert [q.k for q in index.queries] == [5, 10, 20]


class StaleListing:
    """A ``MemoryRepository`` whose pages ignore the filter (as a store answering from a copy older than the
    filter would): what retrieve must not trust."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def page(self, tenant_id: str, scope: Any, page_size: int, page_token: Any, filter: Any = None) -> Any:
        return self.inner.page(tenant_id, scope, page_size, page_token, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_listed_memory_satisfies_the_filter_and_topics_as_of_the_copy_returned(
    stores, index, embedder, clock
) -> None:
    # Given a public and a private memory, and a store whose pages ignore the filter
    [public, _private] = [
        *create(stores, embedder, clock, "Public fact.", metadata={"visibility": "public"}, topics=["A"]),
        *create(stores, embedder, clock, "Private fact.", metadata={"visibility": "private"}, topics=["A"]),
    ]
    request = RetrieveRequest.model_validate({"scope": SCOPE, "filter": {"visibility": "public"}, "topics": ["A"]})

    # When the scope is listed with the filter
    response = retrieve(StaleListing(stores.memories), index, embedder, clock, TENANT, request)

    # Then only the memory whose returned copy matches is listed
    assert [m.memory.id for m in response.memories] == [public.id]
