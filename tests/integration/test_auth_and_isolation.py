"""The authorizer (401/403) and tenant isolation through the whole stack."""

from __future__ import annotations

from engram import wiring
from engram.logic.auth import create_api_key, hash_key
from engram_dev.client import EngramClient


def _client_for(local_stack, tenant: str) -> EngramClient:
    deps = wiring.dependencies()
    key = create_api_key(deps.api_keys, deps.clock, tenant, "test")
    return EngramClient(local_stack.api_url, key)


def test_missing_and_unknown_keys_are_401(local_stack, scope):
    anonymous = EngramClient(local_stack.api_url, "")
    status, body = anonymous.request("POST", "/v1/memories/retrieve", {"scope": scope}, headers={"Authorization": ""})
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"
    status, body = EngramClient(local_stack.api_url, "egm_wrong").request(
        "POST", "/v1/memories/retrieve", {"scope": scope}
    )
    assert status == 401
    status, body = anonymous.request("GET", "/v1/memories/x", headers={"Authorization": "Basic abc"})
    assert status == 401


def test_revoked_key_is_403(local_stack, scope):
    client = _client_for(local_stack, "tenant-revoked")
    assert client.request("POST", "/v1/memories/retrieve", {"scope": scope})[0] == 200
    assert wiring.dependencies().api_keys.revoke(hash_key(client.api_key))
    status, body = client.request("POST", "/v1/memories/retrieve", {"scope": scope})
    assert status == 403 and body["error"]["code"] == "PERMISSION_DENIED"


def test_tenant_b_cannot_see_tenant_a_memories_or_operations(local_stack, scope):
    tenant_a = _client_for(local_stack, "tenant-a")
    tenant_b = _client_for(local_stack, "tenant-b")
    # Given tenant A's memory and generation in a scope
    memory = tenant_a.create(scope, "The user lives in Lisbon.")
    operation = tenant_a.generate(scope, messages=[{"role": "user", "content": "I live in Lisbon."}], wait_seconds=20)
    assert operation["status"] == "SUCCEEDED"
    assert tenant_a.retrieve(scope, "Where does the user live?")["memories"]
    # When tenant B uses the very same scope and ids
    # Then nothing of A's is visible: 404s (not 403s) and empty results
    assert tenant_b.request("GET", f"/v1/memories/{memory['id']}")[0] == 404
    assert tenant_b.request("GET", f"/v1/operations/{operation['id']}")[0] == 404
    assert tenant_b.retrieve(scope, "Where does the user live?")["memories"] == []
    assert tenant_b.retrieve(scope)["memories"] == []
