"""``POST /v1/memories/batch`` on the local stack is all or nothing, and a retry with the same
``Idempotency-Key`` never stores anything twice — whatever DynamoDB write fails.

Faults are injected into the stack's DynamoDB clients (a botocore ``before-call`` hook answering a write
with an error, as DynamoDB would) while the API handles one request."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from engram import wiring

N = 100
FAILING_FACT = "The user owns book 59."


def _body(scope: dict[str, str]) -> dict[str, Any]:
    return {"memories": [{"scope": scope, "fact": f"The user owns book {i}."} for i in range(N)]}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


def _facts(params: dict[str, Any]) -> list[str]:
    """The facts of the items a ``TransactWriteItems`` or ``BatchWriteItem`` request puts."""
    items = [entry.get("Put", {}).get("Item", {}) for entry in params.get("TransactItems", [])]
    for requests in params.get("RequestItems", {}).values():
        if isinstance(requests, list):  # BatchWriteItem (BatchGetItem has {"Keys": [...]})
            items += [entry.get("PutRequest", {}).get("Item", {}) for entry in requests]
    return [item["fact"]["S"] for item in items if "fact" in item]


def _clients() -> list[Any]:
    """The botocore clients the stack's table writes through (transactions; each item class's own)."""
    table = wiring.dependencies().table
    clients = [table.connection.client]
    clients += [item_class._get_connection().connection.client for item_class in (table.memory, table.revision)]
    return list({id(c): c for c in clients}.values())


@contextlib.contextmanager
def failing(rule: Callable[[str, dict[str, Any]], bool]) -> Iterator[list[str]]:
    """Answer every DynamoDB request ``rule(operation, params)`` picks with an InternalServerError; yields
    the operations failed so far."""
    failed: list[str] = []

    def hook(model: Any, params: dict[str, Any], **_: Any) -> None:
        if rule(model.name, _decoded(params)):
            failed.append(model.name)
            error = {"Error": {"Code": "InternalServerError", "Message": "scripted: DynamoDB failed"}}
            raise ClientError(error, model.name)

    clients = _clients()
    for client in clients:
        client.meta.events.register_first("before-call.dynamodb", hook, unique_id="engram-test-failing")
    try:
        yield failed
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.dynamodb", unique_id="engram-test-failing")


def _decoded(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a request as botocore sends it."""
    body = params.get("body") or b"{}"
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def _stored(api: Any, scope: dict[str, str]) -> list[str]:
    ids, token = [], None
    while True:
        page = api.retrieve(scope, page_size=100, **({"page_token": token} if token else {}))
        ids += [m["memory"]["id"] for m in page["memories"]]
        token = page.get("next_page_token")
        if not token:
            return ids


def _revisions(api: Any, memory_id: str) -> list[dict[str, Any]]:
    status, body = api.request("GET", f"/v1/memories/{memory_id}/revisions")
    assert status == 200, body
    return list(body["revisions"])


def test_a_write_failing_on_memory_60_stores_nothing_and_the_retry_stores_each_once(api, scope):
    headers = _key()
    # Given DynamoDB failing any write that holds the 60th memory
    with failing(lambda operation, params: FAILING_FACT in _facts(params)) as failed:
        # When a batch of 100 is created
        status, body = api.request("POST", "/v1/memories/batch", _body(scope), headers=headers)
    # Then the request fails (retry later) and nothing of it is stored (not the 49 before it)
    assert failed and status == 503 and body["error"]["code"] == "UNAVAILABLE", body
    assert _stored(api, scope) == []

    # When the same request is sent again with the same Idempotency-Key, and DynamoDB works
    status, body = api.request("POST", "/v1/memories/batch", _body(scope), headers=headers)

    # Then it is created once: 100 memories, each with one revision
    assert status == 201, body
    ids = [m["memory"]["id"] for m in body["memories"]]
    assert sorted(_stored(api, scope)) == sorted(ids) and len(set(ids)) == N
    assert [r["action"] for r in _revisions(api, ids[59])] == ["CREATED"]


def test_a_failure_writing_the_revisions_takes_the_memories_back(api, scope):
    headers = _key()
    # Given DynamoDB failing the writes of the revisions (a batch write putting items)
    with failing(lambda operation, params: operation == "BatchWriteItem" and bool(_facts(params))) as failed:
        status, body = api.request("POST", "/v1/memories/batch", _body(scope), headers=headers)
    # Then the memories written before were deleted again: nothing of the batch is visible
    assert failed and status == 503 and body["error"]["code"] == "UNAVAILABLE", body
    assert _stored(api, scope) == []
    # And the retry stores the batch once
    status, body = api.request("POST", "/v1/memories/batch", _body(scope), headers=headers)
    assert status == 201 and len(_stored(api, scope)) == N


def test_when_the_undo_fails_too_the_retry_completes_the_batch_without_duplicates(api, scope):
    headers = _key()

    # Given DynamoDB failing the revisions, then the transaction that would take the memories back
    def revisions_and_undo(operation: str, params: dict[str, Any]) -> bool:
        deleting = any("Delete" in entry for entry in params.get("TransactItems", []))
        return deleting or (operation == "BatchWriteItem" and bool(_facts(params)))

    with failing(revisions_and_undo):
        status, _ = api.request("POST", "/v1/memories/batch", _body(scope), headers=headers)
    assert status == 503
    kept = _stored(api, scope)
    assert len(kept) == N  # the memories stayed, without their revisions
    assert api.request("GET", f"/v1/memories/{kept[0]}/revisions")[0] == 404

    # When the same request is sent again
    status, body = api.request("POST", "/v1/memories/batch", _body(scope), headers=headers)

    # Then it returns those memories, stores no second copy, and completes their history
    assert status == 201
    assert sorted(m["memory"]["id"] for m in body["memories"]) == sorted(kept)
    assert sorted(_stored(api, scope)) == sorted(kept)
    for memory_id in (kept[0], kept[59], kept[-1]):
        assert [r["action"] for r in _revisions(api, memory_id)] == ["CREATED"]


@pytest.mark.parametrize("size", [450_000])
def test_a_memory_too_large_is_refused_naming_it_before_anything_is_stored(api, scope, size):
    body = _body(scope)
    body["memories"][59]["metadata"] = {"blob": "x" * size}
    status, answer = api.request("POST", "/v1/memories/batch", body, headers=_key())
    # Then 413 (too large to store) or 422 (over a metadata limit), naming the 60th memory; nothing stored
    assert status in (413, 422), answer
    assert "memories[59]" in answer["error"]["message"] or "memories.59" in answer["error"]["message"]
    assert _stored(api, scope) == []
