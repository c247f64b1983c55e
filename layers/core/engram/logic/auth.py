"""API keys: random, shown once, stored as a SHA-256 hash that maps to a tenant; and what the deployed API
derives from them: the token check API Gateway applies before the authorizer runs, and each tenant's
usage-plan key (its own throttle and quota)."""

from __future__ import annotations

import hashlib
import secrets

from engram.errors import Forbidden, Unauthorized
from engram.models.identifiers import check_tenant_id
from engram.ports import ApiKeyRepository, Clock

KEY_PREFIX = "egm_"

#: The authorizer's token ``ValidationExpression`` in ``template.yaml`` (API Gateway answers 401 without
#: invoking the authorizer when the header does not match): the Bearer scheme, or mem0's Token scheme
#: (``MEM0_SCHEME``), in any case, one space, and 16-128 URL-safe characters (a key from ``new_api_key`` has
#: 47). A TOKEN authorizer has one expression for every route: which routes take Token is ``allowed_routes``.
TOKEN_VALIDATION_EXPRESSION = r"^([Bb][Ee][Aa][Rr][Ee][Rr]|[Tt][Oo][Kk][Ee][Nn]) [A-Za-z0-9_-]{16,128}$"
#: mem0's scheme (``Authorization: Token <key>``, what mem0's ``MemoryClient`` sends), accepted only on the
#: mem0-compatible routes: ``MEM0_ROUTES``, a resource path in the authorizer policy's syntax.
MEM0_SCHEME = "token"
MEM0_ROUTES = "mem0/*"


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
    Raises ``InvalidIdentifier`` when ``tenant_id`` breaks the tenant id grammar
    (``engram.models.identifiers``) and ``Conflict`` when the given key already exists."""
    check_tenant_id(tenant_id)
    api_key = api_key or new_api_key()
    api_keys.put(hash_key(api_key), tenant_id, name, clock.now())
    return api_key


def resolve_tenant(api_keys: ApiKeyRepository, authorization: str | None) -> str:
    """The tenant of an ``Authorization: Bearer <key>`` (or mem0's ``Token <key>``) header value; which
    routes a Token key may call is ``allowed_routes``.

    Raises ``Unauthorized`` (401) when the header is missing, malformed or the key unknown, and
    ``Forbidden`` (403) when the key was revoked.
    """
    if not authorization:
        raise Unauthorized("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", MEM0_SCHEME) or not token.strip():
        raise Unauthorized("expected 'Authorization: Bearer <api key>' (or 'Token <api key>' under /mem0)")
    found = api_keys.get(hash_key(token.strip()))
    if found is None:
        raise Unauthorized("unknown API key")
    tenant_id, revoked = found
    if revoked:
        raise Forbidden("this API key has been revoked")
    return tenant_id


def allowed_routes(authorization: str) -> str:
    """The routes a key sent with this (resolved) header may call, as the resource path of the authorizer's
    policy: every route (``*``) for Bearer; only the mem0-compatible ones (``MEM0_ROUTES``) for Token."""
    scheme = authorization.strip().partition(" ")[0].lower()
    return MEM0_ROUTES if scheme == MEM0_SCHEME else "*"


def is_mem0_route(resource: str) -> bool:
    """Whether a request's resource path (a method ARN's, e.g. ``mem0/v1/ping/``) is a mem0-compatible route."""
    return resource.lstrip("/").startswith("mem0/")


def usage_identifier_key(api_id: str, tenant_id: str) -> str:
    """The value of ``tenant_id``'s API Gateway API key on the REST API ``api_id``: 64 hex characters, the
    SHA-256 of both (so each stack has its own key per tenant, and no value needs storing).

    The authorizer returns it as ``usageIdentifierKey``; ``engram keys create`` / ``engram keys plan``
    create the API Gateway key with this value and put it on a usage plan. The REST API reads keys only
    from the authorizer (``ApiKeySourceType: AUTHORIZER``), so knowing the value grants nothing.
    """
    return hashlib.sha256(f"engram-usage\n{api_id}\n{tenant_id}".encode()).hexdigest()
