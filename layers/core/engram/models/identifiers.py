"""The grammar of every identifier that becomes part of a DynamoDB key, so none can carry the key
delimiter (``#``) or reach into another item's key.

| identifier | grammar | who chooses it |
|---|---|---|
| tenant id | ``^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`` (1-64) | the operator (``engram keys create --tenant``) |
| session id, session event id | ``^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`` (1-128) | the client |
| memory, operation, revision, forget receipt id | ``^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`` (1-64) | Engram |

None allows ``#`` (the key delimiter), whitespace, control characters, ``/``, ``%`` or non-ASCII letters;
a tenant id has no ``:`` either (it is the prefix of the index's document ids, ``<tenant>:<memory>``).
Ids Engram issues are 28 lower-case hex digits (``engram.clock.new_id``).

The API checks them in the request models and path parameters (422 naming the field); the key builders
(``engram.adapters.dynamodb.items``) check them again, raising ``InvalidIdentifier`` — a ``ValueError``
and an ``InvalidInput`` (422) — so no code path can build a key from an id outside its grammar.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from engram.errors import InvalidIdentifier

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: What fills the other places of keys: hashes (scope, API key, request) and document names.
KEY_PART_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

TENANT_ID_RULE = "1-64 characters: letters, digits, '.', '_', '-', starting with a letter or digit"
CLIENT_ID_RULE = "1-128 characters: letters, digits, '.', '_', ':', '-', starting with a letter or digit"
RESOURCE_ID_RULE = "1-64 characters: letters, digits, '_', '-', starting with a letter or digit"

_TENANT = re.compile(TENANT_ID_PATTERN)
_CLIENT = re.compile(CLIENT_ID_PATTERN)
_RESOURCE = re.compile(RESOURCE_ID_PATTERN)
_KEY_PART = re.compile(KEY_PART_PATTERN)


def _check(pattern: re.Pattern[str], rule: str, name: str, value: object) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value)[:80]
        raise InvalidIdentifier(f"{name} {shown} is not a valid identifier ({rule})")
    return value


def check_tenant_id(value: object, name: str = "tenant id") -> str:
    """``value`` if it is a tenant id (``TENANT_ID_PATTERN``), else ``InvalidIdentifier``."""
    return _check(_TENANT, TENANT_ID_RULE, name, value)


def check_client_id(value: object, name: str = "id") -> str:
    """``value`` if it is a session or session event id (``CLIENT_ID_PATTERN``), else ``InvalidIdentifier``."""
    return _check(_CLIENT, CLIENT_ID_RULE, name, value)


def check_resource_id(value: object, name: str = "id") -> str:
    """``value`` if it is a memory, operation, revision or receipt id (``RESOURCE_ID_PATTERN``), else
    ``InvalidIdentifier``."""
    return _check(_RESOURCE, RESOURCE_ID_RULE, name, value)


def check_key_part(value: object, name: str = "key part") -> str:
    """``value`` if it may fill a hash or name place of a key (``KEY_PART_PATTERN``: 1-128 letters,
    digits, ``_``, ``-``), else ``InvalidIdentifier``."""
    return _check(_KEY_PART, "1-128 letters, digits, '_', '-'", name, value)


def _described(rule: str, pattern: str) -> str:
    return f"{rule} (pattern {pattern})."


TENANT_ID_DESCRIPTION = _described(TENANT_ID_RULE, TENANT_ID_PATTERN)
SESSION_ID_DESCRIPTION = "A session id: " + _described(CLIENT_ID_RULE, CLIENT_ID_PATTERN)
EVENT_ID_DESCRIPTION = "A session event id: " + _described(CLIENT_ID_RULE, CLIENT_ID_PATTERN)
RESOURCE_ID_DESCRIPTION = "An id Engram issued: " + _described(RESOURCE_ID_RULE, RESOURCE_ID_PATTERN)

TenantId = Annotated[str, AfterValidator(check_tenant_id), Field(description=TENANT_ID_DESCRIPTION)]
SessionId = Annotated[str, Field(pattern=CLIENT_ID_PATTERN, max_length=128, description=SESSION_ID_DESCRIPTION)]
EventId = Annotated[str, Field(pattern=CLIENT_ID_PATTERN, max_length=128, description=EVENT_ID_DESCRIPTION)]
ResourceId = Annotated[str, Field(pattern=RESOURCE_ID_PATTERN, max_length=64, description=RESOURCE_ID_DESCRIPTION)]
