"""Powertools idempotency records in Engram's table: the persistence layer ``engram.api.idempotency``
uses, with the table's client and settings and the record key ``IdempotencyItem.key`` builds.

Importing this module imports Powertools' idempotency utility (and boto3): import it only when a
request carries an ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from engram.adapters.dynamodb.items import IdempotencyItem, TableItem
from engram.adapters.dynamodb.table import Table

#: Powertools names a record ``<key_prefix>#<hash>``; only the hash goes into the sort key.
KEY_PREFIX = "engram"


class IdempotencyRecords(DynamoDBPersistenceLayer):
    """One tenant's records: ``PK``/``SK`` from ``IdempotencyItem.key(tenant_id, <request hash>)``, expiring
    through the table's TTL attribute; requests go through the table's own client."""

    def __init__(self, table: Table, tenant_id: str) -> None:
        super().__init__(
            table_name=table.name,
            key_attr=TableItem.pk.attr_name,
            sort_key_attr=TableItem.sk.attr_name,
            static_pk_value=IdempotencyItem.key(tenant_id, "")[0],
            expiry_attr=TableItem.ttl.attr_name,
            in_progress_expiry_attr=IdempotencyItem.in_progress_expiration.attr_name,
            status_attr=IdempotencyItem.status.attr_name,
            data_attr=IdempotencyItem.data.attr_name,
            validation_key_attr=IdempotencyItem.validation.attr_name,
            boto3_client=table.client,
        )
        self.tenant_id = tenant_id

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        """The record's key: the tenant's partition, and the request hash Powertools computed."""
        request_hash = idempotency_key.rpartition("#")[2]
        pk, sk = IdempotencyItem.key(self.tenant_id, request_hash)
        return {TableItem.pk.attr_name: {"S": pk}, TableItem.sk.attr_name: {"S": sk}}
