"""Memories in DynamoDB stream records (what IndexSync receives), decoded without PynamoDB.

An image is DynamoDB JSON (``{"name": {"S": "..."}}``); each value is read as PynamoDB reads an attribute
of that type (numbers through ``json.loads``, binary from the base64 text Lambda events carry, or bytes),
the memory's times as ``UTCDateTimeAttribute`` text, and the result mapped by the one mapping
``engram.adapters.dynamodb.layout.memory_from_attributes`` that ``items.MemoryItem`` uses too. Importing
PynamoDB (and botocore's models with it) only to read an image was about a third of IndexSync's import.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from engram.adapters.dynamodb.layout import MEMORY_SK, MEMORY_TIME_ATTRIBUTES, memory_from_attributes
from engram.models.memory import StoredMemory


def _binary(value: str | bytes) -> bytes:
    """Stream images in Lambda events carry binary values as base64 text; other readers give bytes."""
    return base64.b64decode(value) if isinstance(value, str) else value


#: How each DynamoDB JSON type is read (PynamoDB's ``DESERIALIZE_CLASS_MAP`` for untyped values).
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "S": str,
    "N": json.loads,
    "B": _binary,
    "BOOL": bool,
    "NULL": lambda _: None,
    "SS": set,
    "NS": lambda values: {json.loads(v) for v in values},
    "BS": lambda values: {_binary(v) for v in values},
    "L": lambda values: [_decode(v) for v in values],
    "M": lambda values: {name: _decode(v) for name, v in values.items()},
}


def _decode(attribute: dict[str, Any]) -> Any:
    """One attribute value of DynamoDB JSON (``{"S": "x"}``) as a Python value."""
    ((kind, value),) = attribute.items()
    return _DECODERS[kind](value)


def _utc_time(text: str) -> datetime:
    """A ``UTCDateTimeAttribute`` value (``2026-03-04T12:00:00.000000+0000``) as PynamoDB reads it."""
    text = text.zfill(31)  # PynamoDB's reading: pre-1000 years may have been stored unpadded
    if len(text) != 31 or text[10] != "T" or text[19] != "." or text[26:] != "+0000":
        raise ValueError(f"Datetime string {text!r} does not match format '%Y-%m-%dT%H:%M:%S.%f+0000'")
    return datetime.fromisoformat(text[:26]).replace(tzinfo=UTC)


def memory_from_stream_image(image: dict[str, Any] | None) -> StoredMemory | None:
    """The memory in a stream image (``NewImage``/``OldImage``, DynamoDB JSON), or None when the image is
    absent or of another item type."""
    if not image or image.get("SK", {}).get("S") != MEMORY_SK:
        return None
    values = {name: _decode(attribute) for name, attribute in image.items()}
    for name in MEMORY_TIME_ATTRIBUTES:
        if values.get(name) is not None:
            values[name] = _utc_time(values[name])
    return memory_from_attributes(values)
