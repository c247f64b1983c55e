"""``ForgetRepository`` on DynamoDB: receipts in the tenant's forget partition, what a scope owns found
through its indexes, and deletions written in transactions with the receipt's counts.

Where a scope's items are: its memories in ``GSI1`` (every memory has its scope there), each memory's
revisions in the memory's partition, the revisions of memories deleted before and the scope's operations
in ``GSI4`` (``R#...`` and ``O#...`` under the scope), an operation's documents in its partition, a
session's events in the session's partition, and the ``Idempotency-Key`` records holding something of the
scope through their scope tags in the tenant's idempotency partition (``IdempotencyItem.tag_key``).

A batch is written in as few transactions as hold it (DynamoDB's 100 items): each with the receipt's
counts of what it deletes and, when it deletes memories, their usage counters (``counters``), so every
count stays exact whichever transaction an interruption falls between.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.counters import (
    REMOVED_ATTRIBUTES,
    Removed,
    add_deletion_counters,
    deletion_counter_items,
    removed,
)
from engram.adapters.dynamodb.items import (
    IdempotencyItem,
    MemoryItem,
    OperationItem,
    PartItem,
    ReceiptItem,
    RevisionItem,
    SessionEventItem,
)
from engram.adapters.dynamodb.table import MAX_TRANSACTION_ITEMS, Table, is_conditional_failure
from engram.errors import NotFound, StoreConflict
from engram.models.forget import ForgetCounts, ForgetReceipt
from engram.models.scope import scope_hash
from engram.ports import FORGET_BATCH, OwnedItem

READ_PAGE = 100
#: Kinds of ``OwnedItem`` and the receipt count each adds to (None: not counted).
COUNTED: dict[str, str | None] = {
    "memory": "memories",
    "revision": "revisions",
    "operation": "operations",
    "blob": "blobs",
    "session_event": "session_events",
    "idempotency_record": "idempotency_records",
    "idempotency_tag": None,
}
Key = tuple[str, str]


class DynamoForget:
    """See ``engram.ports.ForgetRepository``. An ``OwnedItem``'s key is its ``(PK, SK)``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    # --- receipts --------------------------------------------------------------------------------

    def begin(
        self, tenant_id: str, request_hash: str, scope_hash: str, receipt_id: str, now: datetime
    ) -> ForgetReceipt:
        """The in-progress marker names the receipt; a new receipt and its marker are one transaction,
        each written only if absent (a concurrent begin that lost resumes the winner's receipt)."""
        found = self._pending(tenant_id, request_hash)
        if found is not None:
            return found
        receipt = self._table.receipt
        item = receipt(
            *ReceiptItem.key(tenant_id, receipt_id), receipt_id=receipt_id, scope_hash=scope_hash, requested_at=now
        )
        marker = receipt(*ReceiptItem.pending_key(tenant_id, request_hash), receipt_id=receipt_id)
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                transaction.save(item, condition=receipt.pk.does_not_exist())
                transaction.save(marker, condition=receipt.pk.does_not_exist())
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            found = self._pending(tenant_id, request_hash)
            if found is None:
                raise StoreConflict("a concurrent forget of this scope changed its receipt") from error
            return found
        return _receipt(item)

    def _pending(self, tenant_id: str, request_hash: str) -> ForgetReceipt | None:
        try:
            marker = self._table.receipt.get(*ReceiptItem.pending_key(tenant_id, request_hash), consistent_read=True)
        except DoesNotExist:
            return None
        return self.receipt(tenant_id, marker.receipt_id)

    def receipt(self, tenant_id: str, receipt_id: str) -> ForgetReceipt | None:
        try:
            item = self._table.receipt.get(*ReceiptItem.key(tenant_id, receipt_id), consistent_read=True)
        except DoesNotExist:
            return None
        return _receipt(item)

    def finish(self, tenant_id: str, receipt_id: str, request_hash: str, now: datetime) -> ForgetReceipt:
        receipt = self._table.receipt
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                transaction.update(
                    receipt(*ReceiptItem.key(tenant_id, receipt_id)),
                    actions=[receipt.completed_at.set(now)],
                    condition=receipt.pk.exists(),
                )
                transaction.delete(receipt(*ReceiptItem.pending_key(tenant_id, request_hash)))
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise NotFound(f"forget receipt {receipt_id} not found") from error
            raise
        found = self.receipt(tenant_id, receipt_id)
        if found is None:
            raise NotFound(f"forget receipt {receipt_id} not found")
        return found

    # --- what a scope owns -----------------------------------------------------------------------

    def owned(self, tenant_id: str, scope: dict[str, str], session_ids: Sequence[str], limit: int) -> list[OwnedItem]:
        """Reads only as far as ``limit`` items: the phases are generators, taken in order; an item two
        phases find is listed once."""
        key = scope_hash(scope)
        phases = (
            self._operations(tenant_id, key),
            self._memories(tenant_id, key),
            self._revisions(tenant_id, key),
            self._session_events(tenant_id, session_ids),
            self._idempotency_records(tenant_id, key),
        )
        return list(islice(_once(item for phase in phases for item in phase), limit))

    def _parts(self, tenant_id: str, scope_key: str, prefix: str) -> Iterator[PartItem]:
        part = self._table.part
        yield from part.by_parent.query(
            PartItem.scope_parts(tenant_id, scope_key), part.gsi4sk.startswith(prefix), page_size=READ_PAGE
        )

    def _partition(self, pk: str, prefix: str | None = None) -> Iterator[tuple[str, str]]:
        item = self._table.item
        condition = item.sk.startswith(prefix) if prefix else None
        for found in item.query(pk, condition, consistent_read=True, page_size=READ_PAGE):
            yield found.pk, found.sk

    def _operations(self, tenant_id: str, scope_key: str) -> Iterator[OwnedItem]:
        """Each operation's documents, then the operation (whose index entry leads to them)."""
        for part in self._parts(tenant_id, scope_key, "O#"):
            for pk, sk in self._partition(part.pk):
                if sk != OperationItem.SK:
                    yield OwnedItem("blob", (pk, sk))
            yield OwnedItem("operation", (part.pk, part.sk))

    def _memories(self, tenant_id: str, scope_key: str) -> Iterator[OwnedItem]:
        """Each memory's revisions, then the memory (whose scope index entry leads to them)."""
        memory = self._table.memory
        partition = MemoryItem.scope_partition(tenant_id, scope_key)
        for found in memory.by_scope.query(partition, page_size=READ_PAGE, attributes_to_get=["PK", "SK", "memory_id"]):
            for pk, sk in self._partition(found.pk, RevisionItem.SK_PREFIX):
                yield OwnedItem("revision", (pk, sk))
            yield OwnedItem("memory", (found.pk, found.sk), memory_id=found.memory_id)

    def _revisions(self, tenant_id: str, scope_key: str) -> Iterator[OwnedItem]:
        for part in self._parts(tenant_id, scope_key, "R#"):
            yield OwnedItem("revision", (part.pk, part.sk))

    def _session_events(self, tenant_id: str, session_ids: Sequence[str]) -> Iterator[OwnedItem]:
        for session_id in session_ids:
            partition = SessionEventItem.partition(tenant_id, session_id)
            for pk, sk in self._partition(partition, SessionEventItem.SK_PREFIX):
                yield OwnedItem("session_event", (pk, sk))

    def _idempotency_records(self, tenant_id: str, scope_key: str) -> Iterator[OwnedItem]:
        """Each record a tag of the scope names (if it is still there), then the tag."""
        pk = IdempotencyItem.key(tenant_id, "")[0]
        for _, tag in self._partition(pk, IdempotencyItem.tag_prefix(scope_key)):
            yield OwnedItem("idempotency_record", (pk, IdempotencyItem.record_of_tag(tag)))
            yield OwnedItem("idempotency_tag", (pk, tag))

    # --- deleting --------------------------------------------------------------------------------

    def delete(
        self,
        tenant_id: str,
        receipt_id: str,
        items: Sequence[OwnedItem],
        index_documents: int = 0,
        now: datetime | None = None,
    ) -> int:
        """Transactions of as many deletes as fit with the receipt's counts and the counters of the memories
        deleted (each delete guarded by its item's existence, a memory's by the version it was read at).
        Items a cancelled transaction names as already gone are left out and the transaction is sent
        again."""
        if len(items) > FORGET_BATCH:
            raise ValueError(f"{len(items)} items in one forget write; at most {FORGET_BATCH}")
        memories = self._read_memories([_key(owned) for owned in items if owned.kind == "memory"])
        present = [owned for owned in items if owned.kind != "memory" or _key(owned) in memories]
        moment = now or datetime.now(UTC)
        deleted = 0
        for number, block in enumerate(list(_blocks(present, memories)) or [[]]):  # [[]]: the counts alone
            indexed = index_documents if number == 0 else 0
            deleted += self._delete_block(tenant_id, receipt_id, block, memories, indexed, moment)
        return deleted

    def _read_memories(self, keys: Sequence[Key]) -> dict[Key, MemoryItem]:
        found = self._table.memory.batch_get(list(keys), consistent_read=True, attributes_to_get=REMOVED_ATTRIBUTES)
        return {(item.pk, item.sk): item for item in found}

    def _delete_block(
        self,
        tenant_id: str,
        receipt_id: str,
        block: Sequence[OwnedItem],
        memories: dict[Key, MemoryItem],
        index_documents: int,
        now: datetime,
    ) -> int:
        pending = list(block)
        for _ in range(3):
            try:
                self._write(tenant_id, receipt_id, pending, memories, index_documents, now)
                return len(pending)
            except TransactWriteError as error:
                gone = _gone(error, len(pending))
                if not gone:
                    if is_conditional_failure(error):  # not an item: the receipt's guard
                        raise NotFound(f"forget receipt {receipt_id} not found") from error
                    raise
                pending = [item for position, item in enumerate(pending) if position not in gone]
        raise StoreConflict("the scope's items kept changing during the forget; send it again")

    def _write(
        self,
        tenant_id: str,
        receipt_id: str,
        items: Sequence[OwnedItem],
        memories: dict[Key, MemoryItem],
        index_documents: int,
        now: datetime,
    ) -> None:
        receipt, table_item, memory = self._table.receipt, self._table.item, self._table.memory
        counts = {name: 0 for name in ReceiptItem.COUNTS}
        counts["index_documents"] = index_documents
        deleted_memories = []
        with TransactWrite(connection=self._table.connection) as transaction:
            for owned in items:
                pk, sk = _key(owned)
                read = memories.get((pk, sk)) if owned.kind == "memory" else None
                guard = memory.version == read.version if read is not None else table_item.pk.exists()
                transaction.delete(table_item(pk, sk), condition=guard)
                if read is not None:
                    deleted_memories.append(removed(read))
                if name := COUNTED[owned.kind]:
                    counts[name] += 1
            actions = [getattr(receipt, name).add(value) for name, value in counts.items() if value]
            transaction.update(
                receipt(*ReceiptItem.key(tenant_id, receipt_id)),
                actions=actions or [receipt.receipt_id.set(receipt_id)],
                condition=receipt.pk.exists(),
            )
            add_deletion_counters(transaction, self._table.stats, tenant_id, deleted_memories, now)


