"""``MemoryRepository.page`` tokens: opaque, signed, and accepted only by the listing that issued them
(tenant, scope or whole tenant, filter) — the same on the fake and on DynamoDB."""

from __future__ import annotations

import base64
import json

import pytest
from engram.adapters.page_tokens import MAC_BYTES
from engram.errors import InvalidPageToken
from engram.models.filters import parse

from tests.integration.store.builders import SCOPE, created, later, memory

OTHER_SCOPE = {"user_id": "u-2"}


def _first_token(stores, tenant, scope=SCOPE, node=None) -> str:
    page, token = stores.memories.page(tenant, scope, 2, None, node)
    assert len(page) == 2 and token is not None
    return token


@pytest.fixture
def listed(stores, tenant):
    """Four memories in ``SCOPE`` and four in ``OTHER_SCOPE`` of ``tenant`` and of another tenant."""
    for owner in (tenant, f"{tenant}-other"):
        for scope in (SCOPE, OTHER_SCOPE):
            batch = [memory(owner, f"Fact {i}.", scope=scope, create_time=later(i)) for i in range(4)]
            stores.memories.apply_changes(owner, [created(m) for m in batch])
    return stores


def test_a_token_continues_its_own_listing(listed, tenant) -> None:
    token = _first_token(listed, tenant)
    page, _ = listed.memories.page(tenant, SCOPE, 2, token)
    assert [m.fact for m in page] == ["Fact 1.", "Fact 0."]


def test_a_token_holds_no_key_layout(listed, tenant) -> None:
    raw = base64.urlsafe_b64decode(_first_token(listed, tenant) + "==")
    position = raw[1 + MAC_BYTES :]  # after the version byte and the MAC (random bytes: may hold anything)
    assert json.loads(position)  # the position itself, readable
    for hidden in (b"T#", b"#M#", b"GSI", b"PK", tenant.encode()):
        assert hidden not in position


@pytest.mark.parametrize(
    "reuse",
    [
        lambda stores, tenant, token: stores.memories.page(f"{tenant}-other", SCOPE, 2, token),
        lambda stores, tenant, token: stores.memories.page(tenant, OTHER_SCOPE, 2, token),
        lambda stores, tenant, token: stores.memories.page(tenant, None, 2, token),
        lambda stores, tenant, token: stores.memories.page(tenant, SCOPE, 2, token, parse({"lang": "en"})),
    ],
    ids=["foreign-tenant", "other-scope", "whole-tenant", "other-filter"],
)
def test_a_token_of_another_listing_is_refused(listed, tenant, reuse) -> None:
    token = _first_token(listed, tenant)
    with pytest.raises(InvalidPageToken):
        reuse(listed, tenant, token)


def test_an_altered_token_is_refused(listed, tenant) -> None:
    token = _first_token(listed, tenant)
    for altered in (token[:-2], token + "A", token[:5] + ("x" if token[5] != "x" else "y") + token[6:]):
        with pytest.raises(InvalidPageToken):
            listed.memories.page(tenant, SCOPE, 2, altered)


@pytest.mark.parametrize(
    "token",
    [
        base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
        for value in (
            {"PK": {"S": "T#t#M#x"}, "SK": {"S": "M"}, "GSI1PK": {"S": "T#t#S#h"}, "GSI1SK": {"S": "M#x"}},
            {},
            None,
            ["2026-03-04T12:00:00.000000Z", "x"],
            {"PK": 1},
        )
    ],
    ids=["a-dynamodb-key", "empty-object", "null", "a-position", "a-number"],
)
def test_unsigned_shapes_are_refused(listed, tenant, token: str) -> None:
    with pytest.raises(InvalidPageToken):
        listed.memories.page(tenant, SCOPE, 2, token)
