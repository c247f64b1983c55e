"""Idempotency-Key on mutating routes: replay, body mismatch (422), concurrent duplicate (409)."""

from __future__ import annotations

import threading
import time
import uuid


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


def test_same_key_and_body_replays_the_first_response_without_a_second_write(api, scope):
    headers = _key()
    body = {"scope": scope, "fact": "The user likes oolong tea."}
    first = api.request("POST", "/v1/memories", body, headers=headers)
    second = api.request("POST", "/v1/memories", body, headers=headers)
    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert len(api.retrieve(scope)["memories"]) == 1


def test_generate_replay_returns_the_same_operation(api, scope):
    headers = _key()
    body = {"scope": scope, "messages": [{"role": "user", "content": "I live in Lisbon."}]}
    first = api.request("POST", "/v1/memories/generate", body, headers=headers)
    second = api.request("POST", "/v1/memories/generate", body, headers=headers)
    assert first[1]["id"] == second[1]["id"]
    api.wait(first[1]["id"])
    assert len(api.retrieve(scope)["memories"]) == 1


def test_same_key_with_another_body_is_422(api, scope):
    headers = _key()
    assert api.request("POST", "/v1/memories", {"scope": scope, "fact": "a"}, headers=headers)[0] == 201
    status, body = api.request("POST", "/v1/memories", {"scope": scope, "fact": "b"}, headers=headers)
    assert status == 422 and body["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert [m["memory"]["fact"] for m in api.retrieve(scope)["memories"]] == ["a"]


def test_keys_are_scoped_by_tenant_and_route(api, scope, tenant_client):
    headers = _key()
    other = tenant_client("idem-other")
    assert api.request("POST", "/v1/memories", {"scope": scope, "fact": "mine"}, headers=headers)[0] == 201
    status, created = other.request("POST", "/v1/memories", {"scope": scope, "fact": "theirs"}, headers=headers)
    assert status == 201 and created["fact"] == "theirs"
    status, _ = api.request(
        "POST", "/v1/memories/batch", {"memories": [{"scope": scope, "fact": "x"}]}, headers=headers
    )
    assert status == 201


def test_a_concurrent_duplicate_is_409(api, scope, local_stack):
    headers = _key()
    body = {"scope": scope, "messages": [{"role": "user", "content": "I live in Lisbon."}], "wait_seconds": 4}
    # Given the first request is still running (it waits for a slow workflow)
    local_stack.runtime.before_invoke = lambda fn, event: time.sleep(1.0) if fn == "ExtractFunction" else None
    results = {}
    try:
        thread = threading.Thread(
            target=lambda: results.setdefault(
                "first", api.request("POST", "/v1/memories/generate", body, headers=headers)
            )
        )
        thread.start()
        time.sleep(0.8)
        # When the same request arrives meanwhile
        status, payload = api.request("POST", "/v1/memories/generate", body, headers=headers)
        thread.join()
    finally:
        local_stack.runtime.before_invoke = None
    # Then it is refused with 409 and the first one completes normally
    assert status == 409 and payload["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert results["first"][0] in (200, 202)


def test_invalid_key_is_422(api, scope):
    status, _ = api.request("POST", "/v1/memories", {"scope": scope, "fact": "a"}, headers={"Idempotency-Key": "a b"})
    assert status == 422


def test_delete_replay_is_204_not_404(api, scope):
    memory = api.create(scope, "to delete")
    headers = _key()
    assert api.request("DELETE", f"/v1/memories/{memory['id']}", headers=headers)[0] == 204
    assert api.request("DELETE", f"/v1/memories/{memory['id']}", headers=headers)[0] == 204
    assert api.request("DELETE", f"/v1/memories/{memory['id']}")[0] == 404
