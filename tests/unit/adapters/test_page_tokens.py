"""Page tokens (``engram.adapters.page_tokens``): opaque, signed, and accepted only by the listing that
issued them; and the key they are signed with (``engram.wiring.page_token_key``)."""

from __future__ import annotations

import base64
import json

import pytest
from engram.adapters.page_tokens import Listing, PageTokens
from engram.errors import ConfigurationError, InvalidPageToken
from engram.settings import Settings
from engram.wiring import page_token_key

KEY = b"k" * 32
LISTING = Listing("memories", "tenant-a", "scope-hash:filter-digest")
POSITION = ["2026-03-04T12:00:00.000000Z", "0196a1b2c3d4e5f60718293a4b5c"]


def tokens(key: bytes = KEY) -> PageTokens:
    return PageTokens(lambda: key)


def test_a_token_opens_to_its_position_in_its_own_listing() -> None:
    token = tokens().seal(LISTING, POSITION)
    assert tokens().open(LISTING, token) == POSITION
    assert tokens().open(LISTING, None) is None and tokens().open(LISTING, "") is None


def test_a_token_shows_no_key_layout() -> None:
    # Given a token, When its bytes are decoded, Then no table key, prefix or binding appears in them
    raw = base64.urlsafe_b64decode(tokens().seal(LISTING, POSITION) + "==")
    for hidden in (b"T#", b"#M#", b"GSI", b"PK", b"tenant-a", b"scope-hash", b"memories"):
        assert hidden not in raw


@pytest.mark.parametrize(
    "other",
    [
        Listing("memories", "tenant-b", LISTING.binding),
        Listing("session-events", LISTING.tenant_id, LISTING.binding),
        Listing("memories", LISTING.tenant_id, "other-scope:filter-digest"),
        Listing("memories", LISTING.tenant_id, "scope-hash:other-filter"),
    ],
    ids=["foreign-tenant", "other-route", "other-scope", "other-filter"],
)
def test_a_token_of_another_listing_is_refused(other: Listing) -> None:
    token = tokens().seal(LISTING, POSITION)
    with pytest.raises(InvalidPageToken, match="page_token"):
        tokens().open(other, token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = tokens(b"old key, since rotated").seal(LISTING, POSITION)
    with pytest.raises(InvalidPageToken):
        tokens().open(LISTING, token)


def test_every_altered_character_is_detected() -> None:
    # Given a token, When any one of its characters is changed, Then it is refused (or, for the padding
    # bits of the last character, means the same bytes)
    token = tokens().seal(LISTING, POSITION)
    for i, char in enumerate(token):
        altered = token[:i] + ("A" if char != "A" else "B") + token[i + 1 :]
        try:
            opened = tokens().open(LISTING, altered)
        except InvalidPageToken:
            continue
        assert opened == POSITION and i == len(token) - 1


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "@@not-a-token",
        "not base64 at all!",
        _b64({"PK": {"S": "T#tenant-a#M#x"}, "SK": {"S": "M"}}),
        _b64({}),
        _b64(None),
        _b64([1]),
        "AQ",
        "x" * 3000,
    ],
    ids=["symbols", "spaces", "a-dynamodb-key", "empty-object", "null", "a-list", "truncated", "too-long"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidPageToken, match="page_token"):
        tokens().open(LISTING, token)


def test_the_key_is_the_env_key_or_in_development_one_random_key_per_process() -> None:
    assert page_token_key(Settings(page_token_key="explicit")) == b"explicit"
    development = Settings(development=True)
    assert page_token_key(development) == page_token_key(development) and len(page_token_key(development)) == 32


def test_outside_development_a_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ENGRAM_PAGE_TOKEN_SECRET_ARN"):
        page_token_key(Settings(development=False))
