"""``ForgetRepository`` on DynamoDB: receipts in the tenant's forget partition, what a scope owns found
through its indexes, and deletions written in one transaction with the receipt's counts.

Where a scope's items are: its memories in ``GSI1`` (every memory has its scope there), each memory's
revisions in the memory's partition, the revisions of memories deleted before and the scope's operations
in ``GSI4`` (``R#...`` and ``O#...`` under the scope), an operation's documents in its partition, and a
session's events in the session's partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.items import (
    MemoryItem,
    OperationItem,
    PartItem,
    ReceiptItem,
    RevisionItem,
    SessionEventItem,
)
from engram.adapters.dynamodb.table import Table, is_conditional_failure
from engram.errors import NotFound, StoreConflict
from engram.models.forget import ForgetCounts, ForgetReceipt
from engram.models.scope import scope_hash
from engram.ports import FORGET_BATCH, OwnedItem

READ_PAGE = 100
#: Kinds of ``OwnedItem`` and the receipt count each adds to.
COUNTED = {
    "memory": "memories",
    "revision": "revisions",
    "operation": "operations",
    "blob": "blobs",
    "session_event": "session_events",
}


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

    # --- deleting --------------------------------------------------------------------------------

    def delete(self, tenant_id: str, receipt_id: str, items: Sequence[OwnedItem], index_documents: int = 0) -> int:
        """One transaction: a delete per item (guarded by its existence) and the receipt's counts. Items a
        cancelled transaction names as already gone are left out and the transaction is sent again."""
        if len(items) > FORGET_BATCH:
            raise ValueError(f"{len(items)} items in one forget write; at most {FORGET_BATCH}")
        pending = list(items)
        for _ in range(3):
            try:
                self._write(tenant_id, receipt_id, pending, index_documents)
                return len(pending)
            except TransactWriteError as error:
                gone = _gone(error, len(pending))
                if not gone:
                    if is_conditional_failure(error):  # not an item: the receipt's guard
                        raise NotFound(f"forget receipt {receipt_id} not found") from error
                    raise
                pending = [item for position, item in enumerate(pending) if position not in gone]
        raise StoreConflict("the scope's items kept changing during the forget; send it again")

    def _write(self, tenant_id: str, receipt_id: str, items: Sequence[OwnedItem], index_documents: int) -> None:
        receipt, table_item = self._table.receipt, self._table.item
        counts = {name: 0 for name in ReceiptItem.COUNTS}
        counts["index_documents"] = index_documents
        with TransactWrite(connection=self._table.connection) as transaction:
            for owned in items:
                if not isinstance(owned.key, tuple) or len(owned.key) != 2:
                    raise ValueError(f"{owned!r} was not found in this table")
                transaction.delete(table_item(*owned.key), condition=table_item.pk.exists())
                counts[COUNTED[owned.kind]] += 1
            actions = [getattr(receipt, name).add(value) for name, value in counts.items() if value]
            transaction.update(
                receipt(*ReceiptItem.key(tenant_id, receipt_id)),
                actions=actions or [receipt.receipt_id.set(receipt_id)],
                condition=receipt.pk.exists(),
            )


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
