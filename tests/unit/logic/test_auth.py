"""API keys (``engram.logic.auth``): hashing, generation and resolving a Bearer header to a tenant."""

from __future__ import annotations

import hashlib
import re

import pytest
from engram.errors import Forbidden, Unauthorized
from engram.logic.auth import (
    KEY_PREFIX,
    MEM0_ROUTES,
    TOKEN_VALIDATION_EXPRESSION,
    allowed_routes,
    create_api_key,
    hash_key,
    is_mem0_route,
    new_api_key,
    resolve_tenant,
    usage_identifier_key,
)

TENANT = "tenant-a"


def test_a_key_is_stored_as_its_sha256_hex() -> None:
    # Given a key
    # When it is hashed
    # Then the hash is the hex SHA-256 of the key, never the key itself
    assert hash_key("egm_secret") == hashlib.sha256(b"egm_secret").hexdigest()
    assert hash_key("egm_secret") != hash_key("egm_secret2")


def test_a_new_key_has_the_prefix_and_256_random_bits() -> None:
    # Given many new keys
    keys = {new_api_key() for _ in range(200)}

    # Then each is egm_ + 43 URL-safe characters (32 random bytes), and no two are equal
    assert len(keys) == 200
    for key in keys:
        assert key.startswith(KEY_PREFIX) and KEY_PREFIX == "egm_"
        assert re.fullmatch(r"egm_[A-Za-z0-9_-]{43}", key), key


def test_create_api_key_stores_only_the_hash_and_returns_the_plaintext_once(stores, clock) -> None:
    # Given a tenant without keys
    # When a key is created for it
    key = create_api_key(stores.api_keys, clock, TENANT, name="ci")

    # Then only its hash is stored, mapped to the tenant, and the key resolves to the tenant
    assert list(stores.api_keys.items) == [hash_key(key)]
    assert key not in str(stores.api_keys.items)
    assert stores.api_keys.items[hash_key(key)]["name"] == "ci"
    assert resolve_tenant(stores.api_keys, f"Bearer {key}") == TENANT


@pytest.mark.parametrize("header", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_a_missing_header_is_unauthorized(stores, header: str | None) -> None:
    # Given no Authorization header
    # When it is resolved, Then the caller is unauthenticated
    with pytest.raises(Unauthorized):
        resolve_tenant(stores.api_keys, header)


@pytest.mark.parametrize(
    "header_of",
    [lambda k: f"Basic {k}", lambda k: k, lambda k: "Bearer", lambda k: "Bearer    ", lambda k: f"Digest {k}"],
    ids=["basic", "bare-key", "bearer-without-key", "bearer-blank", "other-scheme"],
)
def test_a_header_that_is_not_bearer_is_unauthorized(stores, clock, header_of) -> None:
    # Given a valid key sent without the Bearer (or mem0's Token) scheme
    key = create_api_key(stores.api_keys, clock, TENANT)

    # When the header is resolved, Then the caller is unauthenticated
    with pytest.raises(Unauthorized):
        resolve_tenant(stores.api_keys, header_of(key))


def test_an_unknown_key_is_unauthorized(stores, clock) -> None:
    # Given a stored key
    create_api_key(stores.api_keys, clock, TENANT)

    # When another key is presented, Then the caller is unauthenticated
    with pytest.raises(Unauthorized):
        resolve_tenant(stores.api_keys, f"Bearer {new_api_key()}")


def test_a_revoked_key_is_forbidden(stores, clock) -> None:
    # Given a key that was revoked
    key = create_api_key(stores.api_keys, clock, TENANT)
    assert stores.api_keys.revoke(hash_key(key))

    # When it is presented, Then access is forbidden (not unauthenticated)
    with pytest.raises(Forbidden):
        resolve_tenant(stores.api_keys, f"Bearer {key}")


def test_a_good_key_resolves_to_its_tenant_whatever_the_scheme_case(stores, clock) -> None:
    # Given keys of two tenants
    key_a = create_api_key(stores.api_keys, clock, TENANT)
    key_b = create_api_key(stores.api_keys, clock, "tenant-b", api_key="egm_given-key")

    # When each is presented
    # Then each resolves to its own tenant
    assert resolve_tenant(stores.api_keys, f"Bearer {key_a}") == TENANT
    assert resolve_tenant(stores.api_keys, f"bearer {key_a}  ") == TENANT
    assert resolve_tenant(stores.api_keys, "Bearer egm_given-key") == "tenant-b"
    assert key_b == "egm_given-key"


def test_a_tenants_usage_key_is_its_own_per_api_and_fits_api_gateway() -> None:
    # Given tenants on APIs
    # When their usage-plan keys are derived
    key = usage_identifier_key("abcdef1234", TENANT)
    # Then the same tenant and API always give the same key, and any other tenant or API another one
    assert key == usage_identifier_key("abcdef1234", TENANT)
    others = {usage_identifier_key("abcdef1234", "tenant-b"), usage_identifier_key("zyxwvu9876", TENANT)}
    assert key not in others and len(others) == 2
    # And it is a value API Gateway accepts for an API key (20-128 characters), not the tenant id itself
    assert re.fullmatch(r"[0-9a-f]{64}", key) and TENANT not in key


def test_the_token_check_matches_every_new_key_and_rejects_what_resolve_tenant_rejects(stores) -> None:
    # Given the expression API Gateway checks the header with before invoking the authorizer
    check = re.compile(TOKEN_VALIDATION_EXPRESSION)
    # Then every key Engram makes passes it
    assert all(check.fullmatch(f"Bearer {new_api_key()}") for _ in range(200))
    # And headers resolve_tenant refuses as malformed never pass it
    for header in ["Basic abcdefghijklmnopqrstu", "Bearer", "Token", "abcdefghijklmnopqrstu"]:
        assert not check.fullmatch(header)
        with pytest.raises(Unauthorized, match="expected"):
            resolve_tenant(stores.api_keys, header)


def test_mem0s_token_scheme_resolves_the_key_but_allows_only_the_mem0_routes(stores, clock) -> None:
    # Given a key, sent with mem0's scheme (what mem0's MemoryClient sends) and with Bearer
    key = create_api_key(stores.api_keys, clock, TENANT)
    for header in (f"Token {key}", f"token {key}", f"TOKEN {key} "):
        # Then API Gateway lets it through, and it resolves to the key's tenant
        assert re.fullmatch(TOKEN_VALIDATION_EXPRESSION, header.strip()), header
        assert resolve_tenant(stores.api_keys, header) == TENANT
        # But the authorizer's policy allows it on the mem0-compatible routes only
        assert allowed_routes(header) == MEM0_ROUTES == "mem0/*"
    assert allowed_routes(f"Bearer {key}") == "*"
    # And a method ARN's resource is a mem0 route only under mem0/
    assert is_mem0_route("mem0/v1/ping/") and is_mem0_route("/mem0/v3/memories/add")
    assert not is_mem0_route("v1/memories/retrieve") and not is_mem0_route("mem0") and not is_mem0_route("mem0x/v1")
