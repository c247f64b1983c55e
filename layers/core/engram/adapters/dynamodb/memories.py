"""``MemoryRepository`` on DynamoDB: memory items, their revisions, and the transactions that change them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.conditions import to_condition
from engram.adapters.dynamodb.counters import add_change_counters, counter_items, transaction_items
from engram.adapters.dynamodb.items import MemoryItem, RevisionItem, TableItem
from engram.adapters.dynamodb.table import (
    MAX_ITEM_BYTES,
    MAX_TRANSACTION_BYTES,
    MAX_TRANSACTION_CHANGES,
    MAX_TRANSACTION_ITEMS,
    Table,
    is_conditional_failure,
    stored_size,
)
from engram.adapters.page_tokens import INVALID as INVALID_TOKEN
from engram.adapters.page_tokens import Listing, PageTokens, digest
from engram.errors import InvalidInput, InvalidPageToken, RetryableError, StoreConflict, TooLargeToStore
from engram.models.filters import Node
from engram.models.limits import wire_size
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import OperationResult
from engram.models.scope import scope_hash
from engram.observability import logger
from engram.ports import Change

SCAN_PAGE = 200
ITER_PAGE = 100
#: What a page token of the memories listing is bound to (the route ``POST /v1/memories/retrieve`` lists with).
PAGE_TOKEN_PURPOSE = "memories"
REVISIONS_TOKEN_PURPOSE = "revisions"
_TIME_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


class DynamoMemories:
    """See ``engram.ports.MemoryRepository``. A lost guard (a failed condition or a concurrent
    transaction) raises ``StoreConflict``."""

    def __init__(self, table: Table, tokens: PageTokens) -> None:
        self._table = table
        self._tokens = tokens

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
        read), so a page may hold fewer memories than ``page_size``. The token is signed and bound to the
        tenant, the scope (or the whole tenant) and the filter (``engram.adapters.page_tokens``); it carries
        only the last memory's create time and id. A token of any other listing raises ``InvalidPageToken``."""
        binding = f"{scope_hash(scope) if scope is not None else '*'}:{digest(filter)}"
        listing = Listing(PAGE_TOKEN_PURPOSE, tenant_id, binding)
        position = self._tokens.open(listing, page_token)
        items, last = self._page(tenant_id, scope, page_size, position, filter)
        return items, (self._tokens.seal(listing, last) if last is not None else None)

    def _page(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        position: Sequence[str] | None,
        filter: Node | None,
    ) -> tuple[list[StoredMemory], list[str] | None]:
        """One query of the scope's (``GSI1``) or tenant's (``GSI2``) partition from ``position`` (the
        ``[create time key, memory id]`` of the last memory read, None for the start); returns the page and
        the position after it (None at the end)."""
        memory = self._table.memory
        index: GlobalSecondaryIndex[MemoryItem]
        if scope is not None:
            index, partition = memory.by_scope, MemoryItem.scope_partition(tenant_id, scope_hash(scope))
            names = (MemoryItem.gsi1pk.attr_name, MemoryItem.gsi1sk.attr_name)
        else:
            index, partition = memory.by_tenant, MemoryItem.tenant_partition(tenant_id)
            names = (MemoryItem.gsi2pk.attr_name, MemoryItem.gsi2sk.attr_name)
        results = index.query(
            partition,
            scan_index_forward=False,
            limit=page_size,
            last_evaluated_key=_start_key(tenant_id, partition, names, position),
            filter_condition=to_condition(filter),
        )
        items = [item.to_domain() for item in results]
        return items, _position(results.last_evaluated_key, names[1])

    def matching(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,
    ) -> Iterator[StoredMemory]:
        position: list[str] | None = None
        while True:
            items, position = self._page(tenant_id, scope, ITER_PAGE, position, filter)
            yield from items
            if position is None:
                return

    def count(self, tenant_id: str, scope: dict[str, str] | None, filter: Node | None, now: datetime) -> int:
        """A ``Select=COUNT`` query of the scope's (or tenant's) index partition, with the filter and the
        liveness test as its FilterExpression: no item leaves DynamoDB (read capacity is that of reading
        them all)."""
        memory = self._table.memory
        index: GlobalSecondaryIndex[MemoryItem]
        if scope is not None:
            index, partition = memory.by_scope, MemoryItem.scope_partition(tenant_id, scope_hash(scope))
        else:
            index, partition = memory.by_tenant, MemoryItem.tenant_partition(tenant_id)
        live = memory.expire_time.does_not_exist() | (memory.expire_time > now)
        condition = to_condition(filter)
        return index.count(partition, filter_condition=live if condition is None else condition & live)

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
        """One DynamoDB transaction of at most ``MAX_TRANSACTION_CHANGES`` changes, with their usage
        counters (``engram.adapters.dynamodb.counters``): at most 100 items in all."""
        check_transaction_size(changes, operation_id is not None)
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                for change in changes:
                    self._write(transaction, tenant_id, change)
                add_change_counters(transaction, self._table.stats, tenant_id, changes)
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
        for block in transaction_blocks(changes):
            self.apply_changes(tenant_id, block)

    def create_all(self, tenant_id: str, changes: Sequence[Change]) -> None:
        """All of ``changes`` or none. When the memories, their revisions and their usage counters fit in
        one transaction (``fits_one_transaction``: always for a single memory of up to 400 KB, and for up to
        48 memories of one scope when their items are small enough), one ``TransactWriteItems`` writes them
        all, so the counters commit or roll back with the memories. Otherwise (a larger batch leaves no
        room) one transaction writes the memory items (so they become visible together), then the revisions
        go in ``BatchWriteItem`` requests and the counters in a transaction of their own
        (``_count_created``); on a failure of the revisions, one transaction deletes the memories again
        (each guarded at version 1) and the revisions written are deleted. A store failure raises
        ``RetryableError`` (503), saying what was kept."""
        memory_class, revision_class = self._table.memory, self._table.revision
        items, revisions, size = create_items(tenant_id, changes, memory_class, revision_class)
        if fits_one_transaction(changes, size):
            self._create_at_once(tenant_id, changes, items, revisions)
            return
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                for item in items:
                    transaction.save(item, condition=memory_class.pk.does_not_exist())
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise StoreConflict(f"a memory of this batch already exists: {error}") from error
            raise RetryableError(f"the memories of a batch could not be written (none was): {error}") from error
        try:
            with revision_class.batch_write() as batch:
                for revision in revisions:
                    batch.save(revision)
        except Exception as error:  # re-raised below, after the memories are taken back
            undone = self._undo_create(tenant_id, items, revisions)
            state = "nothing of it was kept" if undone else "its memories stay without revisions until a retry"
            raise RetryableError(f"the revisions of a batch could not be written ({error}); {state}") from error
        self._count_created(tenant_id, changes)

    def _create_at_once(
        self, tenant_id: str, changes: Sequence[Change], items: Sequence[MemoryItem], revisions: Sequence[RevisionItem]
    ) -> None:
        """The memories (each guarded to be absent), their revisions (guarded likewise) and their usage
        counters in one transaction."""
        memory_class, revision_class = self._table.memory, self._table.revision
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                for item, revision in zip(items, revisions, strict=True):
                    transaction.save(item, condition=memory_class.pk.does_not_exist())
                    transaction.save(revision, condition=revision_class.pk.does_not_exist())
                add_change_counters(transaction, self._table.stats, tenant_id, changes)
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise StoreConflict(f"a memory of this batch already exists: {error}") from error
            raise RetryableError(f"the memories of a batch could not be written (none was): {error}") from error

    def _count_created(self, tenant_id: str, changes: Sequence[Change]) -> None:
        """The usage counters of a batch too large for ``_create_at_once``, in a transaction of their own once
        its memories and revisions are stored (up to 100 memories leave no room in theirs): a failure here is logged, not raised, since the
        memories are stored (the counters then stay below them)."""
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                add_change_counters(transaction, self._table.stats, tenant_id, changes)
        except TransactWriteError:
            logger.exception("the usage counters of a batch could not be updated", extra={"tenant_id": tenant_id})

    def _undo_create(self, tenant_id: str, items: Sequence[MemoryItem], revisions: Sequence[RevisionItem]) -> bool:
        """Delete what ``create_all`` wrote (memories still at version 1, in one transaction; revisions).
        False, after logging the memory ids, when that fails too."""
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                for item in items:
                    item.version = 1
                    transaction.delete(item)
            with self._table.revision.batch_write() as batch:
                for revision in revisions:
                    batch.delete(revision)
        except Exception:  # reported: the caller raises, naming the state this leaves
            logger.exception(
                "a failed batch create could not be undone",
                extra={"tenant_id": tenant_id, "memory_ids": [item.memory_id for item in items]},
            )
            return False
        return True

    def put_revisions(self, tenant_id: str, revisions: Sequence[Revision]) -> None:
        """One conditional ``PutItem`` per revision (an existing one is left as it is)."""
        revision_class = self._table.revision
        for revision in revisions:
            try:
                revision_class.from_domain(tenant_id, revision).save(condition=revision_class.pk.does_not_exist())
            except PutError as error:
                if not is_conditional_failure(error):
                    raise

    def revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        revision = self._table.revision
        partition = MemoryItem.key(tenant_id, memory_id)[0]
        items = revision.query(partition, revision.sk.startswith(RevisionItem.SK_PREFIX), scan_index_forward=False)
        return [item.to_domain() for item in items]

    def revision_page(
        self,
        tenant_id: str,
        memory_id: str,
        page_size: int,
        page_token: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[Revision], str | None]:
        """A query of the memory's partition, newest revision first, from the token's position; it reads
        one revision past the page to know whether a next page exists. The token is signed and bound to
        the tenant and the memory (``engram.adapters.page_tokens``) and carries the page's last revision
        id; any other token raises ``InvalidPageToken``."""
        listing = Listing(REVISIONS_TOKEN_PURPOSE, tenant_id, memory_id)
        position = self._tokens.open(listing, page_token)
        partition = MemoryItem.key(tenant_id, memory_id)[0]
        start = None
        if position is not None:
            if len(position) != 1:
                raise InvalidPageToken(INVALID_TOKEN)
            try:
                start_key = RevisionItem.key(tenant_id, memory_id, position[0])
            except InvalidInput as error:
                raise InvalidPageToken(INVALID_TOKEN) from error
            start = {TableItem.pk.attr_name: {"S": start_key[0]}, TableItem.sk.attr_name: {"S": start_key[1]}}
        revision = self._table.revision
        found = revision.query(
            partition,
            revision.sk.startswith(RevisionItem.SK_PREFIX),
            scan_index_forward=False,
            last_evaluated_key=start,
            consistent_read=True,
            page_size=page_size + 1,
        )
        revisions: list[Revision] = []
        size = 0
        for item in found:
            current = item.to_domain()
            cost = wire_size(current.model_dump(mode="json"))
            if revisions and (len(revisions) >= page_size or (max_bytes is not None and size + cost > max_bytes)):
                return revisions, self._tokens.seal(listing, [revisions[-1].id])
            revisions.append(current)
            size += cost
        return revisions, None


