"""Scopes: the ``{str: str}`` map a memory belongs to, matched exactly and order-independently
(as in Vertex AI Memory Bank). Its canonical form and the hash of it form the partition key."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from pydantic import AfterValidator, Field
from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

MAX_SCOPE_KEYS = 8
MAX_SCOPE_KEY_CHARS = 64
MAX_SCOPE_VALUE_CHARS = 256


def _check_scope(scope: dict[str, str]) -> dict[str, str]:
    if not scope:
        raise ValueError("scope must have at least one key, e.g. {'user_id': 'u-1'}")
    if len(scope) > MAX_SCOPE_KEYS:
        raise ValueError(f"scope has {len(scope)} keys; at most {MAX_SCOPE_KEYS} are allowed")
    for key, value in scope.items():
        if not key or len(key) > MAX_SCOPE_KEY_CHARS:
            raise ValueError(f"scope keys must be 1-{MAX_SCOPE_KEY_CHARS} characters")
        if not value or len(value) > MAX_SCOPE_VALUE_CHARS:
            raise ValueError(f"scope values must be 1-{MAX_SCOPE_VALUE_CHARS} characters (key {key!r})")
    return dict(sorted(scope.items()))


Scope = TypeAliasType(
    "Scope",
    Annotated[
        dict[str, str],
        AfterValidator(_check_scope),
        Field(
            description="Exact-match scope, e.g. {'user_id': 'u-1'}: 1-8 keys, values 1-256 chars.",
            json_schema_extra={
                "minProperties": 1,
                "maxProperties": MAX_SCOPE_KEYS,
                "propertyNames": {"minLength": 1, "maxLength": MAX_SCOPE_KEY_CHARS},
                "additionalProperties": {"type": "string", "minLength": 1, "maxLength": MAX_SCOPE_VALUE_CHARS},
            },
        ),
    ],
)
"""A scope, wherever a model holds one (the named ``Scope`` schema of the API): checked, with messages
naming the bound broken, and put in canonical key order."""


def canonical_scope(scope: dict[str, str]) -> str:
    """The canonical JSON of a scope: keys sorted, no whitespace. Equal scopes give equal strings."""
    return json.dumps(scope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def scope_hash(scope: dict[str, str]) -> str:
    """32 hex digits of SHA-256 over the canonical scope; used in partition keys and index filters."""
    return hashlib.sha256(canonical_scope(scope).encode()).hexdigest()[:32]
