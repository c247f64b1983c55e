"""Retrieval modes through the HTTP API on the local stack: dense, lexical and hybrid (the default)."""

from __future__ import annotations

import time

FACTS = [
    "The user plays the saxophone in a jazz band.",
    "The user lives in Lisbon.",
    "The user is allergic to peanuts.",
]


def _indexed(api, scope, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(api.retrieve(scope, "user", top_k=100, mode="dense")["memories"]) < count:
        assert time.monotonic() < deadline, "memories were not indexed in time"
        time.sleep(0.1)


def test_lexical_mode_returns_only_memories_sharing_a_word(api, scope):
    # Given three memories, indexed
    api.create_batch([{"scope": scope, "fact": fact} for fact in FACTS])
    _indexed(api, scope, len(FACTS))
    # When searching lexically for a word that only one of them has (in another form: "peanut")
    found = api.retrieve(scope, "peanut allergy", mode="lexical")["memories"]
    # Then only that memory comes back, with a positive BM25 score
    assert [m["memory"]["fact"] for m in found] == ["The user is allergic to peanuts."]
    assert found[0]["score"] > 0


def test_hybrid_is_the_default_and_scores_within_zero_and_one(api, scope):
    # Given three memories, indexed
    api.create_batch([{"scope": scope, "fact": fact} for fact in FACTS])
    _indexed(api, scope, len(FACTS))
    # When searching without a mode
    default = api.retrieve(scope, "Where does the user live? Lisbon", top_k=3)["memories"]
    hybrid = api.retrieve(scope, "Where does the user live? Lisbon", top_k=3, mode="hybrid")["memories"]
    # Then the answer is the hybrid one: the Lisbon memory first with 1.0, every score in [0, 1]
    assert default == hybrid
    assert default[0]["memory"]["fact"] == "The user lives in Lisbon."
    assert default[0]["score"] == 1.0
    assert all(0.0 <= m["score"] <= 1.0 for m in default)


def test_dense_mode_scores_are_cosine_similarities(api, scope):
    # Given three memories, indexed
    api.create_batch([{"scope": scope, "fact": fact} for fact in FACTS])
    _indexed(api, scope, len(FACTS))
    # When searching in dense mode
    found = api.retrieve(scope, "Where does the user live?", top_k=3, mode="dense")["memories"]
    # Then all three come back, by descending cosine similarity in [-1, 1]
    scores = [m["score"] for m in found]
    assert len(found) == 3 and scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)


def test_unknown_mode_is_rejected_with_422(api, scope):
    status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "query": "x", "mode": "fuzzy"})
    assert status == 422
    assert "mode" in body["error"]["message"]
