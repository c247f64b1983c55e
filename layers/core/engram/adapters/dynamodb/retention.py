"""``RetentionRepository`` on DynamoDB: expired items found through the sparse expiry index (``GSI3``),
shard by shard, and deleted by key; an expired operation with its whole partition (its documents).

An expired memory is deleted in a transaction that also takes it off the usage counters of its scope and
tenant (``counters.add_deletion_counters``), guarded by the version it was read at, so a memory changed
meanwhile (its expiry extended, its topics changed) is read again, and one already gone is not counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.codecs import time_key
from engram.adapters.dynamodb.counters import REMOVED_ATTRIBUTES, add_deletion_counters, removed
from engram.adapters.dynamodb.items import EXPIRY_SHARDS, MemoryItem, OperationItem, RevisionItem, SessionEventItem
from engram.adapters.dynamodb.table import MAX_TRANSACTION_ITEMS, Table, is_conditional_failure
from engram.errors import StoreConflict
from engram.ports import ExpiredItem, ExpiredKind

Key = tuple[str, str]
#: Times a block of memory deletions is read and sent again after a guard failed (a memory changed).
MEMORY_DELETE_ATTEMPTS = 3


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

    def delete(self, items: Sequence[ExpiredItem], now: datetime | None = None) -> None:
        """Memories in counted transactions (``delete_memories``); everything else in batches of 25 deletes
        (PynamoDB resends unprocessed ones), an operation's documents before the operation, whose expiry
        entry is what leads to them. ``now``: the time of the run (the day the deletions are counted on,
        and what a memory must have expired before); the wall clock when None."""
        keys = [_key(item) for item in items]
        memories = [key for item, key in zip(items, keys, strict=True) if item.kind == "memory"]
        self.delete_memories(memories, now or datetime.now(UTC))
        item_class = self._table.item
        with item_class.batch_write() as batch:
            for expired, (pk, sk) in zip(items, keys, strict=True):
                if expired.kind == "memory":
                    continue
                if expired.kind == "operation":
                    for document in item_class.query(pk, consistent_read=True):
                        if document.sk != sk:
                            batch.delete(item_class(document.pk, document.sk))
                batch.delete(item_class(pk, sk))

    def delete_memories(self, keys: Sequence[Key], now: datetime) -> int:
        """Delete the memories of ``keys`` that are still expired at ``now``, each in a transaction with its
        counter updates (-1 stored and per topic, +1 deleted on ``now``'s day), as many per transaction as
        fit. Returns how many were deleted. Raises ``StoreConflict`` when memories kept changing."""
        pending = list(dict.fromkeys(keys))
        deleted = 0
        for _ in range(MEMORY_DELETE_ATTEMPTS):
            if not pending:
                return deleted
            failed: list[Key] = []
            for tenant_id, block in _blocks(self._read(pending, now)):
                try:
                    self._write(tenant_id, block, now)
                    deleted += len(block)
                except TransactWriteError as error:
                    if not is_conditional_failure(error):
                        raise
                    failed += [(item.pk, item.sk) for item in block]  # read again, guard again
            pending = failed
        if pending:
            raise StoreConflict(f"{len(pending)} expired memories kept changing; the next run deletes them")
        return deleted

    def _read(self, keys: Sequence[Key], now: datetime) -> list[MemoryItem]:
        """The memories of ``keys`` that exist and are expired at ``now`` (consistent reads)."""
        memory = self._table.memory
        found = memory.batch_get(list(keys), consistent_read=True, attributes_to_get=REMOVED_ATTRIBUTES)
        return [item for item in found if item.expire_time is not None and item.expire_time < now]

    def _write(self, tenant_id: str, block: Sequence[MemoryItem], now: datetime) -> None:
        memory, table_item = self._table.memory, self._table.item
        with TransactWrite(connection=self._table.connection) as transaction:
            for item in block:
                transaction.delete(table_item(item.pk, item.sk), condition=memory.version == item.version)
            add_deletion_counters(transaction, self._table.stats, tenant_id, [removed(item) for item in block], now)


def _blocks(items: Sequence[MemoryItem]) -> Iterator[tuple[str, list[MemoryItem]]]:
    """``items`` by tenant, in blocks that fit one transaction with their counter updates."""
    by_tenant: defaultdict[str, list[MemoryItem]] = defaultdict(list)
    for item in items:
        by_tenant[item.tenant_id].append(item)
    for tenant_id, tenant_items in by_tenant.items():
        block: list[MemoryItem] = []
        scopes: set[str] = set()
        for item in tenant_items:
            # a memory, and a TOTAL and a day item for its scope (if new to the block) and the tenant's
            if block and len(block) + 1 + 2 * len(scopes | {item.scope_hash}) + 2 > MAX_TRANSACTION_ITEMS:
                yield tenant_id, block
                block, scopes = [], set()
            block.append(item)
            scopes.add(item.scope_hash)
        if block:
            yield tenant_id, block


def _key(item: ExpiredItem) -> Key:
    if not isinstance(item.key, tuple) or len(item.key) != 2:
        raise ValueError(f"{item!r} was not found in this table")
    pk, sk = item.key
    return str(pk), str(sk)
