"""What the Python client's interfaces need from the API, through the local stack: list-valued and null
metadata with ``$in`` / ``$contains`` (list and search), PATCH merging metadata, counting live memories,
a plain-string ``messages``, OpenAI-style session messages and truncating a session."""

from __future__ import annotations

import time

TAGGED = {
    "a": {"tags": ["python", "aws"], "type": "knowledge"},
    "b": {"tags": ["go"], "type": "knowledge"},
    "c": {"tags": "python", "type": "note"},
    "d": {"tags": None, "type": "knowledge"},
}


def _facts(api, scope, flt, query=None):
    body = {"scope": scope, "filter": flt, "page_size": 100}
    if query is not None:
        body |= {"query": query, "top_k": 100, "mode": "lexical"}
    status, answer = api.request("POST", "/v1/memories/retrieve", body)
    assert status == 200, answer
    return sorted(m["memory"]["fact"] for m in answer["memories"])


def _wait_searchable(api, scope, query, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while len(api.retrieve(scope, query, top_k=100, mode="lexical")["memories"]) < count:
        assert time.monotonic() < deadline, "the index did not catch up"
        time.sleep(0.1)


def test_list_valued_and_null_metadata_are_stored_and_filtered_in_the_table_and_the_index(api, scope):
    # Given memories whose "tags" is a list, a plain string or null
    created = api.create_batch(
        [{"scope": scope, "fact": f"fact {name} about tags", "metadata": m} for name, m in TAGGED.items()]
    )["memories"]
    assert created[0]["memory"]["metadata"] == {"tags": ["python", "aws"], "type": "knowledge"}
    assert api.get(created[3]["memory"]["id"])["metadata"] == {"tags": None, "type": "knowledge"}
    _wait_searchable(api, scope, "tags", 4)

    # When listing (the table) and searching (the index) with $in, $contains and $nin on "tags"
    # Then both answer the same: $in by any item, $contains by a whole item of a list, null matching nothing
    for query in (None, "tags"):
        assert _facts(api, scope, {"type": "knowledge", "tags": {"$in": ["python", "rust"]}}, query) == [
            "fact a about tags"
        ]
        assert _facts(api, scope, {"tags": {"$in": ["python"]}}, query) == ["fact a about tags", "fact c about tags"]
        assert _facts(api, scope, {"tags": {"$contains": "python"}}, query) == ["fact a about tags"]
        assert _facts(api, scope, {"tags": {"$nin": ["python", "go"]}}, query) == ["fact d about tags"]


def test_bad_list_metadata_and_list_filters_are_422_naming_the_field(api, scope):
    for metadata in ({"tags": [1, 2]}, {"tags": ["x"] * 101}, {"tags": ["x" * 257]}, {"tags": {"nested": 1}}):
        status, body = api.request("POST", "/v1/memories", {"scope": scope, "fact": "f", "metadata": metadata})
        assert status == 422 and "metadata.tags" in body["error"]["message"], (metadata, body)
    for flt in ({"tags": {"$contains": 1}}, {"tags": None}, {"create_time": {"$contains": "x"}}):
        status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "filter": flt})
        assert status == 422 and body["error"]["code"] == "INVALID_ARGUMENT", (flt, body)
    wide = {key: {"$in": [f"value-{i}" for i in range(100)]} for key in ("a", "b")}
    status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "filter": wide})
    assert status == 422 and "too large" in body["error"]["message"], body


def test_patch_merges_metadata_by_default_and_overwrites_on_request(api, scope):
    # Given a memory with two metadata keys
    memory = api.create(scope, "The user reads a lot.", metadata={"type": "note", "tags": ["books"]})
    path = f"/v1/memories/{memory['id']}"

    # When a PATCH gives one changed key, one new key and a null
    status, merged = api.request("PATCH", path, {"metadata": {"tags": ["books", "sf"], "seen": 2, "type": None}})

    # Then the given keys replace theirs, the others stay, and null is stored as a value
    assert status == 200, merged
    assert merged["metadata"] == {"type": None, "tags": ["books", "sf"], "seen": 2}
    assert api.get(memory["id"])["metadata"] == merged["metadata"]

    # When a PATCH asks to overwrite, Then the metadata becomes exactly the map given
    status, replaced = api.request("PATCH", path, {"metadata": {"only": True}, "metadata_merge_strategy": "OVERWRITE"})
    assert status == 200 and replaced["metadata"] == {"only": True}
    status, cleared = api.request("PATCH", path, {"metadata": {}, "metadata_merge_strategy": "OVERWRITE"})
    assert status == 200 and cleared["metadata"] == {}

    # And a merge that would exceed 20 keys, a strategy without metadata, or an unknown one is a 422
    api.request("PATCH", path, {"metadata": {f"k{i}": i for i in range(15)}})
    status, body = api.request("PATCH", path, {"metadata": {f"n{i}": i for i in range(10)}})
    assert status == 422 and "20" in body["error"]["message"], body
    assert api.request("PATCH", path, {"metadata_merge_strategy": "OVERWRITE"})[0] == 422
    assert api.request("PATCH", path, {"metadata": {}, "metadata_merge_strategy": "REQUIRE_EXACT_MATCH"})[0] == 422


