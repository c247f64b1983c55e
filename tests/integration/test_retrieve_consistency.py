"""Retrieve on the local stack never serves a memory whose stored copy no longer satisfies the request,
however far the index lags behind a PATCH (the index ranks; the answer comes from DynamoDB)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from engram import wiring
from engram.models.index import IndexDocument


class HeldIndex:
    """The local index with the stream's upserts held back (so it keeps the copies it has)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.held: list[IndexDocument] = []

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        self.held.extend(documents)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def held_index(monkeypatch: pytest.MonkeyPatch, local_stack: Any) -> Iterator[HeldIndex]:
    held = HeldIndex(wiring.dependencies().index)
    monkeypatch.setattr(wiring.dependencies(), "index", held)
    yield held
    monkeypatch.undo()
    held.inner.upsert(held.held)


def _eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def _found(api: Any, scope: dict[str, str], **fields: Any) -> list[str]:
    return [m["memory"]["id"] for m in api.retrieve(scope, "diary", **fields)["memories"]]


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_a_memory_made_private_is_not_returned_to_a_public_filter(api, scope, request, mode):
    # Given a public memory, indexed
    memory = api.create(scope, "The user keeps a diary.", metadata={"visibility": "public"})
    _eventually(lambda: _found(api, scope, mode=mode) == [memory["id"]])
    # And the index stops receiving changes
    request.getfixturevalue("held_index")

    # When it is made private, and the scope is searched for public memories right away
    status, _ = api.request("PATCH", f"/v1/memories/{memory['id']}", {"metadata": {"visibility": "private"}})
    assert status == 200
    found = [_found(api, scope, mode=mode, filter={"visibility": "public"}) for _ in range(5)]

    # Then it is never returned (the index's copy still says public), while a private filter finds nothing
    # either until the index catches up: no answer contradicts the stored copy
    assert found == [[]] * 5
    assert _found(api, scope, mode=mode, filter={"visibility": "private"}) == []
