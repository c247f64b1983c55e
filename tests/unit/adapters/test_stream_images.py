"""Stream images (``engram.adapters.dynamodb.stream``) are decoded without PynamoDB, to the memory PynamoDB
reads from the same item (``items.MemoryItem``), for every shape a memory item takes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engram.adapters.dynamodb.items import MemoryItem
from engram.adapters.dynamodb.layout import MEMORY_TIME_ATTRIBUTES
from engram.adapters.dynamodb.stream import memory_from_stream_image
from engram.models.memory import Source, StoredMemory
from pynamodb.attributes import (
    BinaryAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

CREATED = datetime(2026, 3, 4, 12, 0, 0, 123456, tzinfo=UTC)

MEMORIES = [
    StoredMemory(
        id="m1",
        tenant_id="tenant-a",
        scope={"user_id": "u1"},
        fact="Lives in Lisbon.",
        create_time=CREATED,
        update_time=CREATED,
        revision_id="r1",
    ),
    StoredMemory(
        id="m2",
        tenant_id="tenant-a",
        scope={"user_id": "u1", "agent": "a é"},
        fact="Prefers tea; née Smith.",
        topics=["preferences", "biography"],
        metadata={"n": 3, "x": 2.5, "big": 10**15, "ok": True, "none": None, "s": "v", "l": ["a", "b"], "e": []},
        create_time=CREATED,
        update_time=CREATED + timedelta(days=1, microseconds=7),
        expire_time=datetime(2027, 1, 1, tzinfo=UTC),
        revision_id="r2",
        source=Source(operation_id="op1", event_ids=["e1", "e2"], memory_ids=["m0", "m9"]),
        embedding=[0.25, -1.5, 3.0],
        embedding_model="text-embedding-3-small",
        version=7,
    ),
]


def _stream_image(memory: StoredMemory, binary_as_text: bool) -> dict[str, Any]:
    """The item's DynamoDB JSON, as a stream record carries it (binary as base64 text in Lambda events)."""
    image = MemoryItem.from_domain(memory).serialize()
    if binary_as_text and "embedding" in image:
        image["embedding"] = {"B": base64.b64encode(image["embedding"]["B"]).decode()}
    return image


@pytest.mark.parametrize("binary_as_text", [True, False])
@pytest.mark.parametrize("memory", MEMORIES, ids=lambda m: m.id)
def test_an_image_decodes_to_the_memory_pynamodb_reads(memory: StoredMemory, binary_as_text: bool) -> None:
    # Given the image of a stored memory item
    image = _stream_image(memory, binary_as_text)
    raw = {**image, "embedding": {"B": memory.embedding and MemoryItem.from_domain(memory).embedding}}
    if not memory.embedding:
        raw.pop("embedding")

    # When it is decoded without PynamoDB
    decoded = memory_from_stream_image(image)

    # Then it is the memory PynamoDB reads from the item, and the memory that was stored (float32 vectors)
    assert decoded == MemoryItem.from_raw_data(raw).to_domain()
    assert decoded == memory


def test_an_absent_image_or_another_item_is_no_memory() -> None:
    assert memory_from_stream_image(None) is None and memory_from_stream_image({}) is None
    assert memory_from_stream_image({"PK": {"S": "T#t#M#m1"}, "SK": {"S": "R#r1"}, "fact": {"S": "x"}}) is None


def test_an_unreadable_image_raises() -> None:
    # Given a memory image whose time is not a UTCDateTimeAttribute value, Then decoding fails (the batch
    # processor reports the record)
    image = _stream_image(MEMORIES[0], binary_as_text=True)
    image["create_time"] = {"S": "2026-03-04T12:00:00Z"}
    with pytest.raises(ValueError, match="does not match format"):
        memory_from_stream_image(image)


def test_the_decoder_reads_every_attribute_type_the_memory_item_declares() -> None:
    """Guards the layout against drift: a memory attribute of a type whose stored form the generic decoder
    does not read as PynamoDB does (a JSON or a set attribute), or a new time attribute that
    ``MEMORY_TIME_ATTRIBUTES`` does not name, fails here."""
    read_alike = (UnicodeAttribute, NumberAttribute, BinaryAttribute, ListAttribute, MapAttribute, TTLAttribute)
    attributes = MemoryItem.get_attributes()
    times = {name for name, attribute in attributes.items() if isinstance(attribute, UTCDateTimeAttribute)}
    assert times == set(MEMORY_TIME_ATTRIBUTES)
    others = {name: type(a).__name__ for name, a in attributes.items() if name not in times}
    assert all(isinstance(attributes[name], read_alike) for name in others), others
