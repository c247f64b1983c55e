"""The part of the memory item's layout a reader needs without PynamoDB: its sort key, which of its
attributes are times, and the one mapping from its stored attribute values to the domain memory.

``items.MemoryItem`` declares the attributes (PynamoDB) and maps through ``memory_from_attributes``;
``stream`` decodes IndexSync's stream images with this module alone, so that function never imports
PynamoDB and botocore's models for them. ``tests/unit/adapters/test_stream_images.py`` holds the two
readers together: every image decodes to the memory PynamoDB reads from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engram.adapters.dynamodb.codecs import unpack_vector
from engram.models.memory import Source, StoredMemory

#: The sort key of a memory item (``T#<tenant>#M#<memory_id>`` / ``M``).
MEMORY_SK = "M"
#: The memory item's ``UTCDateTimeAttribute``s, stored as ``%Y-%m-%dT%H:%M:%S.%f+0000`` text.
MEMORY_TIME_ATTRIBUTES = ("create_time", "update_time", "expire_time")


def memory_from_attributes(values: Mapping[str, Any]) -> StoredMemory:
    """The domain memory of a memory item's attribute values, by stored name: times as datetimes, the
    embedding as packed bytes, ``scope`` as its canonical JSON, ``metadata`` as a dict; an absent
    attribute is None (the defaults of ``items.MemoryItem`` are applied here, as PynamoDB does not when
    it reads an item)."""
    scope: Any = values.get("scope")  # canonical JSON text (absent: json.loads fails, as it should)
    return StoredMemory(
        id=values.get("memory_id"),
        tenant_id=values.get("tenant_id"),
        scope=json.loads(scope),
        fact=values.get("fact"),
        topics=list(values.get("topics") or []),
        metadata=dict(values.get("metadata") or {}),
        create_time=values.get("create_time"),
        update_time=values.get("update_time"),
        expire_time=values.get("expire_time"),
        revision_id=values.get("revision_id"),
        source=Source(
            operation_id=values.get("operation_id"),
            event_ids=list(values.get("event_ids") or []),
            memory_ids=list(values.get("memory_ids") or []),
        ),
        embedding=unpack_vector(values.get("embedding")),
        embedding_model=values.get("embedding_model") or "",
        version=int(values.get("version") or 0),
    )
