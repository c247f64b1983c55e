"""Sessions (short-term memory), tenant config, TTL and scheduled retention, generate sources."""

from __future__ import annotations

import time

from engram import wiring


def _event(text, role="user", event_id=None, timestamp=None):
    event = {"content": {"role": role, "parts": [{"text": text}]}}
    if event_id:
        event["event_id"] = event_id
    if timestamp:
        event["timestamp"] = timestamp
    return event


def test_session_events_append_idempotently_and_list_with_filters(api, scope):
    sid = f"s-{scope['user_id']}"
    batch = {
        "events": [
            _event("Hi, I live in Lisbon.", event_id="e1", timestamp="2026-01-01T10:00:00Z"),
            _event("Hello!", role="model", event_id="e2", timestamp="2026-01-01T10:00:05Z"),
            _event("My favorite color is green.", event_id="e3", timestamp="2026-01-01T10:01:00Z"),
        ]
    }
    status, body = api.request("POST", f"/v1/sessions/{sid}/events", batch)
    assert status == 201 and [e["event_id"] for e in body["events"]] == ["e1", "e2", "e3"]
    # re-sending the same batch stores nothing new
    assert api.request("POST", f"/v1/sessions/{sid}/events", batch)[0] == 201
    events = api.request("GET", f"/v1/sessions/{sid}/events")[1]["events"]
    assert [e["event_id"] for e in events] == ["e1", "e2", "e3"]
    assert events[1]["content"]["role"] == "assistant"
    assert [e["event_id"] for e in api.request("GET", f"/v1/sessions/{sid}/events?limit=2")[1]["events"]] == [
        "e2",
        "e3",
    ]
    assert [e["event_id"] for e in api.request("GET", f"/v1/sessions/{sid}/events?role=user")[1]["events"]] == [
        "e1",
        "e3",
    ]
    window = f"/v1/sessions/{sid}/events?start_time=2026-01-01T10:00:05Z&end_time=2026-01-01T10:01:00Z"
    assert [e["event_id"] for e in api.request("GET", window)[1]["events"]] == ["e2"]
    assert api.request("GET", f"/v1/sessions/{sid}/events?limit=0")[0] == 422
    assert api.request("GET", f"/v1/sessions/{sid}/events?role=robot")[0] == 422
    assert api.request("POST", f"/v1/sessions/{sid}/events", {"events": []})[0] == 422

    # generate from the session: provenance names the session's event ids
    operation = api.generate(scope, session={"session_id": sid}, wait_seconds=20)
    assert operation["status"] == "SUCCEEDED", operation
    by_fact = {
        g["memory"]["fact"]: g["memory"]["source"]["event_ids"] for g in operation["result"]["generated_memories"]
    }
    assert by_fact == {"The user lives in Lisbon.": ["e1"], "The user's favorite color is green.": ["e3"]}

    assert api.request("DELETE", f"/v1/sessions/{sid}")[0] == 204
    assert api.request("GET", f"/v1/sessions/{sid}/events")[0] == 404
    assert api.request("DELETE", f"/v1/sessions/{sid}")[0] == 404


def test_generate_from_facts_makes_no_extraction_call_and_consolidates(api, scope):
    first = api.generate(
        scope, facts=[{"fact": "The user lives in Lisbon.", "topics": ["USER_PERSONAL_INFO"]}], wait_seconds=20
    )
    assert first["status"] == "SUCCEEDED" and first["usage"]["llm_calls"] == 0
    assert [g["action"] for g in first["result"]["generated_memories"]] == ["CREATED"]
    second = api.generate(scope, facts=[{"fact": "The user lives in Porto."}], wait_seconds=20)
    assert [g["action"] for g in second["result"]["generated_memories"]] == ["UPDATED"]
    assert second["usage"]["llm_calls"] == 1  # consolidation only


def test_disable_consolidation_creates_even_when_a_neighbour_exists(api, scope):
    api.generate(scope, facts=[{"fact": "The user lives in Lisbon."}], wait_seconds=20)
    op = api.generate(scope, facts=[{"fact": "The user lives in Porto."}], disable_consolidation=True, wait_seconds=20)
    assert [g["action"] for g in op["result"]["generated_memories"]] == ["CREATED"]
    assert op["usage"]["llm_calls"] == 0
    assert len(api.retrieve(scope)["memories"]) == 2


