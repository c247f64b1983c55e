"""Compression over HTTP on the local stack (issue 13): ``POST /v1/memories/compress`` is an operation run by
the workflow (Kind → Compress → Finalize) through the real ``openai`` adapter against the scripted server:
the report, the new memories and their provenance, the originals' revisions, a memory changed during the
model call left alone, idempotent re-sends, undo by rollback, tenant isolation and bad input."""

from __future__ import annotations

import time
import uuid
from typing import Any

from engram import wiring
from engram.logic.memories import update_memory
from engram.models.api import UpdateMemoryRequest
from engram_dev.scripted_llm import CHAT_PATH, compression_answer

PREFERENCES = ["The user likes green tea.", "The user likes jazz.", "The user likes hiking."]
PERSONAL = ["The user lives in Faro.", "The user works as a nurse."]


def _wait(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _seed(api: Any, scope: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Three preferences and two personal facts, created one by one (oldest first)."""
    made: dict[str, list[dict[str, Any]]] = {"USER_PREFERENCES": [], "USER_PERSONAL_INFO": []}
    for topic, facts in (("USER_PREFERENCES", PREFERENCES), ("USER_PERSONAL_INFO", PERSONAL)):
        for fact in facts:
            made[topic].append(api.create(scope, fact, topics=[topic], metadata={"lang": "en"}))
    return made


def _compress(api: Any, body: dict[str, Any], key: str | None = None) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else None
    return api.request("POST", "/v1/memories/compress", body, headers=headers)


def test_compress_summarizes_groups_through_the_workflow(api, scope, scripted_llm):
    # Given five memories in two topics
    made = _seed(api, scope)
    body = {"scope": scope, "max_memories": 2, "group_by": "topic"}

    # When compressing them to two, and waiting for the operation
    status, started = _compress(api, body, key=f"k-{uuid.uuid4().hex}")
    operation = api.wait(started["id"], timeout=60)

    # Then it was accepted as a running operation and SUCCEEDED with the report
    assert status == 202 and started["status"] == "RUNNING", started
    assert operation["status"] == "SUCCEEDED", operation
    report = operation["result"]["compression"]
    assert {k: report[k] for k in ("groups", "groups_compressed", "groups_skipped")} == {
        "groups": 2,
        "groups_compressed": 2,
        "groups_skipped": 0,
    }
    assert (report["memories_before"], report["memories_after"], report["llm_calls"]) == (5, 2, 2)
    assert report["input_tokens"] > 0 and report["output_tokens"] > 0
    assert operation["usage"]["llm_calls"] == 2 and operation["usage"]["embedding_calls"] == 2
    # and the model was asked through structured outputs, one call per group
    chat = scripted_llm.requests_to(CHAT_PATH)
    assert [c["response_format"]["json_schema"]["name"] for c in chat] == ["CompressionOutput"] * 2
    # and each new memory names its originals and is marked compressed
    created = {g["memory"]["topics"][0]: g["memory"] for g in operation["result"]["generated_memories"]}
    preferences = created["USER_PREFERENCES"]
    assert preferences["fact"] == " ".join(PREFERENCES)
    assert preferences["source"]["memory_ids"] == [m["id"] for m in made["USER_PREFERENCES"]]
    assert preferences["source"]["operation_id"] == operation["id"]
    assert preferences["metadata"] == {"lang": "en", "compressed": True, "original_count": 3}
    # and list shows only the new memories; search finds no original (Finalize waited for the index)
    listed = {m["memory"]["id"] for m in api.retrieve(scope, top_k=10)["memories"]}
    assert listed == {m["id"] for m in created.values()}
    hits = api.retrieve(scope, "jazz", mode="lexical", top_k=10)["memories"]
    assert [h["memory"]["id"] for h in hits] == [preferences["id"]]
    # and each original is gone (404) with a DELETED revision labelled with its new memory
    jazz = made["USER_PREFERENCES"][1]
    assert api.request("GET", f"/v1/memories/{jazz['id']}")[0] == 404
    status, revisions = api.request("GET", f"/v1/memories/{jazz['id']}/revisions")
    newest = revisions["revisions"][0]
    assert newest["action"] == "DELETED" and newest["labels"] == {"compressed_into": preferences["id"]}


def test_rollback_of_the_originals_undoes_a_compression(api, scope):
    # Given a compressed group (offline model: the same deterministic merge)
    made = _seed(api, scope)
    _, started = _compress(api, {"scope": scope, "max_memories": 1, "group_by": "topic", "filter": {"lang": "en"}})
    operation = api.wait(started["id"], timeout=60)
    assert operation["status"] == "SUCCEEDED", operation
    assert operation["result"]["compression"]["memories_after"] == 2  # one per topic: more groups than 1

    # When each original is rolled back to its revision before the deletion, and the summaries deleted
    for original in made["USER_PREFERENCES"] + made["USER_PERSONAL_INFO"]:
        _, revisions = api.request("GET", f"/v1/memories/{original['id']}/revisions")
        before = next(r for r in revisions["revisions"] if r["action"] != "DELETED")
        status, _ = api.request("POST", f"/v1/memories/{original['id']}/rollback", {"revision_id": before["id"]})
        assert status == 200
    for generated in operation["result"]["generated_memories"]:
        assert api.request("DELETE", f"/v1/memories/{generated['memory']['id']}")[0] == 204

    # Then the scope holds the original texts again
    facts = sorted(m["memory"]["fact"] for m in api.retrieve(scope, top_k=10)["memories"])
    assert facts == sorted(PREFERENCES + PERSONAL)


def test_a_memory_changed_during_the_model_call_is_left_alone(scope, scripted_llm, tenant_client):
    # Given a model that, while summarizing the preferences, sees one of them edited by another writer
    tenant = f"cmp-{uuid.uuid4().hex[:8]}"
    api = tenant_client(tenant)
    made = _seed(api, scope)
    jazz = made["USER_PREFERENCES"][1]

    def edit_then_answer(request: dict[str, Any]) -> dict[str, Any]:
        if "The user likes jazz." in str(request["messages"]):
            deps = wiring.dependencies()
            update = UpdateMemoryRequest(fact="The user likes bebop jazz.")
            update_memory(deps.memories, deps.configs, deps.embedder, deps.clock, tenant, jazz["id"], update)
        return compression_answer(request)

    scripted_llm.script_chat(edit_then_answer, edit_then_answer)

    # When compressing
    _, started = _compress(api, {"scope": scope, "max_memories": 2, "group_by": "topic"})
    operation = api.wait(started["id"], timeout=60)

    # Then the edited group was left as it was, the other compressed
    assert operation["status"] == "SUCCEEDED", operation
    report = operation["result"]["compression"]
    assert (report["groups_compressed"], report["groups_skipped"], report["memories_after"]) == (1, 1, 4)
    assert api.get(jazz["id"])["fact"] == "The user likes bebop jazz."
    assert all(api.get(m["id"]) for m in made["USER_PREFERENCES"])
    [created] = operation["result"]["generated_memories"]
    assert created["memory"]["source"]["memory_ids"] == [m["id"] for m in made["USER_PERSONAL_INFO"]]


def test_the_same_idempotency_key_returns_the_same_operation(api, scope):
    _seed(api, scope)
    body = {"scope": scope, "max_memories": 2, "group_by": "time_window", "window_hours": 24}
    key = f"k-{uuid.uuid4().hex}"
    first = _compress(api, body, key)
    again = _compress(api, body, key)
    assert first[0] in (200, 202) and again == first
    assert _compress(api, {**body, "max_memories": 3}, key)[0] == 422  # the key with another body
    operation = api.wait(first[1]["id"], timeout=60)
    assert operation["status"] == "SUCCEEDED", operation
    # one window (all created now): its share is 2 of 5
    assert operation["result"]["compression"]["memories_after"] == 2


def test_another_tenant_sees_404_and_compresses_nothing_of_ours(api, scope, tenant_client):
    # Given our memories and a compression of them, and another tenant's key
    made = _seed(api, scope)
    other = tenant_client(f"cmp-{uuid.uuid4().hex[:8]}")
    _, started = _compress(api, {"scope": scope, "max_memories": 5, "group_by": "topic"})

    # When the other tenant reads our operation and compresses the same scope
    status, body = other.request("GET", f"/v1/operations/{started['id']}")
    _, theirs = _compress(other, {"scope": scope, "max_memories": 1, "group_by": "topic", "wait_seconds": 20})

    # Then 404, and their compression found nothing: ours are all still there
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    assert theirs["status"] == "SUCCEEDED", theirs
    assert theirs["result"]["compression"]["memories_before"] == 0
    assert api.wait(started["id"], timeout=60)["result"]["compression"]["memories_after"] == 5
    for memory in made["USER_PREFERENCES"] + made["USER_PERSONAL_INFO"]:
        assert api.get(memory["id"])["fact"] == memory["fact"]


def test_bad_input_is_4xx_naming_the_field(api, scope):
    base = {"scope": scope, "max_memories": 2, "group_by": "topic"}
    for body, field in (
        ({**base, "group_by": "day"}, "group_by"),
        ({**base, "max_memories": 0}, "max_memories"),
        ({**base, "group_by": "time_window"}, "window_hours"),
        ({**base, "group_by": "time_window", "window_hours": "24"}, "window_hours"),
        ({**base, "group_by": "time_window", "window_hours": 0}, "window_hours"),
        ({**base, "extra": 1}, "extra"),
        ({"max_memories": 2, "group_by": "topic"}, "scope"),
    ):
        status, answer = _compress(api, body)
        assert status == 422 and field in answer["error"]["message"], (body, answer)
    status, answer = _compress(api, {**base, "filter": {"$bogus": 1}})
    assert status == 422, answer
