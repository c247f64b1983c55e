"""The index is derived: while it is down nothing is lost and search fails clearly (503); it can be
rebuilt from DynamoDB alone with the same results."""

from __future__ import annotations

import time

from engram import wiring
from engram.errors import IndexUnavailable


def _search(api, scope, query):
    return [(m["memory"]["id"], m["score"]) for m in api.retrieve(scope, query, top_k=5)["memories"]]


def _eventually(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def test_index_down_means_503_for_search_while_writes_succeed_and_nothing_is_lost(api, scope, monkeypatch):
    deps = wiring.dependencies()

    class DownIndex:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise IndexUnavailable("scripted: the index is down")

            return fail

    monkeypatch.setattr(deps, "index", DownIndex())
    # writes still succeed (DynamoDB holds the truth) and listing still works
    created = api.create(scope, "The user plays the cello.")
    assert [m["memory"]["id"] for m in api.retrieve(scope)["memories"]] == [created["id"]]
    # similarity search fails clearly, never a stack trace
    status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "query": "cello"})
    assert status == 503 and body["error"]["code"] == "INDEX_UNAVAILABLE"
    # when the index is back, the stream's retries deliver what was written meanwhile
    monkeypatch.undo()
    _eventually(lambda: _search(api, scope, "cello") and _search(api, scope, "cello")[0][0] == created["id"])


def test_reindex_rebuilds_the_same_results_without_embedding_calls(api, scope, local_stack, monkeypatch):
    api.create_batch(
        [
            {"scope": scope, "fact": f}
            for f in ("The user lives in Lisbon.", "The user likes jazz.", "The user works as a nurse.")
        ]
    )
    _eventually(lambda: len(_search(api, scope, "user")) == 3)
    before = {q: _search(api, scope, q) for q in ("Where does the user live?", "music", "job")}
    # Given the index is lost
    wiring.dependencies().index.clear()
    assert _search(api, scope, "music") == []
    # When it is rebuilt (no embedding calls allowed)
    embedder = wiring.dependencies().embedder
    monkeypatch.setattr(embedder, "embed", lambda texts: (_ for _ in ()).throw(AssertionError("embedding call")))
    status, result = api.request("POST", "/_local/reindex", {})
    monkeypatch.undo()
    assert status == 200 and result["indexed"] >= 3
    # Then the same queries give the same results
    after = {q: _search(api, scope, q) for q in before}
    assert after == before
