"""API keys (``engram.logic.auth``): hashing, generation and resolving a Bearer header to a tenant."""

from __future__ import annotations

import hashlib
import re

import pytest
from engram.errors import Forbidden, Unauthorized
from engram.logic.auth import KEY_PREFIX, create_api_key, hash_key, new_api_key, resolve_tenant

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
    [lambda k: f"Basic {k}", lambda k: k, lambda k: "Bearer", lambda k: "Bearer    ", lambda k: f"Token {k}"],
    ids=["basic", "bare-key", "bearer-without-key", "bearer-blank", "other-scheme"],
)
def test_a_header_that_is_not_bearer_is_unauthorized(stores, clock, header_of) -> None:
    # Given a valid key sent without the Bearer scheme
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
