"""Generation through the API: the real ASL run by the emulator, the real handlers in-process."""

from __future__ import annotations

import json

from engram_dev.project import project_root


def test_generate_from_messages_creates_memories_with_provenance_and_they_are_retrievable(api, scope):
    # Given a conversation in OpenAI message format
    messages = [
        {"role": "user", "content": "Hi there!"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "I live in Lisbon and I work as a nurse.", "event_id": "m-3"},
    ]
    # When generating and waiting for the operation
    status, operation = api.request("POST", "/v1/memories/generate", {"scope": scope, "messages": messages})
    assert status == 202 and operation["status"] == "RUNNING"
    operation = api.wait(operation["id"])
    # Then it SUCCEEDED with CREATED memories whose provenance names the source event
    assert operation["status"] == "SUCCEEDED", operation
    generated = operation["result"]["generated_memories"]
    facts = {g["memory"]["fact"] for g in generated}
    assert {"The user lives in Lisbon.", "The user works as a nurse."} <= facts
    assert all(g["action"] == "CREATED" for g in generated)
    source = {"operation_id": operation["id"], "event_ids": ["m-3"], "memory_ids": []}
    assert all(g["memory"]["source"] == source for g in generated)
    assert operation["usage"]["llm_calls"] == 1 and operation["usage"]["embedding_calls"] == 1
    # And, read-your-writes: as soon as it reports SUCCEEDED, the memories are retrievable
    found = api.retrieve(scope, "Where does the user live?", top_k=1)["memories"]
    assert found[0]["memory"]["fact"] == "The user lives in Lisbon."


def test_generate_from_memory_bank_events_with_wait_seconds(api, scope):
    events = [
        {"content": {"role": "user", "parts": [{"text": "My favorite color is green."}]}},
        {"content": {"role": "model", "parts": [{"text": "Green it is."}]}},
    ]
    status, operation = api.request(
        "POST", "/v1/memories/generate", {"scope": scope, "events": events, "wait_seconds": 20}
    )
    assert status == 200 and operation["status"] == "SUCCEEDED"
    [generated] = operation["result"]["generated_memories"]
    assert generated["memory"]["fact"] == "The user's favorite color is green."
    assert generated["memory"]["source"]["event_ids"] == ["0"]


def test_a_later_conversation_updates_the_memory_instead_of_duplicating_it(api, scope):
    first = api.generate(scope, messages=[{"role": "user", "content": "I live in Lisbon."}], wait_seconds=20)
    [created] = first["result"]["generated_memories"]
    # When a later conversation says the user moved
    second = api.generate(scope, messages=[{"role": "user", "content": "I live in Porto now."}], wait_seconds=20)
    assert second["status"] == "SUCCEEDED", second
    [updated] = second["result"]["generated_memories"]
    # Then the same memory is UPDATED (new revision, previous revision named), not duplicated
    assert updated["action"] == "UPDATED"
    assert updated["memory"]["id"] == created["memory"]["id"]
    assert updated["previous_revision_id"] == created["memory"]["revision_id"]
    assert "Porto" in updated["memory"]["fact"]
    assert second["usage"]["llm_calls"] == 2
    listed = api.retrieve(scope)["memories"]
    assert [m["memory"]["fact"] for m in listed] == [updated["memory"]["fact"]]
    assert api.get(created["memory"]["id"])["fact"] == updated["memory"]["fact"]


def test_generate_rejects_bad_sources(api, scope):
    message = {"role": "user", "content": "hi"}
    for body in (
        {"scope": scope},
        {"scope": scope, "messages": [message], "events": [{"content": {"role": "user", "parts": [{"text": "x"}]}}]},
        {"scope": scope, "messages": []},
        {"scope": scope, "messages": [{"role": "robot", "content": "x"}]},
        {"scope": scope, "messages": [message], "wait_seconds": 26},
        {"scope": scope, "messages": [{**message, "event_id": "a"}, {**message, "event_id": "a"}]},
    ):
        status, payload = api.request("POST", "/v1/memories/generate", body)
        assert status == 422, (body, payload)
        assert payload["error"]["code"] == "INVALID_ARGUMENT"


def test_demo_conversation_generates_and_answers(api, scope):
    conversation = json.loads((project_root() / "events" / "conversation.json").read_text())
    import io

    from engram_dev.cli import run_demo

    out = io.StringIO()
    report = run_demo(api, conversation, scope, out=out)
    assert all(op["status"] == "SUCCEEDED" for op in report["sessions"])
    assert report["sessions"][0]["result"]["generated_memories"]
    first_answer = report["questions"][0]["memories"][0]["memory"]["fact"]
    assert "Porto" in first_answer or "Lisbon" in first_answer
