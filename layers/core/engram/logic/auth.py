"""API keys: random, shown once, stored as a SHA-256 hash that maps to a tenant."""

from __future__ import annotations

import hashlib
import secrets

from engram.errors import Forbidden, Unauthorized
from engram.ports import ApiKeyRepository, Clock

KEY_PREFIX = "egm_"


def hash_key(api_key: str) -> str:
    """Hex SHA-256 of the key. Keys are 256-bit random, so an unsalted fast hash is sufficient."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    """``egm_`` + 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(
    api_keys: ApiKeyRepository, clock: Clock, tenant_id: str, name: str = "", api_key: str | None = None
) -> str:
    """Store the hash of a new (or the given) key for ``tenant_id`` and return the plaintext once.
    Raises ``Conflict`` when the given key already exists."""
    api_key = api_key or new_api_key()
    api_keys.put(hash_key(api_key), tenant_id, name, clock.now())
    return api_key


def resolve_tenant(api_keys: ApiKeyRepository, authorization: str | None) -> str:
    """The tenant of an ``Authorization: Bearer <key>`` header value.

    Raises ``Unauthorized`` (401) when the header is missing, malformed or the key unknown, and
    ``Forbidden`` (403) when the key was revoked.
    """
    if not authorization:
        raise Unauthorized("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected 'Authorization: Bearer <api key>'")
    found = api_keys.get(hash_key(token.strip()))
    if found is None:
        raise Unauthorized("unknown API key")
    tenant_id, revoked = found
    if revoked:
        raise Forbidden("this API key has been revoked")
    return tenant_id
