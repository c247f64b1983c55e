"""How values that are not plain attributes are stored: embeddings as packed float32, documents as
compressed JSON, expiry times as sortable text, and page positions as opaque tokens."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from engram.errors import InvalidInput


def pack_vector(vector: Sequence[float]) -> bytes:
    """Little-endian float32 bytes, 4 per component (so a vector round-trips at float32 precision)."""
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(data: bytes | None) -> list[float]:
    """The floats in ``pack_vector``'s bytes; ``[]`` for None or empty bytes."""
    if not data:
        return []
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def encode_document(document: Any) -> bytes:
    """Compact JSON (values JSON lacks become ``str(value)``), zlib level 6."""
    return zlib.compress(json.dumps(document, separators=(",", ":"), default=str).encode(), 6)


def decode_document(data: bytes) -> Any:
    """The JSON value ``encode_document`` stored."""
    return json.loads(zlib.decompress(data))


def time_key(ts: datetime) -> str:
    """``2026-03-04T12:00:00.000000Z``: UTC with microseconds, so text order is time order."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_page_token(last_key: dict[str, Any] | None) -> str | None:
    """An opaque, URL-safe token for DynamoDB's ``LastEvaluatedKey`` (None at the end)."""
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode() if last_key else None


def decode_page_token(token: str | None) -> dict[str, Any] | None:
    """The ``LastEvaluatedKey`` in a token (None for no token). Raises ``InvalidInput`` for a bad token."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as error:
        raise InvalidInput("page_token is not valid") from error
    if not isinstance(key, dict):
        raise InvalidInput("page_token is not valid")
    return key
