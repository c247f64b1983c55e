"""Every response stays under Lambda's limit (issue 10, item 10): a retrieve list page stops before the
response budget and its token continues right after the memories it holds; a search keeps the best that
fit. (The budget is made small here; ``MAX_RESPONSE_BYTES`` is 5 MB.)"""

from __future__ import annotations

from engram.logic import memories
from engram.models.api import RetrieveRequest
from engram.models.limits import fitting, wire_size
from engram.models.memory import NewMemory

TENANT = "t-1"
SCOPE = {"user_id": "u-1"}


def _create(stores, embedder, clock, count: int) -> list[str]:
    news = [NewMemory(scope=SCOPE, fact=f"The user likes tea number {i}. " + "x" * 1000) for i in range(count)]
    created = memories.create_memories(stores.memories, stores.configs, embedder, clock, TENANT, news)
    return [m.id for m in created]


def test_a_list_page_stops_before_the_budget_and_its_token_continues_after_it(
    stores, index, embedder, clock, monkeypatch
) -> None:
    # Given 10 memories of about 1 KB, and a response budget of about 3.5 of them
    ids = _create(stores, embedder, clock, 10)
    one = memories.retrieve(stores.memories, index, embedder, clock, TENANT, RetrieveRequest(scope=SCOPE, page_size=1))
    size = wire_size(one.memories[0].model_dump(mode="json"))
    monkeypatch.setattr(memories, "MAX_RESPONSE_BYTES", int(size * 3.5))

    # When the scope is listed 10 per page
    pages, token = [], None
    while True:
        request = RetrieveRequest(scope=SCOPE, page_size=10, page_token=token)
        answer = memories.retrieve(stores.memories, index, embedder, clock, TENANT, request)
        pages.append([m.memory.id for m in answer.memories])
        if (token := answer.next_page_token) is None:
            break

    # Then each page holds the 3 that fit, and together they hold every memory once, newest first
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    assert [memory_id for page in pages for memory_id in page] == sorted(ids, reverse=True)


def test_a_search_keeps_the_best_hits_that_fit(stores, index, embedder, clock, monkeypatch) -> None:
    # Given 10 memories and a budget of about 2.5 of them
    _create(stores, embedder, clock, 10)
    request = RetrieveRequest(scope=SCOPE, query="tea", top_k=10, mode="lexical")
    full = memories.retrieve(stores.memories, index, embedder, clock, TENANT, request).memories
    monkeypatch.setattr(memories, "MAX_RESPONSE_BYTES", int(wire_size(full[0].model_dump(mode="json")) * 2.5))

    # When the same search runs, Then it returns the two best hits, in order
    cut = memories.retrieve(stores.memories, index, embedder, clock, TENANT, request).memories
    assert cut == full[:2]


def test_fitting_always_keeps_one_item() -> None:
    assert fitting([{"a": "x" * 100}], 10) == 1
    assert fitting([], 10) == 0
    assert fitting([{"a": 1}] * 3, 10_000) == 3