def _blocks(items: Sequence[OwnedItem], memories: dict[Key, MemoryItem]) -> Iterator[list[OwnedItem]]:
    """``items`` in order, in blocks whose deletes, receipt update and counter updates fit one transaction."""
    block: list[OwnedItem] = []
    deleted: list[Removed] = []
    for owned in items:
        memory = [removed(memories[_key(owned)])] if owned.kind == "memory" else []
        if block and len(block) + 2 + deletion_counter_items(deleted + memory) > MAX_TRANSACTION_ITEMS:
            yield block
            block, deleted = [], []
        block.append(owned)
        deleted += memory
    if block:
        yield block


def _key(owned: OwnedItem) -> Key:
    """The ``(PK, SK)`` of an item ``owned`` listed."""
    if not isinstance(owned.key, tuple) or len(owned.key) != 2:
        raise ValueError(f"{owned!r} was not found in this table")
    pk, sk = owned.key
    return str(pk), str(sk)


def _once(items: Iterator[OwnedItem]) -> Iterator[OwnedItem]:
    """``items`` without repeats (a live memory's revisions are found in its partition and in ``GSI4``)."""
    seen: set[object] = set()
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            yield item


def _gone(error: TransactWriteError, items: int) -> set[int]:
    """Positions, among the first ``items`` writes of a cancelled transaction, whose guard failed."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return {
        position
        for position, reason in enumerate(reasons[:items])
        if reason is not None and reason.code == "ConditionalCheckFailed"
    }


def _receipt(item: ReceiptItem) -> ForgetReceipt:
    counts = ForgetCounts(**{name: int(getattr(item, name) or 0) for name in ReceiptItem.COUNTS})
    return ForgetReceipt(
        receipt_id=item.receipt_id,
        scope_hash=item.scope_hash or "",
        counts=counts,
        requested_at=item.requested_at,
        completed_at=item.completed_at,
    )
