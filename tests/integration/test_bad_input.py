"""Bad input gets a 4xx naming the field, never a 500 (issue 10, items 6 and 9): each request below goes over
HTTP to the local stack; none may change what is stored, and the stack keeps working afterwards."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

SID = "chat-1"
RAW = object()  # marks a case whose body is raw JSON text (what json.dumps cannot write)


def _send(api, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Send ``body`` (JSON data, or ``(RAW, text)``) and return ``(status, decoded body)``."""
    if isinstance(body, tuple) and body and body[0] is RAW:
        data = body[1].encode()
    else:
        data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {api.api_key}", "Content-Type": "application/json"}
    request = urllib.request.Request(api.base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the local stack's URL
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _raw(text: str) -> tuple[object, str]:
    return RAW, text


S = {"user_id": "bad-input"}
SCOPE_JSON = json.dumps(S)


def _memory(**fields: Any) -> dict[str, Any]:
    return {"scope": S, "fact": "The user likes tea.", **fields}


def _retrieve(**fields: Any) -> dict[str, Any]:
    return {"scope": S, **fields}


def _event(text: str = "hi", **fields: Any) -> dict[str, Any]:
    """An append body of one event."""
    return {"events": [{"content": {"role": "user", "parts": [{"text": text}]}, **fields}]}


NESTED_FILTER = '{"a": ' * 99 + "1" + "}" * 99


def _examples(messages: int, chars: int) -> dict[str, Any]:
    conversation = [{"role": "user", "content": "x" * chars}] * messages
    return {"examples": [{"conversation": conversation, "facts": []}] * 10}


# (id, method, path, body, expected status, text the message must contain)
CASES = [
    # sizes: metadata keys and values, topics, revision labels, tenant config, session event text
    ("metadata-key-200-chars", "POST", "/v1/memories", _memory(metadata={"k" * 200: 1}), 422, "metadata"),
    ("metadata-value-500k", "POST", "/v1/memories", _memory(metadata={"k": "v" * 500_000}), 422, "metadata"),
    ("metadata-30-keys", "POST", "/v1/memories", _memory(metadata={f"k{i}": i for i in range(30)}), 422, "metadata"),
    (
        "metadata-20kb",
        "POST",
        "/v1/memories",
        _memory(metadata={f"k{i}": "v" * 2000 for i in range(10)}),
        422,
        "metadata",
    ),
    ("metadata-list-500", "POST", "/v1/memories", _memory(metadata={"tags": ["a"] * 500}), 422, "metadata"),
    ("patch-metadata-key-200", "PATCH", "/v1/memories/{memory}", {"metadata": {"k" * 200: 1}}, 422, "metadata"),
    (
        "generate-metadata-value-500k",
        "POST",
        "/v1/memories/generate",
        {"scope": S, "facts": [{"fact": "x"}], "metadata": {"k": "v" * 500_000}},
        422,
        "metadata",
    ),
    ("topic-100k-chars", "POST", "/v1/memories", _memory(topics=["t" * 100_000]), 422, "topics"),
    ("retrieve-topic-100k", "POST", "/v1/memories/retrieve", _retrieve(topics=["t" * 100_000]), 422, "topics"),
    (
        "revision-label-key-10k",
        "POST",
        "/v1/memories",
        _memory(revision_labels={"k" * 10_000: "v"}),
        422,
        "revision_labels",
    ),
    (
        "revision-label-value-400k",
        "POST",
        "/v1/memories",
        _memory(revision_labels={"k": "v" * 400_000}),
        422,
        "revision_labels",
    ),
    ("config-examples-over-an-item", "PUT", "/v1/config", _examples(20, 2_500), 413, "configuration"),
    ("session-event-text-40k", "POST", f"/v1/sessions/{SID}/events", _event("x" * 40_000), 422, "32,000"),
    (
        "generate-message-40k",
        "POST",
        "/v1/memories/generate",
        {"scope": S, "messages": [{"role": "user", "content": "x" * 40_000}]},
        422,
        "32,000",
    ),
    # numbers: not JSON, not storable
    (
        "top-k-nan",
        "POST",
        "/v1/memories/retrieve",
        _raw(f'{{"scope": {SCOPE_JSON}, "query": "tea", "top_k": NaN}}'),
        400,
        "top_k",
    ),
    (
        "metadata-infinity",
        "POST",
        "/v1/memories",
        _raw(f'{{"scope": {SCOPE_JSON}, "fact": "x", "metadata": {{"n": Infinity}}}}'),
        400,
        "metadata.n",
    ),
    (
        "filter-minus-infinity",
        "POST",
        "/v1/memories/retrieve",
        _raw(f'{{"scope": {SCOPE_JSON}, "filter": {{"n": {{"$gt": -Infinity}}}}}}'),
        400,
        "filter.n.$gt",
    ),
    ("metadata-1e200", "POST", "/v1/memories", _memory(metadata={"n": 1e200}), 422, "metadata"),
    ("metadata-1e308", "POST", "/v1/memories", _memory(metadata={"n": 1e308}), 422, "metadata"),
    (
        "metadata-1e400",
        "POST",
        "/v1/memories",
        _raw(f'{{"scope": {SCOPE_JSON}, "fact": "x", "metadata": {{"n": 1e400}}}}'),
        422,
        "metadata.n",
    ),
    ("metadata-39-digits", "POST", "/v1/memories", _memory(metadata={"n": 10**38}), 422, "metadata.n"),
    (
        "metadata-5000-digits",
        "POST",
        "/v1/memories",
        _raw(f'{{"scope": {SCOPE_JSON}, "fact": "x", "metadata": {{"n": {"9" * 5000}}}}}'),
        422,
        "metadata.n",
    ),
    ("filter-1e200", "POST", "/v1/memories/retrieve", _retrieve(filter={"n": {"$gt": 1e200}}), 422, "filter"),
    ("ttl-39-digits", "POST", "/v1/memories", _memory(ttl_seconds=10**38), 422, "ttl_seconds"),
    # filter keys DynamoDB would read as paths
    ("filter-key-a-close", "POST", "/v1/memories/retrieve", _retrieve(filter={"a]": 1}), 422, "filter"),
    ("filter-key-a-open", "POST", "/v1/memories/retrieve", _retrieve(filter={"a[": 1}), 422, "filter"),
    ("filter-key-a-x", "POST", "/v1/memories/retrieve", _retrieve(filter={"a[x]": 1}), 422, "filter"),
    ("filter-key-index", "POST", "/v1/memories/retrieve", _retrieve(filter={"[0]": 1}), 422, "filter"),
    ("filter-key-a-index", "POST", "/v1/memories/retrieve", _retrieve(filter={"a[0]": 1}), 422, "filter"),
    ("purge-filter-key-a-index", "POST", "/v1/memories/purge", {"scope": S, "filter": {"a[0]": 1}}, 422, "filter"),
    # JSON that is not JSON Engram accepts
    ("nested-100000-deep", "POST", "/v1/memories/retrieve", _raw("[" * 100_000 + "]" * 100_000), 400, "nested"),
    (
        "filter-nested-100-deep",
        "POST",
        "/v1/memories/retrieve",
        _raw(f'{{"scope": {SCOPE_JSON}, "filter": {NESTED_FILTER}}}'),
        400,
        "nested",
    ),
    (
        "scope-lone-surrogate",
        "POST",
        "/v1/memories",
        _raw('{"scope": {"user_id": "\\ud800"}, "fact": "x"}'),
        400,
        "scope.user_id",
    ),
    (
        "metadata-key-lone-surrogate",
        "POST",
        "/v1/memories",
        _raw(f'{{"scope": {SCOPE_JSON}, "fact": "x", "metadata": {{"\\ud800": 1}}}}'),
        400,
        "metadata",
    ),
    # times without a time zone
    (
        "events-window-naive",
        "GET",
        f"/v1/sessions/{SID}/events?start_time=2026-01-01T00:00:00",
        None,
        422,
        "start_time",
    ),
    (
        "generate-session-naive",
        "POST",
        "/v1/memories/generate",
        {"scope": S, "session": {"session_id": SID, "end_time": "2026-01-01T00:00:00"}},
        422,
        "end_time",
    ),
    (
        "event-timestamp-naive",
        "POST",
        f"/v1/sessions/{SID}/events",
        _event(timestamp="2026-01-01T00:00:00"),
        422,
        "timestamp",
    ),
    (
        "filter-time-naive",
        "POST",
        "/v1/memories/retrieve",
        _retrieve(filter={"create_time": {"$gte": "2026-01-01T00:00:00"}}),
        422,
        "create_time",
    ),
    # metadata keys no filter could name
    ("metadata-key-empty", "POST", "/v1/memories", _memory(metadata={"": 1}), 422, "metadata"),
    ("metadata-key-dollar", "POST", "/v1/memories", _memory(metadata={"$x": 1}), 422, "metadata"),
    ("metadata-key-bracket", "POST", "/v1/memories", _memory(metadata={"a[0]": 1}), 422, "metadata"),
    # strict types on the wire
    ("top-k-string", "POST", "/v1/memories/retrieve", _retrieve(query="tea", top_k="5"), 422, "top_k"),
    ("top-k-true", "POST", "/v1/memories/retrieve", _retrieve(query="tea", top_k=True), 422, "top_k"),
    ("page-size-float", "POST", "/v1/memories/retrieve", _retrieve(page_size=5.0), 422, "page_size"),
    ("force-string", "POST", "/v1/memories/purge", {"scope": S, "force": "true"}, 422, "force"),
    (
        "wait-seconds-string",
        "POST",
        "/v1/memories/generate",
        {"scope": S, "facts": [{"fact": "x"}], "wait_seconds": "1"},
        422,
        "wait_seconds",
    ),
    ("ttl-float", "POST", "/v1/memories", _memory(ttl_seconds=3600.0), 422, "ttl_seconds"),
    ("config-ttl-string", "PUT", "/v1/config", {"ttl": {"revision_ttl_seconds": "3600"}}, 422, "revision_ttl_seconds"),
    # identifiers that reach keys: delimiter injection, in bodies and paths
    (
        "generate-session-id-injection",
        "POST",
        "/v1/memories/generate",
        {"scope": S, "session": {"session_id": "x#E#y"}},
        422,
        "session_id",
    ),
    ("event-id-injection", "POST", f"/v1/sessions/{SID}/events", _event(event_id="a#E#b"), 422, "event_id"),
    (
        "rollback-revision-injection",
        "POST",
        "/v1/memories/{memory}/rollback",
        {"revision_id": "r#M#x"},
        422,
        "revision_id",
    ),
    ("forget-session-injection", "POST", "/v1/forget", {"scope": S, "session_ids": ["x#E#y"]}, 422, "session_ids"),
    ("list-events-session-path", "GET", "/v1/sessions/x%23E%23y/events", None, 422, "session_id"),
    ("append-events-session-path", "POST", "/v1/sessions/x%23E%23y/events", _event(), 422, "session_id"),
    ("delete-session-path", "DELETE", "/v1/sessions/x%23E%23y", None, 422, "session_id"),
    ("get-memory-path", "GET", "/v1/memories/a%23M%23b", None, 422, "memory_id"),
    ("patch-memory-path", "PATCH", "/v1/memories/a%23M%23b", {"fact": "x"}, 422, "memory_id"),
    ("delete-memory-path", "DELETE", "/v1/memories/a%23M%23b", None, 422, "memory_id"),
    ("revisions-path", "GET", "/v1/memories/a%23R%23b/revisions", None, 422, "memory_id"),
    ("operation-path", "GET", "/v1/operations/x%23O%23y", None, 422, "operation_id"),
    ("receipt-path", "GET", "/v1/forget/r%23x", None, 422, "receipt_id"),
]


@pytest.fixture(scope="module")
def stored(local_stack) -> dict[str, Any]:
    """What is stored before the bad requests: a memory of the scope, a session of two events, a config."""
    from engram_dev.client import EngramClient

    api = EngramClient(local_stack.api_url, local_stack.api_key)
    memory = api.create(S, f"The user likes green tea {uuid.uuid4().hex[:6]}.", metadata={"n": 1})
    two = {"events": _event("first")["events"] + _event("second")["events"]}
    assert api.request("POST", f"/v1/sessions/{SID}/events", two)[0] == 201
    status, config = api.request("GET", "/v1/config")
    assert status == 200
    return {"memory": memory, "events": api.request("GET", f"/v1/sessions/{SID}/events")[1], "config": config}


@pytest.mark.parametrize(("case", "method", "path", "body", "status", "names"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(api, stored, case, method, path, body, status, names):
    # Given a memory, a session and the config stored
    path = path.replace("{memory}", stored["memory"]["id"])

    # When the bad request is sent
    got, answer = _send(api, method, path, body)

    # Then it is refused with the expected status and a message naming the field, never a 500 or a trace
    assert (got, answer["error"]["code"] != "INTERNAL") == (status, True), answer
    assert names in answer["error"]["message"], answer
    assert "Traceback" not in answer["error"]["message"]
    # and nothing stored was lost or changed
    assert api.request("GET", f"/v1/memories/{stored['memory']['id']}") == (200, stored["memory"])
    assert api.request("GET", f"/v1/sessions/{SID}/events") == (200, stored["events"])
    assert api.request("GET", "/v1/config") == (200, stored["config"])


def test_the_stack_still_works_after_every_bad_input(api, stored, scope):
    # Given every bad request above sent once more
    for _, method, path, body, status, _ in CASES:
        assert _send(api, method, path.replace("{memory}", stored["memory"]["id"]), body)[0] == status
    # When the stack is used normally, Then it answers: create, list, search, purge of the bad scope
    created = api.create(scope, "The user plays the cello.", metadata={"tags": ["music"], "n": 1.5})
    listed = api.retrieve(scope)["memories"]
    assert [m["memory"]["id"] for m in listed] == [created["id"]]
    deadline = time.monotonic() + 20  # the index follows the table through the stream
    while not (found := api.retrieve(scope, "cello", mode="lexical")["memories"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m["memory"]["id"] for m in found] == [created["id"]]
    assert api.request("POST", "/v1/memories/purge", {"scope": S})[0] == 200
    assert api.retrieve(S)["memories"][0]["memory"]["id"] == stored["memory"]["id"]


def test_a_metadata_key_that_would_corrupt_a_scope_is_refused_and_the_scope_stays_usable(api, scope):
    # Given a scope with one memory
    api.create(scope, "The user likes tea.")
    # When a memory with metadata key "" is sent, Then it is refused, and listing and purging the scope work
    assert _send(api, "POST", "/v1/memories", {"scope": scope, "fact": "x", "metadata": {"": 1}})[0] == 422
    assert len(api.retrieve(scope)["memories"]) == 1
    assert api.request("POST", "/v1/memories/purge", {"scope": scope})[1] == {"purge_count": 1}
