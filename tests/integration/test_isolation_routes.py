"""Tenant isolation, route by route: with tenant B's key nothing of tenant A's can be read, listed,
changed, purged or rolled back, and the answer is 404 (not 403), so existence does not leak."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def tenants(tenant_client, scope):
    a, b = tenant_client("iso-a"), tenant_client("iso-b")
    memory = a.create(scope, "The user lives in Lisbon.", metadata={"k": "v"})
    operation = a.generate(scope, messages=[{"role": "user", "content": "I work as a nurse."}], wait_seconds=20)
    sid = f"session-{scope['user_id']}"
    a.request(
        "POST",
        f"/v1/sessions/{sid}/events",
        {"events": [{"event_id": "e1", "content": {"role": "user", "parts": [{"text": "I like tea."}]}}]},
    )
    a.request("PUT", "/v1/config", {"custom_topics": [{"label": "SECRET_TOPIC", "description": "A's"}]})
    deadline = time.monotonic() + 10
    while len(a.retrieve(scope, "user", top_k=10)["memories"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return a, b, memory, operation, sid


def test_b_gets_404_on_every_route_addressing_a_resource_of_a(tenants):
    a, b, memory, operation, sid = tenants
    mid = memory["id"]
    routes = [
        ("GET", f"/v1/memories/{mid}", None),
        ("PATCH", f"/v1/memories/{mid}", {"fact": "hijacked"}),
        ("DELETE", f"/v1/memories/{mid}", None),
        ("GET", f"/v1/memories/{mid}/revisions", None),
        ("POST", f"/v1/memories/{mid}/rollback", {"revision_id": memory["revision_id"]}),
        ("GET", f"/v1/operations/{operation['id']}", None),
        ("GET", f"/v1/sessions/{sid}/events", None),
        ("DELETE", f"/v1/sessions/{sid}", None),
    ]
    for method, path, body in routes:
        status, payload = b.request(method, path, body)
        assert status == 404, (method, path, payload)
        assert payload["error"]["code"] == "NOT_FOUND"
    # and A still has everything, unchanged
    assert a.get(mid)["fact"] == "The user lives in Lisbon."
    assert len(a.request("GET", f"/v1/sessions/{sid}/events")[1]["events"]) == 1


def test_b_lists_retrieves_and_purges_nothing_of_a_in_the_same_scope(tenants, scope):
    a, b, memory, _, _ = tenants
    assert b.retrieve(scope, "Where does the user live?")["memories"] == []
    assert b.retrieve(scope)["memories"] == []
    status, body = b.request("POST", "/v1/memories/retrieve", {"scope": scope, "filter": {"k": "v"}})
    assert status == 200 and body["memories"] == []
    assert b.request("POST", "/v1/memories/purge", {"scope": scope, "force": True})[1] == {"purge_count": 0}
    assert b.request("POST", "/v1/memories/purge", {"filter": {"k": "v"}, "force": True})[1] == {"purge_count": 0}
    assert len(a.retrieve(scope, "user", top_k=10)["memories"]) == 2


def test_b_generation_in_the_same_scope_never_consolidates_with_a(tenants, scope):
    a, b, memory, _, _ = tenants
    op = b.generate(scope, messages=[{"role": "user", "content": "I live in Porto."}], wait_seconds=20)
    assert [g["action"] for g in op["result"]["generated_memories"]] == ["CREATED"]
    assert op["usage"]["llm_calls"] == 1  # no neighbour from A: no consolidation call
    assert a.get(memory["id"])["fact"] == "The user lives in Lisbon."


def test_b_sessions_and_config_are_separate(tenants):
    a, b, _, _, sid = tenants
    # B appends an event with the same session id and event id: it lands in B's own session
    status, _ = b.request(
        "POST",
        f"/v1/sessions/{sid}/events",
        {"events": [{"event_id": "e1", "content": {"role": "user", "parts": [{"text": "B's event"}]}}]},
    )
    assert status == 201
    [b_event] = b.request("GET", f"/v1/sessions/{sid}/events")[1]["events"]
    [a_event] = a.request("GET", f"/v1/sessions/{sid}/events")[1]["events"]
    assert b_event["content"]["parts"][0]["text"] == "B's event"
    assert a_event["content"]["parts"][0]["text"] == "I like tea."
    assert b.request("GET", "/v1/config")[1]["custom_topics"] == []
