"""``OperationRepository`` on DynamoDB: operation items and the compressed JSON documents stored beside them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.codecs import decode_document, encode_document
from engram.adapters.dynamodb.counters import add_operation_counters
from engram.adapters.dynamodb.items import BlobItem, OperationItem
from engram.adapters.dynamodb.table import Table, is_conditional_failure
from engram.errors import Conflict, NotFound, PayloadTooLarge, StoreConflict
from engram.models.operation import Operation, OperationDocument, OperationError, OperationStatus, Usage
from engram.models.scope import canonical_scope, scope_hash

#: Compressed bytes a stored request may take (DynamoDB items hold 400 KB, with the other attributes).
MAX_STORED_REQUEST_BYTES = 350_000


class DynamoOperations:
    """See ``engram.ports.OperationRepository``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def create(
        self,
        tenant_id: str,
        operation: Operation,
        scope: dict[str, str],
        request: dict[str, Any],
        expire_time: datetime | None = None,
    ) -> None:
        """The operation and its request in one transaction, each written only if absent. The operation is
        listed under its scope (``GSI4``) and, with ``expire_time``, in the expiry index (``GSI3``), where
        the retention job finds it and deletes its partition: the operation and every document. (No item
        of the partition has a DynamoDB ``ttl``: TTL removing the operation first would strand documents
        written after it, which only the operation's expiry entry leads to.)"""
        body = encode_document(request)
        if len(body) > MAX_STORED_REQUEST_BYTES:
            raise PayloadTooLarge(f"the conversation is too large to store ({len(body)} bytes compressed)")
        item_class, blob = self._table.operation, self._table.blob
        pk, sk = OperationItem.key(tenant_id, operation.id)
        gsi4pk, gsi4sk = OperationItem.scope_part_keys(tenant_id, scope, "O", operation.id)
        item = item_class(
            pk,
            sk,
            **OperationItem.expiry_keys(pk, sk, expire_time),
            gsi4pk=gsi4pk,
            gsi4sk=gsi4sk,
            expire_time=expire_time,
            tenant_id=tenant_id,
            operation_id=operation.id,
            scope=canonical_scope(scope),
            status=operation.status.value,
            create_time=operation.create_time,
            update_time=operation.update_time,
        )
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                transaction.save(item, condition=item_class.pk.does_not_exist())
                transaction.save(
                    blob(*BlobItem.key(tenant_id, operation.id, OperationDocument.REQUEST), body=body),
                    condition=blob.pk.does_not_exist(),
                )
                stats = self._table.stats
                add_operation_counters(
                    transaction, stats, tenant_id, scope_hash(scope), operation.id, operation.create_time
                )
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise Conflict(f"operation {operation.id} already exists") from error
            raise

    def _item(self, tenant_id: str, operation_id: str) -> OperationItem | None:
        try:
            return self._table.operation.get(*OperationItem.key(tenant_id, operation_id), consistent_read=True)
        except DoesNotExist:
            return None

    def get(self, tenant_id: str, operation_id: str) -> Operation | None:
        item = self._item(tenant_id, operation_id)
        return item.to_domain() if item is not None else None

    def scope_of(self, tenant_id: str, operation_id: str) -> dict[str, str]:
        item = self._item(tenant_id, operation_id)
        if item is None:
            raise NotFound(f"operation {operation_id} not found")
        return json.loads(item.scope)

    def get_blob(self, tenant_id: str, operation_id: str, name: str) -> Any | None:
        try:
            item = self._table.blob.get(*BlobItem.key(tenant_id, operation_id, name), consistent_read=True)
        except DoesNotExist:
            return None
        return decode_document(item.body)

    def put_blob(self, tenant_id: str, operation_id: str, name: str, document: Any) -> None:
        self._table.blob(*BlobItem.key(tenant_id, operation_id, name), body=encode_document(document)).save()

    def add_usage(self, tenant_id: str, operation_id: str, usage: Usage, now: datetime) -> None:
        """One transaction of atomic counters (so concurrent steps never lose a count): the operation's,
        guarded to exist, and the usage counters of its scope and tenant for ``now``'s day (the scope is
        read from the operation first)."""
        if usage == Usage():
            return
        item = self._table.operation
        stored = self._item(tenant_id, operation_id)
        if stored is None:
            raise NotFound(f"operation {operation_id} not found")
        try:
            with TransactWrite(connection=self._table.connection) as transaction:
                transaction.update(
                    item(*OperationItem.key(tenant_id, operation_id)),
                    actions=[
                        item.llm_calls.add(usage.llm_calls),
                        item.input_tokens.add(usage.input_tokens),
                        item.output_tokens.add(usage.output_tokens),
                        item.embedding_calls.add(usage.embedding_calls),
                        item.update_time.set(now),
                    ],
                    condition=item.pk.exists(),
                )
                scope_key = scope_hash(json.loads(stored.scope))
                add_operation_counters(transaction, self._table.stats, tenant_id, scope_key, operation_id, now, usage)
        except TransactWriteError as error:
            reasons = [r.code for r in getattr(error, "cancellation_reasons", None) or [] if r is not None]
            if "ConditionalCheckFailed" in reasons:
                raise NotFound(f"operation {operation_id} not found") from error
            if is_conditional_failure(error):
                raise StoreConflict(f"a concurrent write met the usage counters: {error}") from error
            raise

    def finish(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
        index_pending: bool = False,
    ) -> bool:
        """One update conditioned on the status being RUNNING (which also fails on a missing operation)."""
        item = self._table.operation
        actions: list[Action] = [item.status.set(status.value), item.update_time.set(now)]
        if error is not None:
            actions += [item.error_code.set(error.code), item.error_message.set(error.message)]
        if index_pending:
            actions.append(item.index_pending.set(True))
        try:
            item(*OperationItem.key(tenant_id, operation_id)).update(
                actions=actions, condition=item.status == OperationStatus.RUNNING.value
            )
        except UpdateError as failure:
            if is_conditional_failure(failure):
                return False
            raise
        return True