def test_count_counts_the_live_memories_of_the_scope_matching_the_filter(api, scope, clock):
    # Given three memories, one of which expires in a minute, and one memory of another scope
    api.create_batch(
        [
            {"scope": scope, "fact": "one", "metadata": {"tags": ["python"]}},
            {"scope": scope, "fact": "two", "metadata": {"tags": ["go"]}},
            {"scope": scope, "fact": "three", "metadata": {"tags": ["python"]}, "ttl_seconds": 60},
            {"scope": {**scope, "agent_id": "x"}, "fact": "elsewhere", "metadata": {"tags": ["python"]}},
        ]
    )

    def count(body):
        status, answer = api.request("POST", "/v1/memories/count", {"scope": scope, **body})
        assert status == 200, answer
        return answer["count"]

    # When counting, Then the scope and filter apply; once one memory has expired, it is no longer counted
    assert count({}) == 3
    assert count({"filter": {"tags": {"$contains": "python"}}}) == 2
    clock.advance(120)
    assert count({}) == 2
    assert count({"filter": {"tags": {"$in": ["python", "rust"]}}}) == 1
    # And a missing scope or a bad filter is a 422
    assert api.request("POST", "/v1/memories/count", {"filter": {"a": 1}})[0] == 422
    assert api.request("POST", "/v1/memories/count", {"scope": scope, "filter": {"a": {"$x": 1}}})[0] == 422


def test_messages_may_be_one_plain_string(api, scope):
    # Given the conversation as a plain string, When generating, Then it is one user message
    operation = api.generate(scope, messages="I live in Faro.", wait_seconds=20)
    assert operation["status"] == "SUCCEEDED", operation
    assert [g["memory"]["fact"] for g in operation["result"]["generated_memories"]] == ["The user lives in Faro."]
    assert operation["result"]["generated_memories"][0]["memory"]["source"]["event_ids"] == ["0"]
    status, body = api.request("POST", "/v1/memories/generate", {"scope": scope, "messages": "  "})
    assert status == 422 and "messages" in body["error"]["message"]


def test_session_events_may_be_openai_style_messages(api, scope):
    sid = f"s-{scope['user_id']}"
    # Given a batch mixing OpenAI-style messages (text, parts, model role) and a Memory Bank event
    batch = [
        {"role": "user", "content": "Hi, I live in Lisbon.", "event_id": "m1", "name": "ignored"},
        {"role": "model", "content": [{"type": "text", "text": "Nice"}, {"type": "text", "text": "city!"}]},
        {"content": {"role": "user", "parts": [{"text": "I like green."}]}, "event_id": "e3"},
    ]
    # When appended, Then they are stored (and listed) as events, in order
    status, body = api.request("POST", f"/v1/sessions/{sid}/events", {"events": batch})
    assert status == 201, body
    events = api.request("GET", f"/v1/sessions/{sid}/events")[1]["events"]
    shown = [(e["content"]["role"], [p["text"] for p in e["content"]["parts"]]) for e in events]
    assert shown == [("user", ["Hi, I live in Lisbon."]), ("assistant", ["Nice\ncity!"]), ("user", ["I like green."])]
    assert [events[0]["event_id"], events[2]["event_id"]] == ["m1", "e3"]
    assert body["events"] == events
    # And a message with an unknown role or no content is a 422 naming its place
    status, body = api.request("POST", f"/v1/sessions/{sid}/events", {"events": [{"role": "robot", "content": "x"}]})
    assert status == 422 and "events.0" in body["error"]["message"], body
    assert api.request("POST", f"/v1/sessions/{sid}/events", {"events": [{"role": "user"}]})[0] == 422


def test_truncate_keeps_the_last_events_and_repeats_harmlessly(api, scope):
    sid = f"s-{scope['user_id']}"
    turns = [
        {"role": "user", "content": f"turn {i}", "event_id": f"t{i}", "timestamp": f"2026-01-01T10:00:{i:02d}Z"}
        for i in range(6)
    ]
    api.request("POST", f"/v1/sessions/{sid}/events", {"events": turns})

    # When the session is truncated to its last 2 events
    status, body = api.request("POST", f"/v1/sessions/{sid}/truncate", {"keep_last": 2})

    # Then 4 are deleted and the 2 newest remain; again: nothing more is deleted
    assert (status, body) == (200, {"deleted_count": 4})
    assert [e["event_id"] for e in api.request("GET", f"/v1/sessions/{sid}/events")[1]["events"]] == ["t4", "t5"]
    assert api.request("POST", f"/v1/sessions/{sid}/truncate", {"keep_last": 2}) == (200, {"deleted_count": 0})
    # And bad bounds are 422; keeping 0 empties it, after which the session is unknown (404)
    for bad in ({"keep_last": -1}, {"keep_last": "2"}, {}, {"keep_last": 1, "extra": 1}):
        assert api.request("POST", f"/v1/sessions/{sid}/truncate", bad)[0] == 422, bad
    assert api.request("POST", f"/v1/sessions/{sid}/truncate", {"keep_last": 0}) == (200, {"deleted_count": 2})
    assert api.request("POST", f"/v1/sessions/{sid}/truncate", {"keep_last": 0})[0] == 404
