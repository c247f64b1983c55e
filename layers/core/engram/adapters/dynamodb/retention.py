"""``RetentionRepository`` on DynamoDB: expired items found through the sparse expiry index (``GSI3``),
shard by shard, and deleted by key; an expired operation with its whole partition (its documents)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from engram.adapters.dynamodb.codecs import time_key
from engram.adapters.dynamodb.items import EXPIRY_SHARDS, MemoryItem, OperationItem, RevisionItem, SessionEventItem
from engram.adapters.dynamodb.table import Table
from engram.ports import ExpiredItem, ExpiredKind


def kind_of(sk: str) -> ExpiredKind:
    """What an item is, from its sort key."""
    if sk == MemoryItem.SK:
        return "memory"
    if sk.startswith(RevisionItem.SK_PREFIX):
        return "revision"
    if sk.startswith(SessionEventItem.SK_PREFIX):
        return "session_event"
    if sk == OperationItem.SK:
        return "operation"
    return "other"


class DynamoRetention:
    """See ``engram.ports.RetentionRepository``. An item's ``key`` is its ``(PK, SK)``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def expired(self, now: datetime, limit: int) -> list[ExpiredItem]:
        """Oldest expiry first within each shard, shards in order, until ``limit``."""
        index = self._table.expiring.by_expiry
        bound = time_key(now)
        found: list[ExpiredItem] = []
        for shard in range(EXPIRY_SHARDS):
            if len(found) >= limit:
                break
            shard_key = self._table.expiring.shard_key(shard)
            for item in index.query(shard_key, self._table.expiring.gsi3sk < bound, limit=limit - len(found)):
                found.append(ExpiredItem(kind_of(item.sk), (item.pk, item.sk)))
                if len(found) >= limit:
                    break
        return found

    def delete(self, items: Sequence[ExpiredItem]) -> None:
        """Batches of 25 deletes (PynamoDB resends unprocessed ones). An operation's documents are deleted
        before the operation, whose expiry entry is what leads to them."""
        item_class = self._table.item
        with item_class.batch_write() as batch:
            for expired in items:
                if not isinstance(expired.key, tuple) or len(expired.key) != 2:
                    raise ValueError(f"{expired!r} was not found in this table")
                pk, sk = expired.key
                if expired.kind == "operation":
                    for document in item_class.query(pk, consistent_read=True):
                        if document.sk != sk:
                            batch.delete(item_class(document.pk, document.sk))
                batch.delete(item_class(pk, sk))
