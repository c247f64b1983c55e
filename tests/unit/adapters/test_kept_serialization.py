"""A create's size check serializes each item once for its write too (``stored_size(keep=True)``,
``TableItem.keep_serialization``): the write gets what it would have serialized itself, once."""

from __future__ import annotations

from engram.adapters.dynamodb.items import MemoryItem
from engram.adapters.dynamodb.memories import create_items
from engram.adapters.dynamodb.table import stored_size

from tests.integration.store.builders import created, memory


def test_a_kept_serialization_is_the_items_own_and_serves_one_call():
    # Given the items of a create, sized as create_all sizes them (keeping their serializations)
    change = created(memory("tenant-a", fact="Lives in Lisbon.", topics=["home"], metadata={"k": "v"}))
    items, revisions, _ = create_items("tenant-a", [change])
    item, revision = items[0], revisions[0]
    fresh_item, fresh_revision = (
        MemoryItem.from_domain(change.after),
        type(revision).from_domain("tenant-a", change.revision),
    )
    # When the write serializes them
    written = item.serialize(), revision.serialize()
    # Then it gets what PynamoDB makes of the same items, and a copy it may change
    assert written == (fresh_item.serialize(), fresh_revision.serialize())
    written[0].pop("PK")
    # and the next call serializes the item as it is then (the kept one served once)
    item.fact = "Lives in Porto."
    again = item.serialize()
    assert again["fact"] == {"S": "Lives in Porto."} and "PK" in again


def test_without_keep_nothing_is_kept():
    # Given an item sized without keep
    tea = memory("tenant-a", fact="Likes tea.")
    item = MemoryItem.from_domain(tea)
    size = stored_size(item)
    # When it changes, then serializes
    item.fact = "Likes coffee!"
    # Then the serialization is the changed item's, and the size was the item's at the time
    assert item.serialize()["fact"] == {"S": "Likes coffee!"}
    assert size == stored_size(MemoryItem.from_domain(tea)) == stored_size(item) - len("coffee!") + len("tea.")