def _position(last_key: dict[str, Any] | None, sort_name: str) -> list[str] | None:
    """``[create time key, memory id]`` of a query's ``LastEvaluatedKey`` (None at the end): the index sort
    key ``M#<time>#<id>`` without its layout."""
    if not last_key:
        return None
    _, time, memory_id = str(last_key[sort_name]["S"]).split("#", 2)
    return [time, memory_id]


def _start_key(
    tenant_id: str, partition: str, names: tuple[str, str], position: Sequence[str] | None
) -> dict[str, Any] | None:
    """The ``ExclusiveStartKey`` of the index partition for a position ``_position`` gave. A position that
    is not one (it can only come from a signed token, so this is a safeguard) raises ``InvalidPageToken``."""
    if position is None:
        return None
    if len(position) != 2 or not _TIME_KEY.fullmatch(position[0]):
        raise InvalidPageToken(INVALID_TOKEN)
    time, memory_id = position
    try:
        pk, sk = MemoryItem.key(tenant_id, memory_id)
    except InvalidInput as error:
        raise InvalidPageToken(INVALID_TOKEN) from error
    return {
        TableItem.pk.attr_name: {"S": pk},
        TableItem.sk.attr_name: {"S": sk},
        names[0]: {"S": partition},
        names[1]: {"S": f"M#{time}#{memory_id}"},
    }


