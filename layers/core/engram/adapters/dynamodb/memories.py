"""``MemoryRepository`` on DynamoDB: memory items, their revisions, and the transactions that change them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.codecs import decode_page_token, encode_page_token
from engram.adapters.dynamodb.conditions import to_condition
from engram.adapters.dynamodb.items import MemoryItem, RevisionItem
from engram.adapters.dynamodb.table import MAX_TRANSACTION_CHANGES, Table, is_conditional_failure
from engram.errors import InvalidInput, StoreConflict
from engram.models.filters import Node
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import OperationResult
from engram.models.scope import scope_hash
from engram.ports import Change

SCAN_PAGE = 200
ITER_PAGE = 100


class DynamoMemories:
    """See ``engram.ports.MemoryRepository``. A lost guard (a failed condition or a concurrent
    transaction) raises ``StoreConflict``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant_id: str, memory_id: str) -> StoredMemory | None:
        try:
            return self._table.memory.get(*MemoryItem.key(tenant_id, memory_id), consistent_read=True).to_domain()
        except DoesNotExist:
            return None

    def get_many(self, tenant_id: str, memory_ids: Iterable[str]) -> dict[str, StoredMemory]:
        keys = [MemoryItem.key(tenant_id, memory_id) for memory_id in dict.fromkeys(memory_ids)]
        if not keys:
            return {}
        items = self._table.memory.batch_get(keys, consistent_read=True)
        return {item.memory_id: item.to_domain() for item in items}

    def page(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        page_token: str | None,
        filter: Node | None = None,
    ) -> tuple[list[StoredMemory], str | None]:
        """The filter runs inside DynamoDB (a FilterExpression, applied after ``page_size`` items are
        read), so a page may hold fewer memories than ``page_size``."""
        last_key = decode_page_token(page_token)
        index: GlobalSecondaryIndex[MemoryItem]
        if scope is not None:
            index, partition = self._table.memory.by_scope, MemoryItem.scope_partition(tenant_id, scope_hash(scope))
        else:
            index, partition = self._table.memory.by_tenant, MemoryItem.tenant_partition(tenant_id)
        results = index.query(
            partition,
            scan_index_forward=False,
            limit=page_size,
            last_evaluated_key=last_key,
            filter_condition=to_condition(filter),
        )
        items = [item.to_domain() for item in results]
        return items, encode_page_token(results.last_evaluated_key)

    def matching(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,
    ) -> Iterator[StoredMemory]:
        token: str | None = None
        while True:
            items, token = self.page(tenant_id, scope, ITER_PAGE, token, filter)
            yield from items
            if token is None:
                return

    def scan(self, tenant_id: str | None = None) -> Iterator[StoredMemory]:
        """A full table Scan (for reindexing only)."""
        item = self._table.memory
        condition = item.sk == MemoryItem.SK
        if tenant_id is not None:
            condition &= item.tenant_id == tenant_id
        for found in item.scan(condition, page_size=SCAN_PAGE):
            yield found.to_domain()

    def apply_changes(
        self,
        tenant_id: str,
        changes: Sequence[Change],
        operation_id: str | None = None,
        result: OperationResult | None = None,
    ) -> None:
        """One DynamoDB transaction of at most ``MAX_TRANSACTION_CHANGES`` changes."""
        if len(changes) > MAX_TRANSACTION_CHANGES:
            raise InvalidInput(f"{len(changes)} changes in one transaction; at most {MAX_TRANSACTION_CHANGES}")
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                for change in changes:
                    self._write(transaction, tenant_id, change)
                if operation_id is not None:
                    self._record_result(transaction, tenant_id, operation_id, result or OperationResult())
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise StoreConflict(f"a concurrent write changed the memories of this change: {error}") from error
            raise

    def _write(self, transaction: TransactWrite, tenant_id: str, change: Change) -> None:
        """The memory write (its version guards UPDATED and DELETED) and the revision, written once."""
        memory, revision = self._table.memory, self._table.revision
        if change.action is Action.DELETED:
            assert change.before is not None, "DELETED needs the memory before"
            transaction.delete(memory.from_domain(change.before))
        else:
            assert change.after is not None, f"{change.action} needs the memory after"
            item = memory.from_domain(change.after)
            condition = memory.pk.does_not_exist() if change.before is None else None
            transaction.save(item, condition=condition)
        transaction.save(revision.from_domain(tenant_id, change.revision), condition=revision.pk.does_not_exist())

    def _record_result(
        self, transaction: TransactWrite, tenant_id: str, operation_id: str, result: OperationResult
    ) -> None:
        """Set the operation's result, guarded so it is set once and only on an existing operation."""
        operation = self._table.operation
        transaction.update(
            operation(*operation.key(tenant_id, operation_id)),
            actions=[
                operation.consolidated.set(True),
                operation.result.set(result.model_dump(mode="json")),
            ],
            condition=operation.consolidated.does_not_exist() & operation.pk.exists(),
        )

    def apply_in_blocks(self, tenant_id: str, changes: Sequence[Change]) -> None:
        for start in range(0, len(changes), MAX_TRANSACTION_CHANGES):
            self.apply_changes(tenant_id, changes[start : start + MAX_TRANSACTION_CHANGES])

    def revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        revision = self._table.revision
        partition = MemoryItem.key(tenant_id, memory_id)[0]
        items = revision.query(partition, revision.sk.startswith(RevisionItem.SK_PREFIX), scan_index_forward=False)
        return [item.to_domain() for item in items]
