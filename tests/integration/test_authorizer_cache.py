"""The local front caches the authorizer's policy per key as API Gateway does (the template's
``ReauthorizeEvery``), and drops it when an API key item changes, so a revocation holds at once locally."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from engram import wiring
from engram.logic.auth import create_api_key, hash_key
from engram_dev.client import EngramClient


@pytest.fixture
def authorizer_calls(local_stack, monkeypatch) -> list[str]:
    """The tokens the authorizer is invoked with from now on."""
    calls: list[str] = []
    invoke = local_stack.runtime.invoke

    def counted(function: str, event: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if function == "AuthorizerFunction":
            calls.append(event["authorizationToken"])
        return invoke(function, event, *args, **kwargs)

    monkeypatch.setattr(local_stack.runtime, "invoke", counted)
    return calls


def _client(local_stack, tenant: str) -> EngramClient:
    deps = wiring.dependencies()
    return EngramClient(local_stack.api_url, create_api_key(deps.api_keys, deps.clock, tenant, "test"))


def test_a_key_is_authorized_once_within_the_ttl(local_stack, scope, authorizer_calls):
    # Given a new key
    client = _client(local_stack, "tenant-cached")
    # When it makes three requests on two routes
    assert client.request("POST", "/v1/memories/retrieve", {"scope": scope})[0] == 200
    assert client.request("POST", "/v1/memories/retrieve", {"scope": scope})[0] == 200
    assert client.request("GET", "/v1/config")[0] == 200
    # Then the authorizer was asked once
    assert authorizer_calls == [f"Bearer {client.api_key}"]


def test_a_revoked_key_is_403_on_its_next_request_though_its_policy_was_cached(local_stack, scope, authorizer_calls):
    # Given a key whose policy is cached
    client = _client(local_stack, "tenant-revoked-cached")
    assert client.request("POST", "/v1/memories/retrieve", {"scope": scope})[0] == 200
    assert client.request("POST", "/v1/memories/retrieve", {"scope": scope})[0] == 200
    assert len(authorizer_calls) == 1
    # When it is revoked in the table (as `engram keys revoke` does through the emulator endpoint)
    assert wiring.dependencies().api_keys.revoke(hash_key(client.api_key))
    # Then its next request is refused, and the authorizer was asked again
    status, body = client.request("POST", "/v1/memories/retrieve", {"scope": scope})
    assert status == 403 and body["error"]["code"] == "PERMISSION_DENIED"
    assert len(authorizer_calls) == 2


def test_an_unknown_key_is_asked_every_time_so_a_key_created_later_works(local_stack, scope, authorizer_calls):
    # Given a key that is not in the table yet, refused
    deps = wiring.dependencies()
    key = f"egm_{uuid.uuid4().hex}"
    client = EngramClient(local_stack.api_url, key)
    assert client.request("GET", "/v1/config")[0] == 401
    # When it is created
    create_api_key(deps.api_keys, deps.clock, "tenant-later", "test", key)
    # Then it works at once
    assert client.request("GET", "/v1/config")[0] == 200