def check_transaction_size(changes: Sequence[Change], with_result: bool) -> None:
    """Raise ``InvalidInput`` when ``changes`` (with an operation result) do not fit in one transaction:
    more than ``MAX_TRANSACTION_CHANGES``, or over ``MAX_TRANSACTION_ITEMS`` items with their counters."""
    if len(changes) > MAX_TRANSACTION_CHANGES:
        raise InvalidInput(f"{len(changes)} changes in one transaction; at most {MAX_TRANSACTION_CHANGES}")
    items = transaction_items(changes, with_result)
    if items > MAX_TRANSACTION_ITEMS:
        raise InvalidInput(
            f"{len(changes)} changes take {items} items with their counters; a transaction holds {MAX_TRANSACTION_ITEMS}"
        )


def transaction_blocks(changes: Sequence[Change]) -> Iterator[Sequence[Change]]:
    """``changes`` in consecutive blocks, each as large as one transaction holds (``check_transaction_size``)."""
    start = 0
    while start < len(changes):
        end = min(len(changes), start + MAX_TRANSACTION_CHANGES)
        while end - start > 1 and transaction_items(changes[start:end], False) > MAX_TRANSACTION_ITEMS:
            end -= 1
        yield changes[start:end]
        start = end


def check_create_sizes(
    tenant_id: str,
    changes: Sequence[Change],
    memory_class: type[MemoryItem] = MemoryItem,
    revision_class: type[RevisionItem] = RevisionItem,
) -> tuple[list[MemoryItem], list[RevisionItem]]:
    """The memory and revision items of ``changes`` (all CREATED), once each fits in an item and the
    memories fit in one transaction, as ``create_all`` writes them (its size checks, shared with the
    fake). Raises ``InvalidInput`` for more than ``MAX_TRANSACTION_ITEMS`` changes or one that is not a
    creation, ``TooLargeToStore`` naming the position of an item over ``MAX_ITEM_BYTES``, or without a
    position when the memories are over ``MAX_TRANSACTION_BYTES`` together."""
    items, revisions, _ = create_items(tenant_id, changes, memory_class, revision_class)
    return items, revisions


