"""Reindex on the local stack removes the documents of memories deleted while the stream's deletions
did not reach the index, and keeps every live memory searchable."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from engram import wiring

TENANT = "reindex-orphans"


class LosingDeletes:
    """The local index with the stream's deletions lost."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lost: list[str] = []

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        self.lost += list(memory_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def _found(client: Any, scope: dict[str, str]) -> list[str]:
    return sorted(m["memory"]["id"] for m in client.retrieve(scope, "tea", mode="lexical")["memories"])


def test_reindex_removes_the_documents_of_deleted_memories(scope, tenant_client, monkeypatch: pytest.MonkeyPatch):
    client = tenant_client(TENANT)
    kept = client.create(scope, "The user drinks green tea.")
    gone = client.create(scope, "The user drinks black tea.")
    _eventually(lambda: _found(client, scope) == sorted([kept["id"], gone["id"]]))

    # Given a deletion whose stream record never reaches the index
    losing = LosingDeletes(wiring.dependencies().index)
    monkeypatch.setattr(wiring.dependencies(), "index", losing)
    assert client.request("DELETE", f"/v1/memories/{gone['id']}")[0] == 204
    _eventually(lambda: gone["id"] in losing.lost)
    monkeypatch.undo()
    index = wiring.dependencies().index
    assert gone["id"] in index.revisions(TENANT, [gone["id"]])  # an orphan document

    # When the tenant is reindexed
    status, result = client.request("POST", "/_local/reindex", {"tenant_id": TENANT})

    # Then the orphan is removed and the live memory stays searchable
    assert status == 200 and result["removed"] == 1 and result["behind"] == 0, result
    assert index.revisions(TENANT, [gone["id"], kept["id"]]) == {kept["id"]: kept["revision_id"]}
    assert _found(client, scope) == [kept["id"]]
