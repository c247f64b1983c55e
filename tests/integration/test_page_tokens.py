"""Page tokens on the API: opaque (no key layout), and a 400 naming ``page_token`` for a token that is
malformed, altered, another tenant's, or issued for another scope or filter — never a 500."""

from __future__ import annotations

import base64
import json

import pytest


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.fixture
def token(api, scope) -> str:
    api.create_batch([{"scope": scope, "fact": f"Fact {i}.", "metadata": {"n": i}} for i in range(5)])
    page = api.retrieve(scope, page_size=2)
    assert len(page["memories"]) == 2 and page["next_page_token"]
    return str(page["next_page_token"])


def _list(client, scope, token, **fields):
    return client.request(
        "POST", "/v1/memories/retrieve", {"scope": scope, "page_size": 2, "page_token": token, **fields}
    )


def _refused(status: int, body: dict) -> bool:
    return status == 400 and body["error"]["code"] == "INVALID_ARGUMENT" and "page_token" in body["error"]["message"]


def test_a_token_is_opaque_and_continues_its_listing(api, scope, token):
    raw = base64.urlsafe_b64decode(token + "==")
    for hidden in (b"T#", b"#M#", b"#S#", b"GSI", b"PK", b"dev"):
        assert hidden not in raw
    status, body = _list(api, scope, token)
    assert status == 200 and len(body["memories"]) == 2


def test_a_foreign_tenants_token_is_400(api, scope, token, tenant_client):
    other = tenant_client("page-token-other")
    other.create(scope, "Their fact.")
    assert _refused(*_list(other, scope, token))


def test_a_token_of_another_scope_or_filter_is_400(api, scope, token):
    assert _refused(*_list(api, {**scope, "app": "other"}, token))
    assert _refused(*_list(api, scope, token, filter={"n": {"$gte": 0}}))


def test_an_altered_token_is_400(api, scope, token):
    for altered in (token[:-3], token + "AA", token[:8] + ("B" if token[8] != "B" else "C") + token[9:]):
        assert _refused(*_list(api, scope, altered)), altered


@pytest.mark.parametrize(
    "malformed",
    [
        "@@not-a-token",
        _b64({"PK": {"S": "T#dev#M#x"}, "SK": {"S": "M"}}),
        _b64({}),
        _b64(None),
        _b64([1]),
        _b64({"PK": 1, "SK": [], "GSI1PK": None}),
    ],
    ids=["symbols", "a-dynamodb-key", "empty-object", "null", "a-list", "wrong-types"],
)
def test_malformed_tokens_are_400_never_500(api, scope, malformed):
    assert _refused(*_list(api, scope, malformed))