def create_items(
    tenant_id: str,
    changes: Sequence[Change],
    memory_class: type[MemoryItem] = MemoryItem,
    revision_class: type[RevisionItem] = RevisionItem,
) -> tuple[list[MemoryItem], list[RevisionItem], int]:
    """``check_create_sizes``, with the bytes of the memories and revisions together as stored."""
    if len(changes) > MAX_TRANSACTION_ITEMS:
        raise InvalidInput(f"{len(changes)} memories in one batch; at most {MAX_TRANSACTION_ITEMS}")
    items, revisions, total, revision_total = [], [], 0, 0
    for position, change in enumerate(changes):
        if change.action is not Action.CREATED or change.after is None or change.before is not None:
            raise InvalidInput(f"change {position} of a batch is not a creation")
        item, revision = memory_class.from_domain(change.after), revision_class.from_domain(tenant_id, change.revision)
        size, revision_size = stored_size(item, keep=True), stored_size(revision, keep=True)  # written next
        largest = max(size, revision_size)
        if largest > MAX_ITEM_BYTES:
            raise TooLargeToStore(
                f"the memory takes {largest:,} bytes as stored; at most {MAX_ITEM_BYTES:,} fit in one item "
                "(shorten its fact, topics, metadata or provenance)",
                position,
            )
        items.append(item)
        revisions.append(revision)
        total += size
        revision_total += revision_size
    if total > MAX_TRANSACTION_BYTES:
        raise TooLargeToStore(
            f"the memories take {total:,} bytes as stored; a batch is written in one transaction of at most "
            f"{MAX_TRANSACTION_BYTES:,} bytes: split it"
        )
    return items, revisions, total + revision_total


def fits_one_transaction(changes: Sequence[Change], size: int) -> bool:
    """Whether creating ``changes`` (memories and revisions of ``size`` bytes together as stored) fits in one
    transaction with their usage counters: at most ``MAX_TRANSACTION_ITEMS`` items, and at most
    ``MAX_TRANSACTION_BYTES`` counting each counter item at the most an item can hold (``MAX_ITEM_BYTES``),
    whatever it has grown to."""
    counters = counter_items(changes)
    return (
        2 * len(changes) + counters <= MAX_TRANSACTION_ITEMS
        and size + counters * MAX_ITEM_BYTES <= MAX_TRANSACTION_BYTES
    )