def test_metadata_merge_strategies(api, scope):
    api.generate(scope, facts=[{"fact": "The user lives in Lisbon."}], metadata={"app": "a", "v": 1}, wait_seconds=20)
    merged = api.generate(scope, facts=[{"fact": "The user lives in Porto."}], metadata={"v": 2}, wait_seconds=20)
    [g] = merged["result"]["generated_memories"]
    assert g["action"] == "UPDATED" and g["memory"]["metadata"] == {"app": "a", "v": 2}
    over = api.generate(
        scope,
        facts=[{"fact": "The user lives in Faro."}],
        metadata={"x": True},
        metadata_merge_strategy="OVERWRITE",
        wait_seconds=20,
    )
    [g] = over["result"]["generated_memories"]
    assert g["action"] == "UPDATED" and g["memory"]["metadata"] == {"x": True}
    exact = api.generate(
        scope,
        facts=[{"fact": "The user lives in Braga."}],
        metadata={"x": False},
        metadata_merge_strategy="REQUIRE_EXACT_MATCH",
        wait_seconds=20,
    )
    [g] = exact["result"]["generated_memories"]
    assert g["action"] == "CREATED"  # the only neighbour has other metadata


def test_config_round_trip_and_validation(tenant_client, scope):
    client = tenant_client("tenant-config")
    status, default = client.request("GET", "/v1/config")
    assert status == 200 and len(default["managed_topics"]) == 4
    assert default["ttl"]["revision_ttl_seconds"] == 365 * 86400
    config = {
        "managed_topics": ["USER_PREFERENCES"],
        "custom_topics": [{"label": "FOOD", "description": "What the user eats"}],
        "examples": [{"conversation": [{"role": "user", "content": "nice weather"}], "facts": []}],
        "ttl": {"create_ttl_seconds": 3600},
    }
    status, saved = client.request("PUT", "/v1/config", config)
    assert status == 200 and saved["custom_topics"] == config["custom_topics"]
    assert client.request("GET", "/v1/config")[1] == saved
    # the extractor only gets the enabled topics: a personal-info statement yields nothing now
    op = client.generate(
        scope, messages=[{"role": "user", "content": "I live in Lisbon. I love jazz."}], wait_seconds=20
    )
    assert [g["memory"]["fact"] for g in op["result"]["generated_memories"]] == ["The user loves jazz."]
    # direct creates get the default TTL
    memory = client.create(scope, "x")
    assert memory["expire_time"] is not None
    for bad in (
        {"custom_topics": [{"label": "USER_PREFERENCES", "description": "dup"}]},
        {"ttl": {"create_ttl_seconds": 1}},
        {"managed_topics": ["NOPE"]},
        {"unknown": 1},
    ):
        assert client.request("PUT", "/v1/config", bad)[0] == 422, bad


def test_expired_memories_are_hidden_then_deleted_by_retention(api, scope, clock, local_stack):
    keep = api.create(scope, "The user likes tea.")
    short = api.create(scope, "The user is in a meeting.", ttl_seconds=60)
    assert short["expire_time"] is not None and keep["expire_time"] is None
    deadline = time.monotonic() + 10
    while len(api.retrieve(scope, "user", top_k=10)["memories"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    # When two minutes pass, the expired memory is never returned, even before it is deleted
    clock.advance(120)
    assert api.request("GET", f"/v1/memories/{short['id']}")[0] == 404
    assert [m["memory"]["id"] for m in api.retrieve(scope, "user", top_k=10)["memories"]] == [keep["id"]]
    assert [m["memory"]["id"] for m in api.retrieve(scope)["memories"]] == [keep["id"]]
    # And the scheduled retention deletes it for real (idempotently)
    result = local_stack.runtime.invoke("RetentionFunction", {"max_items": 5000})
    assert result["memories"] >= 1
    assert wiring.dependencies().memories.get("dev", short["id"]) is None
    assert wiring.dependencies().memories.get("dev", keep["id"]) is not None
    again = local_stack.runtime.invoke("RetentionFunction", {"max_items": 5000})
    assert again["memories"] == 0


def test_retention_is_bounded_and_resumable(api, scope, clock, local_stack):
    api.create_batch([{"scope": scope, "fact": f"short {i}", "ttl_seconds": 60} for i in range(5)])
    clock.advance(3600)
    first = local_stack.runtime.invoke("RetentionFunction", {"max_items": 2})
    assert first["memories"] + first["revisions"] + first["session_events"] + first["other"] == 2
    assert first["more"] is True
    rest = local_stack.runtime.invoke("RetentionFunction", {"max_items": 5000})
    assert rest["more"] is False
    assert api.retrieve(scope)["memories"] == []


def test_local_retention_route_runs_the_function(api, local_stack):
    status, body = api.request("POST", "/_local/retention")
    assert status == 200 and {"memories", "revisions", "session_events", "more"} <= set(body)
