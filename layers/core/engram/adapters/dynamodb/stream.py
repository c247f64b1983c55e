"""Memories in DynamoDB stream records (what IndexSync receives)."""

from __future__ import annotations

import base64
from typing import Any

from engram.adapters.dynamodb.items import MemoryItem
from engram.models.memory import StoredMemory


def _decode_binary(image: dict[str, Any]) -> dict[str, Any]:
    """Stream images in Lambda events carry binary values as base64 text; PynamoDB wants bytes."""
    out = {}
    for name, value in image.items():
        if isinstance(value, dict) and isinstance(value.get("B"), str):
            value = {"B": base64.b64decode(value["B"])}
        out[name] = value
    return out


def memory_from_stream_image(image: dict[str, Any] | None) -> StoredMemory | None:
    """The memory in a stream image (``NewImage``/``OldImage``, DynamoDB JSON), or None when the image is
    absent or of another item type."""
    if not image or image.get("SK", {}).get("S") != MemoryItem.SK:
        return None
    return MemoryItem.from_raw_data(_decode_binary(image)).to_domain()
