"""Page tokens: opaque, signed positions in a listing, bound to the listing they continue.

A repository that pages (``MemoryRepository.page``) turns its position (the few key fields it needs to
resume, never a whole DynamoDB key) into a token with ``PageTokens.seal`` and back with ``open``. A token
is ``base64url(version byte | 16-byte MAC | position as compact JSON)``; the MAC is HMAC-SHA256, keyed
with the stack's page-token key, over the version, the ``Listing`` (purpose, tenant, binding: e.g. the
scope hash and the filter) and the position. So a token is accepted only by the listing that issued it:
one altered, truncated, of another tenant, route, scope or filter, or signed with a key since rotated,
raises ``InvalidPageToken`` (400 naming ``page_token``) before any read.

The key comes from ``key()``, called per token (``engram.wiring`` reads it from Secrets Manager through
Powertools parameters, cached; development uses a key generated per process). Tokens are signed, not
encrypted: the position they carry (e.g. the last memory's create time and id) is what the page showed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import NamedTuple

from engram.errors import InvalidPageToken

VERSION = 1
MAC_BYTES = 16
#: Characters a token may have (the request models cap ``page_token`` too).
MAX_TOKEN_CHARS = 2048
#: Fields a position may hold.
MAX_POSITION_FIELDS = 8
_DOMAIN = b"engram/page-token"
INVALID = (
    "page_token is not valid for this listing (malformed, altered, or issued for another one); omit it to start over"
)


class Listing(NamedTuple):
    """What a token is bound to: ``purpose`` (the listing's route, e.g. ``memories``), ``tenant_id``, and
    ``binding``, the rest of the request the position depends on (scope hash, filter digest...)."""

    purpose: str
    tenant_id: str
    binding: str = ""


def digest(value: object) -> str:
    """A short stable digest of ``value`` (its ``repr``; e.g. a parsed filter), for a ``Listing.binding``."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:32]


class PageTokens:
    """Seals positions into tokens and opens them again, with the key ``key()`` returns (bytes, any length;
    32 random bytes or more)."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def seal(self, listing: Listing, position: Sequence[str]) -> str:
        """The token of ``position`` (1-8 strings) in ``listing``."""
        if not 0 < len(position) <= MAX_POSITION_FIELDS:
            raise ValueError(f"a position holds 1-{MAX_POSITION_FIELDS} fields")
        payload = json.dumps(list(position), separators=(",", ":"), ensure_ascii=False).encode()
        raw = bytes([VERSION]) + self._mac(listing, payload) + payload
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def open(self, listing: Listing, token: str | None) -> list[str] | None:
        """The position in ``token`` (None for no token, i.e. the first page). Raises ``InvalidPageToken``
        unless ``token`` was sealed for exactly ``listing`` with the current key."""
        if not token:
            return None
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise InvalidPageToken(INVALID)
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as error:
            raise InvalidPageToken(INVALID) from error
        version, mac, payload = raw[:1], raw[1 : 1 + MAC_BYTES], raw[1 + MAC_BYTES :]
        if version != bytes([VERSION]) or not payload or not hmac.compare_digest(mac, self._mac(listing, payload)):
            raise InvalidPageToken(INVALID)
        try:
            position = json.loads(payload)
        except ValueError as error:  # a payload we signed is always JSON; kept for safety
            raise InvalidPageToken(INVALID) from error
        if not isinstance(position, list) or not all(isinstance(p, str) for p in position):
            raise InvalidPageToken(INVALID)
        return position

    def _mac(self, listing: Listing, payload: bytes) -> bytes:
        bound = json.dumps([VERSION, *listing], separators=(",", ":"), ensure_ascii=False).encode()
        message = _DOMAIN + b"\x00" + bound + b"\x00" + payload
        return hmac.new(self._key(), message, hashlib.sha256).digest()[:MAC_BYTES]
