"""HTTP API → authorizer → API handler → DynamoDB (moto) → stream → index, on the local stack."""

from __future__ import annotations

import time
import uuid


def _eventually(check, timeout: float = 10.0):
    """Retry ``check`` until it returns a truthy value (the index is fed asynchronously from the stream)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_create_then_get_returns_the_memory(api, scope):
    # Given / When a memory is created directly
    status, created = api.request(
        "POST",
        "/v1/memories",
        {
            "scope": scope,
            "fact": "  The user likes jazz.  ",
            "topics": ["USER_PREFERENCES"],
            "metadata": {"src": "test"},
        },
    )
    # Then it is returned with its id, stripped fact and revision, and can be read back
    assert status == 201
    assert created["fact"] == "The user likes jazz."
    assert created["scope"] == scope and created["metadata"] == {"src": "test"}
    status, fetched = api.request("GET", f"/v1/memories/{created['id']}")
    assert status == 200
    assert fetched == created


def test_get_unknown_memory_is_404_with_error_shape(api):
    status, body = api.request("GET", "/v1/memories/does-not-exist")
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


def test_batch_create_then_similarity_retrieve_ranks_the_relevant_memory_first(api, scope):
    # Given three memories created in one batch
    facts = ["The user lives in Lisbon.", "The user likes jazz.", "The user works as a nurse."]
    status, body = api.request("POST", "/v1/memories/batch", {"memories": [{"scope": scope, "fact": f} for f in facts]})
    assert status == 201
    assert [m["memory"]["fact"] for m in body["memories"]] == facts

    # When asking where the user lives (once the stream has indexed them)
    def ranked():
        found = api.retrieve(scope, "Where does the user live?", top_k=3)["memories"]
        return found if len(found) == 3 else None

    found = _eventually(ranked)
    # Then the Lisbon memory comes first, with scores in descending order
    assert found is not None
    assert found[0]["memory"]["fact"] == "The user lives in Lisbon."
    scores = [m["score"] for m in found]
    assert scores == sorted(scores, reverse=True)


def test_retrieve_top_k_limits_results(api, scope):
    api.create_batch([{"scope": scope, "fact": f"The user owns book number {i}."} for i in range(5)])
    found = _eventually(lambda: len(api.retrieve(scope, "book", top_k=100)["memories"]) == 5)
    assert found
    assert len(api.retrieve(scope, "book", top_k=2)["memories"]) == 2


def test_list_mode_is_newest_first_and_paginates(api, scope):
    # Given three memories created one after the other
    for fact in ("first fact", "second fact", "third fact"):
        api.create(scope, fact)
        time.sleep(0.01)
    # When listing two per page (no query)
    page1 = api.retrieve(scope, page_size=2)
    page2 = api.retrieve(scope, page_size=2, page_token=page1["next_page_token"])
    # Then the newest come first and the second page holds the rest
    assert [m["memory"]["fact"] for m in page1["memories"]] == ["third fact", "second fact"]
    assert all(m["score"] is None for m in page1["memories"])
    assert [m["memory"]["fact"] for m in page2["memories"]] == ["first fact"]
    assert page2.get("next_page_token") is None


def test_scope_is_matched_exactly_and_order_independently(api):
    scope_ab = {"user_id": f"u-{uuid.uuid4().hex[:8]}", "agent": "chef"}
    created = api.create(scope_ab, "The user likes basil.")
    reordered = dict(reversed(list(scope_ab.items())))
    listed = api.retrieve(reordered)["memories"]
    assert [m["memory"]["id"] for m in listed] == [created["id"]]
    # A sub-scope is a different scope
    assert api.retrieve({"user_id": scope_ab["user_id"]})["memories"] == []


def test_bad_requests_get_clear_4xx_errors_and_store_nothing(api, scope):
    cases = [
        ({"fact": "no scope"}, 422),
        ({"scope": {}, "fact": "empty scope"}, 422),
        ({"scope": scope, "fact": "   "}, 422),
        ({"scope": scope, "fact": "x" * 2001}, 422),
        ({"scope": scope, "fact": "ok", "unexpected": 1}, 422),
    ]
    for body, expected in cases:
        status, payload = api.request("POST", "/v1/memories", body)
        assert status == expected, (body, payload)
        assert set(payload["error"]) == {"code", "message"}
        assert "Traceback" not in payload["error"]["message"]
    assert api.retrieve(scope)["memories"] == []


def test_invalid_json_is_400(api):
    import urllib.request

    request = urllib.request.Request(
        api.base_url + "/v1/memories",
        data=b"{not json",
        method="POST",
        headers={"Authorization": f"Bearer {api.api_key}", "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request)
        raise AssertionError("expected an HTTP error")
    except urllib.error.HTTPError as error:
        assert error.code == 400
        assert b"INVALID_JSON" in error.read()


def test_retrieve_bounds(api, scope):
    for top_k in (0, 101):
        status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "query": "x", "top_k": top_k})
        assert status == 422 and body["error"]["code"] == "INVALID_ARGUMENT"
    status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "page_token": "@@not-a-token"})
    assert status == 400 and "page_token" in body["error"]["message"]


def test_batch_bounds(api, scope):
    status, _ = api.request("POST", "/v1/memories/batch", {"memories": []})
    assert status == 422
    status, _ = api.request("POST", "/v1/memories/batch", {"memories": [{"scope": scope, "fact": "f"}] * 101})
    assert status == 422


def test_unknown_route_is_404(api):
    status, body = api.request("GET", "/v1/nothing-here")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"


def test_direct_create_keeps_client_provenance(api, scope):
    created = api.create(scope, "The user adopted a cat.", source={"event_ids": ["D1:3"]})
    assert created["source"] == {"operation_id": None, "event_ids": ["D1:3"], "memory_ids": []}
    status, body = api.request("POST", "/v1/memories", {"scope": scope, "fact": "x", "source": {"operation_id": "o"}})
    assert status == 422
