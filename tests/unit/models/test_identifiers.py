"""Identifiers that reach keys have a grammar (issue 10, item 6): the key builders refuse an id outside it,
so no id can carry the ``#`` delimiter into another item's key."""

from __future__ import annotations

import pytest
from engram.adapters.dynamodb.items import (
    ApiKeyItem,
    BlobItem,
    ConfigItem,
    IdempotencyItem,
    LeaseItem,
    MemoryItem,
    OperationItem,
    PartItem,
    ReceiptItem,
    RevisionItem,
    SessionEventItem,
    tenant_pk,
)
from engram.clock import new_id
from engram.errors import InvalidIdentifier, InvalidInput
from engram.logic.auth import create_api_key
from engram.models.identifiers import check_client_id, check_resource_id, check_tenant_id

from tests.fakes import FakeApiKeys, FixedClock

ID = new_id()
#: Every key builder, with the position of each id it takes: (name, builder, arguments, position of the id).
BUILDERS = [
    ("tenant", lambda a: tenant_pk(*a), ["dev"], 0),
    ("memory tenant", lambda a: MemoryItem.key(*a), ["dev", ID], 0),
    ("memory", lambda a: MemoryItem.key(*a), ["dev", ID], 1),
    ("scope partition", lambda a: MemoryItem.scope_partition(*a), ["dev", "ab12"], 1),
    ("revision memory", lambda a: RevisionItem.key(*a), ["dev", ID, ID], 1),
    ("revision", lambda a: RevisionItem.key(*a), ["dev", ID, ID], 2),
    ("operation", lambda a: OperationItem.key(*a), ["dev", ID], 1),
    ("document operation", lambda a: BlobItem.key(*a), ["dev", ID, "REQ"], 1),
    ("document name", lambda a: BlobItem.key(*a), ["dev", ID, "REQ"], 2),
    ("session tenant", lambda a: SessionEventItem.partition(*a), ["dev", "chat-1"], 0),
    ("session", lambda a: SessionEventItem.partition(*a), ["dev", "chat-1"], 1),
    ("event session", lambda a: SessionEventItem.key(*a), ["dev", "chat-1", "e1"], 1),
    ("event", lambda a: SessionEventItem.key(*a), ["dev", "chat-1", "e1"], 2),
    ("lease scope", lambda a: LeaseItem.key(*a), ["dev", "ab12"], 1),
    ("config tenant", lambda a: ConfigItem.key(*a), ["dev"], 0),
    ("api key hash", lambda a: ApiKeyItem.key(*a), ["ab" * 32], 0),
    ("idempotency tenant", lambda a: IdempotencyItem.key(*a), ["dev", "abc"], 0),
    ("idempotency hash", lambda a: IdempotencyItem.key(*a), ["dev", "abc"], 1),
    ("receipt", lambda a: ReceiptItem.key(*a), ["dev", ID], 1),
    ("forget in progress", lambda a: ReceiptItem.pending_key(*a), ["dev", "ab12"], 1),
    ("scope parts", lambda a: PartItem.scope_parts(*a), ["dev", "ab12"], 1),
]
INJECTIONS = ["dev#SES#zz", "x#E#y", "a#M#b", "", " ", "a b", "a\x00", "a/b", "ä", "x" * 200]


@pytest.mark.parametrize(("name", "build", "args", "position"), BUILDERS, ids=[b[0] for b in BUILDERS])
def test_every_key_builder_refuses_a_delimiter_injection(name, build, args, position) -> None:
    # Given a key builder that accepts its usual ids
    assert "#" in "".join(build(args))
    for bad in INJECTIONS:
        if bad == "" and name in ("idempotency hash",):  # a request hash may be empty (Powertools' record prefix)
            continue
        # When one id carries a delimiter (or breaks its grammar otherwise)
        given = list(args)
        given[position] = bad
        # Then the builder refuses it: a ValueError, and a 422 through the API
        with pytest.raises(InvalidIdentifier) as raised:
            build(given)
        assert isinstance(raised.value, ValueError) and isinstance(raised.value, InvalidInput)


def test_two_tenants_can_no_longer_meet_in_one_key() -> None:
    # Given the attack of the issue: tenant "dev#SES#zz" and tenant "dev" with session "zz#SES#s"
    # When either key is built, Then it is refused (before, both gave T#dev#SES#zz#SES#s)
    with pytest.raises(InvalidIdentifier):
        SessionEventItem.partition("dev#SES#zz", "s")
    with pytest.raises(InvalidIdentifier):
        SessionEventItem.partition("dev", "zz#SES#s")


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (check_tenant_id, ["dev", "acme.com", "t_1-a", "A" * 64], ["dev#x", "a:b", "-dev", "A" * 65, "dé"]),
        (check_client_id, ["s-1", "chat:2026-01-01.a", "A" * 128], ["x#E#y", "a b", ".a", "A" * 129, "a%23"]),
        (check_resource_id, [ID, "abc-DEF_1", "A" * 64], ["a.b", "a:b", "a#b", "A" * 65, ""]),
    ],
    ids=["tenant", "session and event", "memory, operation, revision, receipt"],
)
def test_the_grammars(check, good, bad) -> None:
    for value in good:
        assert check(value) == value
    for value in bad:
        with pytest.raises(InvalidIdentifier):
            check(value)


def test_an_api_key_is_only_created_for_a_valid_tenant() -> None:
    # Given the key store, When a key is created for 'dev#SES#zz', Then it is refused and nothing is stored
    api_keys = FakeApiKeys()
    with pytest.raises(InvalidIdentifier):
        create_api_key(api_keys, FixedClock(), "dev#SES#zz")
    assert api_keys.items == {}
    assert create_api_key(api_keys, FixedClock(), "dev").startswith("egm_")
