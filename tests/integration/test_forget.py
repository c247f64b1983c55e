"""Forgetting over HTTP on the local stack (issue 10, item 11): ``POST /v1/forget`` deletes a scope
everywhere, its receipt holds no content and stays readable, no read route returns anything of the scope
afterwards, a forget out of time is resumed by the same request, and operations expire."""

from __future__ import annotations

import time
import uuid

import pytest
from engram import wiring
from engram.logic import forget as forget_logic
from engram.models.scope import scope_hash

SEARCH_MODES = ("hybrid", "dense", "lexical")


def _wait(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _scope_with_everything(api, scope: dict[str, str], session_id: str) -> dict[str, object]:
    """Memories created, updated and deleted directly; a generation (its request holds the conversation);
    a session of two events. Waits until the index holds the live memories."""
    tea, porto = (
        api.create(scope, fact, metadata={"lang": "en"})["id"]
        for fact in ("The user likes tea.", "The user was in Porto.")
    )
    assert api.request("PATCH", f"/v1/memories/{tea}", {"fact": "The user likes green tea."})[0] == 200
    assert api.request("DELETE", f"/v1/memories/{porto}")[0] == 204
    conversation = [{"role": "user", "content": "I live in Lisbon and I love jazz."}]
    operation = api.generate(scope, messages=conversation, wait_seconds=20)
    assert operation["status"] == "SUCCEEDED", operation
    generated = [g["memory"]["id"] for g in operation["result"]["generated_memories"]]
    events = {"events": [{"content": {"role": "user", "parts": [{"text": t}]}} for t in ("I live in Lisbon.", "Jazz!")]}
    assert api.request("POST", f"/v1/sessions/{session_id}/events", events)[0] == 201
    live = [tea, *generated]
    _wait(lambda: len(api.retrieve(scope, "user", mode="lexical", top_k=10)["memories"]) == len(live))
    return {"live": live, "deleted": porto, "operation": operation["id"]}


def test_after_a_forget_no_route_returns_anything_of_the_scope(api, scope, tenant_client):
    # Given a scope with memories (live, updated, deleted), a generation and a session, and another scope
    session_id = f"chat-{uuid.uuid4().hex[:8]}"
    made = _scope_with_everything(api, scope, session_id)
    other = api.create({"user_id": f"other-{uuid.uuid4().hex[:8]}"}, "The user likes tea.")

    # When the scope is forgotten with its session
    status, receipt = api.request("POST", "/v1/forget", {"scope": scope, "session_ids": [session_id]})

    # Then the receipt counts what was deleted, and names the scope only by its hash
    assert status == 200, receipt
    assert set(receipt) == {"receipt_id", "scope_hash", "counts", "requested_at", "completed_at"}
    assert receipt["scope_hash"] == scope_hash(scope) and receipt["completed_at"] is not None
    counts = receipt["counts"]
    assert counts["memories"] == len(made["live"]) and counts["index_documents"] == len(made["live"])
    assert counts["revisions"] >= len(made["live"]) + 3  # tea: created + updated; porto: created + deleted
    assert (counts["operations"], counts["session_events"]) == (1, 2)
    assert counts["blobs"] == 3  # the request, the loaded conversation, the candidate facts
    assert scope["user_id"] not in str(receipt) and "Lisbon" not in str(receipt)
    # and no read route returns anything of the scope
    for memory_id in [*made["live"], made["deleted"]]:
        assert api.request("GET", f"/v1/memories/{memory_id}")[0] == 404
        assert api.request("GET", f"/v1/memories/{memory_id}/revisions")[0] == 404
        assert api.request("POST", f"/v1/memories/{memory_id}/rollback", {"revision_id": "x"})[0] == 404
    assert api.retrieve(scope)["memories"] == []
    for mode in SEARCH_MODES:
        assert api.retrieve(scope, "user tea jazz Lisbon", mode=mode)["memories"] == []
    assert api.request("GET", f"/v1/operations/{made['operation']}")[0] == 404
    assert api.request("GET", f"/v1/sessions/{session_id}/events")[0] == 404
    assert api.request("POST", "/v1/memories/purge", {"scope": scope})[1] == {"purge_count": 0}
    # nor does the index or the table hold it
    deps = wiring.dependencies()
    assert deps.index.revisions("dev", made["live"]) == {}
    assert deps.operations.get_blob("dev", made["operation"], "REQ") is None
    # The receipt stays readable (to its tenant only), and the other scope is untouched
    assert api.request("GET", f"/v1/forget/{receipt['receipt_id']}") == (200, receipt)
    assert tenant_client("forget-other").request("GET", f"/v1/forget/{receipt['receipt_id']}")[0] == 404
    assert api.request("GET", f"/v1/forget/{uuid.uuid4().hex}")[0] == 404
    assert api.request("GET", f"/v1/memories/{other['id']}")[0] == 200


def test_a_forget_out_of_time_answers_202_and_the_same_request_finishes_it(api, scope, monkeypatch):
    # Given a scope with memories, and a forget that has no time to work
    api.create_batch([{"scope": scope, "fact": f"Fact {i}."} for i in range(5)])
    body, key = {"scope": scope}, {"Idempotency-Key": f"forget-{uuid.uuid4().hex}"}
    monkeypatch.setattr(forget_logic, "FORGET_SECONDS", 0.0)

    # When it is sent, Then it is accepted in progress (202), nothing counted yet
    status, partial = api.request("POST", "/v1/forget", body, headers=key)
    assert status == 202 and partial["completed_at"] is None, partial
    assert api.request("GET", f"/v1/forget/{partial['receipt_id']}") == (200, partial)

    # When it is sent again with the same Idempotency-Key and time to work
    monkeypatch.setattr(forget_logic, "FORGET_SECONDS", 20.0)
    status, done = api.request("POST", "/v1/forget", body, headers=key)

    # Then it finishes the same receipt, and a replay returns it unchanged
    assert status == 200 and done["receipt_id"] == partial["receipt_id"], done
    assert done["counts"]["memories"] == 5 and done["completed_at"] is not None
    assert api.request("POST", "/v1/forget", body, headers=key) == (200, done)
    assert api.retrieve(scope)["memories"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"scope": {}}, {"scope": {"user_id": "u"}, "session_ids": ["ok"] * 101}, {"scope": {"user_id": "u"}, "x": 1}],
    ids=["no-scope", "empty-scope", "too-many-sessions", "unknown-field"],
)
def test_a_bad_forget_request_is_422(api, body):
    assert api.request("POST", "/v1/forget", body)[0] == 422


def test_operations_and_their_documents_expire_after_the_operation_ttl(api, scope, clock, local_stack):
    # Given a finished generation (its request and documents stored)
    operation = api.generate(scope, messages=[{"role": "user", "content": "I love jazz."}], wait_seconds=20)
    assert operation["status"] == "SUCCEEDED", operation
    deps = wiring.dependencies()
    assert deps.operations.get_blob("dev", operation["id"], "REQ") is not None

    # When 31 days pass (the default operation TTL is 30) and retention runs
    clock.advance(31 * 86_400)
    result = local_stack.runtime.invoke("RetentionFunction", {"max_items": 5000})

    # Then the operation and every document stored with it are gone
    assert result["operations"] >= 1
    assert api.request("GET", f"/v1/operations/{operation['id']}")[0] == 404
    for name in ("REQ", "SOURCE", "CAND"):
        assert deps.operations.get_blob("dev", operation["id"], name) is None
