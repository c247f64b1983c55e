"""Archiving over HTTP on the local stack (issue 13): ``POST /v1/memories/archive`` moves memories to an
archive scope, search follows through the stream, the dry run counts, bad input names the field, and
another tenant's key moves or sees nothing."""

from __future__ import annotations

import time
import uuid

from engram import wiring
from engram.models.scope import scope_hash


def _wait(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _archive_scope(scope: dict[str, str]) -> dict[str, str]:
    return {**scope, "collection": f"archive-{uuid.uuid4().hex[:6]}"}


def test_archive_moves_memories_and_search_follows(api, scope):
    # Given two indexed memories of a scope, one in English
    tea = api.create(scope, "The user likes green tea.", metadata={"lang": "en"})
    api.create(scope, "O utilizador gosta de café.", metadata={"lang": "pt"})
    _wait(lambda: len(api.retrieve(scope, "tea", mode="lexical", top_k=10)["memories"]) == 1)
    to_scope = _archive_scope(scope)
    body = {"scope": scope, "filter": {"lang": "en"}, "to_scope": to_scope}

    # When a dry run, then the archive, are sent
    dry = api.request("POST", "/v1/memories/archive", body)
    moved = api.request("POST", "/v1/memories/archive", {**body, "force": True})

    # Then the dry run counted one, the archive moved it: same id, archived, one ARCHIVED revision
    assert dry == (200, {"archive_count": 1, "dry_run": True, "done": True})
    assert moved == (200, {"archive_count": 1, "dry_run": False, "done": True})
    memory = api.get(tea["id"])
    assert memory["scope"] == to_scope and memory["metadata"] == {"lang": "en", "archived": True}
    status, revisions = api.request("GET", f"/v1/memories/{tea['id']}/revisions")
    assert status == 200
    newest = revisions["revisions"][0]
    assert newest["action"] == "ARCHIVED"
    assert newest["labels"] == {"from_scope": scope_hash(scope), "to_scope": scope_hash(to_scope)}
    # and search finds it in the archive scope only (the index followed through the stream)
    _wait(lambda: [m["memory"]["id"] for m in api.retrieve(to_scope, "tea", mode="lexical")["memories"]] == [tea["id"]])
    assert api.retrieve(scope, "tea", mode="lexical")["memories"] == []
    # and mem0's history shows the move as an update
    status, history = api.request("GET", f"/mem0/v1/memories/{tea['id']}/history")
    assert status == 200, history
    assert [entry["event"] for entry in history] == ["ADD", "UPDATE"]
    # and sending it again moves nothing
    again = api.request("POST", "/v1/memories/archive", {**body, "force": True})
    assert again == (200, {"archive_count": 0, "dry_run": False, "done": True})


def test_archive_with_a_busy_scope_answers_503_and_moves_nothing(scope, tenant_client):
    # Given a generation holding the target scope's lease
    tenant = f"busy-{uuid.uuid4().hex[:8]}"
    api = tenant_client(tenant)
    api.create(scope, "The user likes tea.")
    to_scope = _archive_scope(scope)
    deps = wiring.dependencies()
    assert deps.leases.acquire(tenant, scope_hash(to_scope), "operation-x", deps.clock.now(), 60)
    try:
        # When archiving, then 503 SCOPE_BUSY and the memory stayed
        body = {"scope": scope, "to_scope": to_scope, "force": True}
        status, answer = api.request("POST", "/v1/memories/archive", body)
        assert status == 503 and answer["error"]["code"] == "SCOPE_BUSY"
        assert len(api.retrieve(scope)["memories"]) == 1
    finally:
        deps.leases.release(tenant, scope_hash(to_scope), "operation-x")


def test_archive_bad_input_names_the_field(api, scope):
    status, body = api.request("POST", "/v1/memories/archive", {"scope": scope, "to_scope": scope})
    assert status == 422 and "to_scope" in body["error"]["message"]
    status, body = api.request("POST", "/v1/memories/archive", {"scope": scope})
    assert status == 422 and "to_scope" in body["error"]["message"]
    status, body = api.request("POST", "/v1/memories/archive", {"scope": scope, "to_scope": {"a": "b"}, "force": "yes"})
    assert status == 422 and "force" in body["error"]["message"]


def test_another_tenant_archives_and_sees_nothing(api, scope, tenant_client):
    # Given a memory of this tenant, archived
    memory = api.create(scope, "The user likes tea.")
    to_scope = _archive_scope(scope)
    other = tenant_client(f"other-{uuid.uuid4().hex[:8]}")

    # When another tenant archives the same scope, then nothing of this tenant's moves
    assert other.request("POST", "/v1/memories/archive", {"scope": scope, "to_scope": to_scope, "force": True}) == (
        200,
        {"archive_count": 0, "dry_run": False, "done": True},
    )
    assert api.get(memory["id"])["scope"] == scope
    # and after this tenant archives it, the other tenant sees neither the memory nor the archive scope
    api.request("POST", "/v1/memories/archive", {"scope": scope, "to_scope": to_scope, "force": True})
    assert other.request("GET", f"/v1/memories/{memory['id']}")[0] == 404
    assert other.retrieve(to_scope)["memories"] == []


def test_an_archive_out_of_time_answers_202_and_the_same_request_goes_on(api, scope, monkeypatch):
    # Given more memories than one block, and no time left in a request after its first block
    from engram.logic import archive as archive_logic

    api.create_batch([{"scope": scope, "fact": f"Fact {n}."} for n in range(archive_logic.ARCHIVE_BLOCK + 1)])
    monkeypatch.setattr(archive_logic, "ARCHIVE_SECONDS", -1.0)
    body = {"scope": scope, "to_scope": _archive_scope(scope), "force": True}
    key = {"Idempotency-Key": uuid.uuid4().hex}

    # When it is sent, then one block moved and more remain (202); the same request with the key goes on
    first = api.request("POST", "/v1/memories/archive", body, headers=key)
    assert first == (202, {"archive_count": archive_logic.ARCHIVE_BLOCK, "dry_run": False, "done": False})
    second = api.request("POST", "/v1/memories/archive", body, headers=key)
    assert second == (200, {"archive_count": 1, "dry_run": False, "done": True})
    # and once done, the key replays the stored answer
    assert api.request("POST", "/v1/memories/archive", body, headers=key) == second
