"""Powertools idempotency records in Engram's table: the persistence layer ``engram.api.idempotency``
uses, with the table's client and settings and the record key ``IdempotencyItem.key`` builds.

A stored response can hold memories (their facts) and a request a scope; a forget of the scope must
delete them (``POST /v1/forget``), but a record's key is a hash of the tenant, route and key, not of a
scope. So before a response is stored, each scope its request or response names gets a tag item next
to the record (``IdempotencyItem.tag_key``: the scope's hash and the record's), expiring with it; a
forget lists the scope's tags and deletes each with its record (``engram.adapters.dynamodb.forget``).
``scopes_named`` says which scopes a record holds something of.

Importing this module imports Powertools' idempotency utility (and boto3): import it only when a
request carries an ``Idempotency-Key``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeGuard

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from engram.adapters.dynamodb.items import IdempotencyItem, TableItem
from engram.adapters.dynamodb.table import Table
from engram.models.mem0 import ENTITY_KEYS
from engram.models.scope import scope_hash

#: Powertools names a record ``<key_prefix>#<hash>``; only the hash goes into the sort key.
KEY_PREFIX = "engram"
#: Routes whose records are never tagged: a forget's own record holds its receipt (no content), and a
#: forget of the same scope must not delete the record of the forget in progress.
UNTAGGED_ROUTES = ("forget",)
#: A tag expires this much after its record (whose expiry is computed a moment later), never before it.
TAG_MARGIN_SECONDS = 60


class IdempotencyRecords(DynamoDBPersistenceLayer):
    """One tenant's records: ``PK``/``SK`` from ``IdempotencyItem.key(tenant_id, <request hash>)``, expiring
    through the table's TTL attribute; requests go through the table's own client. A completed record is
    tagged with the scopes it names (see the module docstring) before it is stored."""

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
        self._table = table

    def _get_key(self, idempotency_key: str) -> dict[str, Any]:
        """The record's key: the tenant's partition, and the request hash Powertools computed."""
        pk, sk = IdempotencyItem.key(self.tenant_id, _request_hash(idempotency_key))
        return {TableItem.pk.attr_name: {"S": pk}, TableItem.sk.attr_name: {"S": sk}}

    def save_success(self, data: dict[str, Any], result: dict[str, Any]) -> None:
        """Tag the record with the scopes ``data`` (the request: ``route``, ``body``) and ``result`` (the
        response) name, then store the response (tags first: a stored response is always findable)."""
        idempotency_key = self._get_hashed_idempotency_key(data=data)
        if idempotency_key is not None and data.get("route") not in UNTAGGED_ROUTES:
            expires_at = self._get_expiry_timestamp() + TAG_MARGIN_SECONDS
            self.tag(_request_hash(idempotency_key), scopes_named(data.get("body"), result), expires_at)
        super().save_success(data, result)

    def tag(self, request_hash: str, scope_keys: set[str], expires_at: int) -> None:
        """Write a tag per scope hash in ``scope_keys`` for the record of ``request_hash``, expiring at
        ``expires_at`` (epoch seconds)."""
        if not scope_keys:
            return
        item_class = self._table.item
        ttl = datetime.fromtimestamp(expires_at, tz=UTC)
        with item_class.batch_write() as batch:
            for scope_key in sorted(scope_keys):
                batch.save(item_class(*IdempotencyItem.tag_key(self.tenant_id, scope_key, request_hash), ttl=ttl))


def _request_hash(idempotency_key: str) -> str:
    return idempotency_key.rpartition("#")[2]


def scopes_named(*documents: Any) -> set[str]:
    """The hashes of the scopes ``documents`` (JSON data: a request body, a stored response) name: every
    ``"scope"`` object of string values (Engram's requests and memories), and every object with mem0
    entities (``user_id``, ``agent_id``, ``app_id``, ``run_id``: mem0's requests and memories), whose
    scope is those entities. A mem0-shaped memory of a scope with other keys too names only its entities
    (mem0's shape has no place for the others)."""
    found: set[str] = set()
    pending = list(documents)
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending += node
        elif isinstance(node, dict):
            scope = node.get("scope")
            if _is_scope(scope):
                found.add(scope_hash(scope))
            entities = {key: node[key] for key in ENTITY_KEYS if isinstance(node.get(key), str) and node[key]}
            if entities and "scope" not in node:
                found.add(scope_hash(entities))
            pending += [value for value in node.values() if value is not scope]  # a scope's own keys are not entities
    return found


def _is_scope(value: Any) -> TypeGuard[dict[str, str]]:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )
