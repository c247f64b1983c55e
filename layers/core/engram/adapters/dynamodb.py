"""The DynamoDB single table, through PynamoDB: the source of truth (DESIGN.md §1).

Item layout (every key starts with the tenant id, except the API-key lookup, whose tenant is what it
resolves):

| item | PK | SK | GSI1PK / GSI1SK |
|---|---|---|---|
| memory | ``T#<tenant>#M#<memory_id>`` | ``M`` | ``T#<tenant>#S#<scope_hash>`` / ``M#<create_time>#<memory_id>`` |
| revision | ``T#<tenant>#M#<memory_id>`` | ``R#<revision_id>`` | |
| operation | ``T#<tenant>#O#<operation_id>`` | ``O`` | |
| generate request | ``T#<tenant>#O#<operation_id>`` | ``REQ`` | |
| extracted candidates | ``T#<tenant>#O#<operation_id>`` | ``CAND`` | |
| API key | ``K#<sha256 of key>`` | ``K`` | |

A memory and its revisions share a partition, so the history survives the memory's deletion and is
read with one query. Embeddings are stored as little-endian float32 bytes so the index can be rebuilt
from this table alone. ``ttl`` (epoch seconds) is the table's TTL attribute.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import operator
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    PutError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from engram.clock import new_id
from engram.errors import Conflict, InvalidInput, PayloadTooLarge, StoreConflict
from engram.models.conversation import Content
from engram.models.filters import And, Comparison, Node, Not, Or
from engram.models.memory import Action, Revision, Source, StoredMemory
from engram.models.operation import (
    Operation,
    OperationError,
    OperationResult,
    OperationStatus,
    Usage,
)
from engram.models.scope import canonical_scope, scope_hash
from engram.models.session import SessionEvent
from engram.ports import Change

MAX_STORED_REQUEST_BYTES = 350_000


def memory_pk(tenant_id: str, memory_id: str) -> str:
    return f"T#{tenant_id}#M#{memory_id}"


def scope_pk(tenant_id: str, scope_key: str) -> str:
    return f"T#{tenant_id}#S#{scope_key}"


def operation_pk(tenant_id: str, operation_id: str) -> str:
    return f"T#{tenant_id}#O#{operation_id}"


def pack_vector(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


def unpack_vector(data: bytes | None) -> list[float]:
    if not data:
        return []
    return list(struct.unpack(f"<{len(data) // 4}f", data))


class _Meta:
    table_name = "engram"
    region = "us-east-1"
    host: str | None = None


class ScopeIndex(GlobalSecondaryIndex["MemoryItem"]):
    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(range_key=True, attr_name="GSI1SK")


class TenantIndex(GlobalSecondaryIndex["MemoryItem"]):
    """Every memory of a tenant, newest first (tenant-wide list and purge)."""

    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(range_key=True, attr_name="GSI2SK")


EXPIRY_SHARDS = 16


class ExpiryIndex(GlobalSecondaryIndex["ExpiringKey"]):
    """Sparse index of everything that expires (memories, revisions, session events), by expiry time,
    spread over ``EXPIRY_SHARDS`` partitions. The retention job reads it; DynamoDB TTL may lag by days."""

    class Meta:
        index_name = "GSI3"
        projection = KeysOnlyProjection()

    gsi3pk = UnicodeAttribute(hash_key=True, attr_name="GSI3PK")
    gsi3sk = UnicodeAttribute(range_key=True, attr_name="GSI3SK")


def _time_key(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def expiry_keys(pk: str, sk: str, expire_time: datetime | None) -> dict[str, str | None]:
    """``GSI3PK``/``GSI3SK`` for an item expiring at ``expire_time`` (both None when it never expires)."""
    if expire_time is None:
        return {"gsi3pk": None, "gsi3sk": None}
    shard = int(hashlib.sha256(pk.encode()).hexdigest()[:4], 16) % EXPIRY_SHARDS
    return {"gsi3pk": f"EXP#{shard:02d}", "gsi3sk": f"{_time_key(expire_time)}#{pk}#{sk}"}


class ExpiringKey(Model):
    """The keys-only view of GSI3 (what the retention job deletes)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    gsi3pk = UnicodeAttribute(attr_name="GSI3PK", null=True)
    gsi3sk = UnicodeAttribute(attr_name="GSI3SK", null=True)
    by_expiry = ExpiryIndex()


class MemoryItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK", default="M")
    gsi1pk = UnicodeAttribute(attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(attr_name="GSI1SK")
    gsi2pk = UnicodeAttribute(attr_name="GSI2PK", null=True)
    gsi2sk = UnicodeAttribute(attr_name="GSI2SK", null=True)
    gsi3pk = UnicodeAttribute(attr_name="GSI3PK", null=True)
    gsi3sk = UnicodeAttribute(attr_name="GSI3SK", null=True)
    by_scope = ScopeIndex()
    by_tenant = TenantIndex()

    tenant_id = UnicodeAttribute()
    memory_id = UnicodeAttribute()
    scope = UnicodeAttribute()  # canonical JSON
    scope_hash = UnicodeAttribute()
    fact = UnicodeAttribute()
    topics = ListAttribute(of=UnicodeAttribute, default=list)
    metadata = MapAttribute(default=dict)  # a map, so filters reach metadata.<key> in DynamoDB
    create_time = UTCDateTimeAttribute()
    update_time = UTCDateTimeAttribute()
    expire_time = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    revision_id = UnicodeAttribute()
    operation_id = UnicodeAttribute(null=True)
    event_ids = ListAttribute(of=UnicodeAttribute, default=list)
    embedding = BinaryAttribute(legacy_encoding=False, null=True)
    embedding_model = UnicodeAttribute(default="")
    version = VersionAttribute()

    @classmethod
    def from_domain(cls, memory: StoredMemory) -> MemoryItem:
        key = scope_hash(memory.scope)
        pk = memory_pk(memory.tenant_id, memory.id)
        order = f"M#{_time_key(memory.create_time)}#{memory.id}"
        item = cls(
            pk=pk,
            sk="M",
            gsi1pk=scope_pk(memory.tenant_id, key),
            gsi1sk=order,
            gsi2pk=f"T#{memory.tenant_id}#MEMORIES",
            gsi2sk=order,
            **expiry_keys(pk, "M", memory.expire_time),
            tenant_id=memory.tenant_id,
            memory_id=memory.id,
            scope=canonical_scope(memory.scope),
            scope_hash=key,
            fact=memory.fact,
            topics=list(memory.topics),
            metadata=dict(memory.metadata),
            create_time=memory.create_time,
            update_time=memory.update_time,
            expire_time=memory.expire_time,
            ttl=memory.expire_time,
            revision_id=memory.revision_id,
            operation_id=memory.source.operation_id,
            event_ids=list(memory.source.event_ids),
            embedding=pack_vector(memory.embedding) if memory.embedding else None,
            embedding_model=memory.embedding_model,
        )
        if memory.version:
            item.version = memory.version
        return item

    def to_domain(self) -> StoredMemory:
        return StoredMemory(
            id=self.memory_id,
            tenant_id=self.tenant_id,
            scope=json.loads(self.scope),
            fact=self.fact,
            topics=list(self.topics or []),
            metadata=_as_dict(self.metadata),
            create_time=self.create_time,
            update_time=self.update_time,
            expire_time=self.expire_time,
            revision_id=self.revision_id,
            source=Source(operation_id=self.operation_id, event_ids=list(self.event_ids or [])),
            embedding=unpack_vector(self.embedding),
            embedding_model=self.embedding_model or "",
            version=int(self.version or 0),
        )


class RevisionItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    tenant_id = UnicodeAttribute()
    memory_id = UnicodeAttribute()
    revision_id = UnicodeAttribute()
    action = UnicodeAttribute()
    fact = UnicodeAttribute()
    previous_fact = UnicodeAttribute(null=True)
    operation_id = UnicodeAttribute(null=True)
    labels = JSONAttribute(default=dict)
    candidate_facts = ListAttribute(of=UnicodeAttribute, default=list)
    scope = UnicodeAttribute(null=True)  # canonical JSON: what a rollback of a deleted memory restores
    topics = ListAttribute(of=UnicodeAttribute, default=list)
    metadata = MapAttribute(default=dict)
    create_time = UTCDateTimeAttribute()
    expire_time = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    gsi3pk = UnicodeAttribute(attr_name="GSI3PK", null=True)
    gsi3sk = UnicodeAttribute(attr_name="GSI3SK", null=True)

    @classmethod
    def from_domain(cls, tenant_id: str, revision: Revision) -> RevisionItem:
        pk = memory_pk(tenant_id, revision.memory_id)
        sk = f"R#{revision.id}"
        return cls(
            pk=pk,
            sk=sk,
            scope=canonical_scope(revision.scope) if revision.scope else None,
            topics=list(revision.topics),
            metadata=dict(revision.metadata),
            expire_time=revision.expire_time,
            **expiry_keys(pk, sk, revision.expire_time),
            tenant_id=tenant_id,
            memory_id=revision.memory_id,
            revision_id=revision.id,
            action=revision.action.value,
            fact=revision.fact,
            previous_fact=revision.previous_fact,
            operation_id=revision.operation_id,
            labels=dict(revision.labels),
            candidate_facts=list(revision.candidate_facts),
            create_time=revision.create_time,
            ttl=revision.expire_time,
        )

    def to_domain(self) -> Revision:
        return Revision(
            id=self.revision_id,
            memory_id=self.memory_id,
            action=Action(self.action),
            fact=self.fact,
            previous_fact=self.previous_fact,
            operation_id=self.operation_id,
            labels=dict(self.labels or {}),
            candidate_facts=list(self.candidate_facts or []),
            scope=json.loads(self.scope) if self.scope else None,
            topics=list(self.topics or []),
            metadata=_as_dict(self.metadata),
            create_time=self.create_time,
            expire_time=self.expire_time,
        )


class OperationItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK", default="O")
    tenant_id = UnicodeAttribute()
    operation_id = UnicodeAttribute()
    scope = UnicodeAttribute()
    status = UnicodeAttribute()
    create_time = UTCDateTimeAttribute()
    update_time = UTCDateTimeAttribute()
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    result = JSONAttribute(null=True)
    consolidated = BooleanAttribute(null=True)
    llm_calls = NumberAttribute(default=0)
    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    embedding_calls = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)

    def to_domain(self) -> Operation:
        return Operation(
            id=self.operation_id,
            status=OperationStatus(self.status),
            create_time=self.create_time,
            update_time=self.update_time,
            error=OperationError(code=self.error_code, message=self.error_message or "") if self.error_code else None,
            result=OperationResult.model_validate(self.result) if self.result is not None else None,
            usage=Usage(
                llm_calls=int(self.llm_calls or 0),
                input_tokens=int(self.input_tokens or 0),
                output_tokens=int(self.output_tokens or 0),
                embedding_calls=int(self.embedding_calls or 0),
            ),
        )


class BlobItem(Model):
    """A compressed JSON document attached to an operation (the request ``REQ``, the candidates ``CAND``)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    body = BinaryAttribute(legacy_encoding=False)
    ttl = TTLAttribute(null=True)


class ApiKeyItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK", default="K")
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    create_time = UTCDateTimeAttribute()
    revoked = BooleanAttribute(default=False)


class LeaseItem(Model):
    """The consolidation lease of a scope: ``PK = T#<tenant>#S#<scope_hash>``, ``SK = LEASE``."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK", default="LEASE")
    holder = UnicodeAttribute()
    expires_at = NumberAttribute()  # epoch milliseconds
    ttl = TTLAttribute(null=True)


class ConfigItem(Model):
    """The tenant's configuration document (``PK = T#<tenant>``, ``SK = CONFIG``)."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK", default="CONFIG")
    body = JSONAttribute()
    update_time = UTCDateTimeAttribute()


def session_pk(tenant_id: str, session_id: str) -> str:
    return f"T#{tenant_id}#SES#{session_id}"


class SessionEventItem(Model):
    """One session event: ``PK = T#<tenant>#SES#<session_id>``, ``SK = E#<event_id>`` (the conditional
    put on that key makes re-sends idempotent); ordered by ``timestamp`` then ``seq`` when read."""

    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    event_id = UnicodeAttribute()
    seq = UnicodeAttribute()
    role = UnicodeAttribute()
    timestamp = UTCDateTimeAttribute()
    content = JSONAttribute()
    expire_time = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    gsi3pk = UnicodeAttribute(attr_name="GSI3PK", null=True)
    gsi3sk = UnicodeAttribute(attr_name="GSI3SK", null=True)


_MODELS: tuple[type[Model], ...] = (
    LeaseItem,
    MemoryItem,
    RevisionItem,
    OperationItem,
    BlobItem,
    ApiKeyItem,
    ExpiringKey,
    ConfigItem,
    SessionEventItem,
)


def configure(table_name: str, region: str, host: str | None) -> None:
    """Point every item model at ``table_name`` (and an emulator ``host``); drops cached connections."""
    for model in (*_MODELS, ScopeIndex, TenantIndex, ExpiryIndex):
        meta = model.Meta
        meta.table_name = table_name  # type: ignore[attr-defined]
        meta.region = region  # type: ignore[attr-defined]
        meta.host = host  # type: ignore[attr-defined]
        if hasattr(model, "_connection"):
            model._connection = None  # type: ignore[attr-defined]


def to_condition(node: Node | None) -> Condition | None:
    """The filter as a PynamoDB condition on memory items (a DynamoDB FilterExpression).

    Semantics match ``engram.models.filters.matches``: DynamoDB compares values of different types as
    unequal, and ``$ne``/``$nin`` also hold where the key is absent.
    """
    if node is None:
        return None
    if isinstance(node, And):
        conditions = [to_condition(n) for n in node.items]
        return functools.reduce(operator.and_, conditions)  # type: ignore[arg-type]
    if isinstance(node, Or):
        conditions = [to_condition(n) for n in node.items]
        return functools.reduce(operator.or_, conditions)  # type: ignore[arg-type]
    if isinstance(node, Not):
        return ~to_condition(node.item)  # type: ignore[operator]
    return _comparison(node)


def _comparison(node: Comparison) -> Condition:
    if node.is_time:
        path: Any = MemoryItem.create_time if node.field == "create_time" else MemoryItem.update_time
        convert: Any = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: E731
    else:
        path = MemoryItem.metadata[node.metadata_key]
        convert = lambda v: v  # noqa: E731
    value = tuple(convert(v) for v in node.value) if node.op in ("$in", "$nin") else convert(node.value)
    if node.op == "$eq":
        return path == value
    if node.op == "$ne":
        return path.does_not_exist() | (path != value)
    if node.op == "$gt":
        return path > value
    if node.op == "$gte":
        return path >= value
    if node.op == "$lt":
        return path < value
    if node.op == "$lte":
        return path <= value
    if node.op == "$in":
        return path.is_in(*value)
    return path.does_not_exist() | ~path.is_in(*value)


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return value.as_dict() if isinstance(value, MapAttribute) else dict(value)


def _encode_blob(document: Any) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":"), default=str).encode(), 6)


def _decode_blob(data: bytes) -> Any:
    return json.loads(zlib.decompress(data))


def _is_conditional_failure(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    if cause in ("ConditionalCheckFailedException", "TransactionConflictException"):
        return True
    if cause == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return any(r is not None and r.code in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons)
    return False


class DynamoMemoryStore:
    """The ``MemoryStore`` port on DynamoDB. Storage errors become domain errors:
    a lost conditional write → ``StoreConflict`` (retryable) or ``Conflict`` (API 409)."""

    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        configure(table_name, region, host)
        self.table_name = table_name
        self._connection = Connection(region=region, host=host)

    # --- memories ---------------------------------------------------------------------------

    def get_memory(self, tenant_id: str, memory_id: str) -> StoredMemory | None:
        try:
            return MemoryItem.get(memory_pk(tenant_id, memory_id), "M", consistent_read=True).to_domain()
        except DoesNotExist:
            return None

    def get_memories(self, tenant_id: str, memory_ids: Iterable[str]) -> dict[str, StoredMemory]:
        """Batch read (consistent) of up to any number of ids; missing ids are absent from the result."""
        keys = [(memory_pk(tenant_id, mid), "M") for mid in dict.fromkeys(memory_ids)]
        if not keys:
            return {}
        found = {}
        for item in MemoryItem.batch_get(keys, consistent_read=True):
            found[item.memory_id] = item.to_domain()
        return found

    def list_memories(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        page_token: str | None,
        filter: Node | None = None,  # noqa: A002 - the API's name
    ) -> tuple[list[StoredMemory], str | None]:
        """Newest first; ``scope`` None lists the whole tenant. The filter runs inside DynamoDB (a
        FilterExpression), so a page may hold fewer than ``page_size`` items; follow ``next_page_token``.
        ``page_token`` is opaque. Raises ``InvalidInput`` for a bad token."""
        last_key = None
        if page_token:
            try:
                last_key = json.loads(base64.urlsafe_b64decode(page_token.encode()))
                if not isinstance(last_key, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                raise InvalidInput("page_token is not valid") from error
        condition = to_condition(filter)
        if scope is not None:
            results = MemoryItem.by_scope.query(
                scope_pk(tenant_id, scope_hash(scope)),
                scan_index_forward=False,
                limit=page_size,
                last_evaluated_key=last_key,
                filter_condition=condition,
            )
        else:
            results = MemoryItem.by_tenant.query(
                f"T#{tenant_id}#MEMORIES",
                scan_index_forward=False,
                limit=page_size,
                last_evaluated_key=last_key,
                filter_condition=condition,
            )
        items = [item.to_domain() for item in results]
        next_key = results.last_evaluated_key
        token = base64.urlsafe_b64encode(json.dumps(next_key).encode()).decode() if next_key else None
        return items, token

    def iter_memories(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,  # noqa: A002
    ) -> Iterator[StoredMemory]:
        """Every memory of the scope (or tenant) that matches ``filter``, page by page."""
        token: str | None = None
        while True:
            items, token = self.list_memories(tenant_id, scope, 100, token, filter)
            yield from items
            if token is None:
                return

    def apply_changes(
        self,
        tenant_id: str,
        changes: Sequence[Change],
        operation_id: str | None = None,
        result: OperationResult | None = None,
    ) -> None:
        """Write ``changes`` atomically (one transaction, at most 49 changes), each guarded by the memory's
        version; with ``operation_id``, the same transaction records ``result`` on the operation and fails
        if a result was already recorded, so a retried workflow step never writes twice.

        Raises ``StoreConflict`` when a guard fails (a concurrent writer won; retry on fresh state).
        """
        if len(changes) > 49:
            raise InvalidInput(f"{len(changes)} changes in one transaction; at most 49")
        try:
            with TransactWrite(connection=self._connection) as transaction:
                for change in changes:
                    if change.action is Action.DELETED:
                        assert change.before is not None
                        transaction.delete(MemoryItem.from_domain(change.before))
                    else:
                        assert change.after is not None
                        item = MemoryItem.from_domain(change.after)
                        if change.before is None:
                            transaction.save(item, condition=MemoryItem.pk.does_not_exist())
                        else:
                            transaction.save(item)
                    transaction.save(
                        RevisionItem.from_domain(tenant_id, change.revision),
                        condition=RevisionItem.pk.does_not_exist(),
                    )
                if operation_id is not None:
                    transaction.update(
                        OperationItem(operation_pk(tenant_id, operation_id), "O"),
                        actions=[
                            OperationItem.consolidated.set(True),
                            OperationItem.result.set((result or OperationResult()).model_dump(mode="json")),
                        ],
                        condition=OperationItem.consolidated.does_not_exist() & OperationItem.pk.exists(),
                    )
        except TransactWriteError as error:
            if _is_conditional_failure(error):
                raise StoreConflict(f"a concurrent write changed the memories of this change: {error}") from error
            raise

    def list_revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        """Newest first."""
        return [
            item.to_domain()
            for item in RevisionItem.query(
                memory_pk(tenant_id, memory_id), RevisionItem.sk.startswith("R#"), scan_index_forward=False
            )
        ]

    # --- operations -----------------------------------------------------------------------

    def create_operation(
        self, tenant_id: str, operation: Operation, scope: dict[str, str], request: dict[str, Any]
    ) -> None:
        """Store a RUNNING operation and its request (compressed) in one transaction.

        Raises ``PayloadTooLarge`` (413) when the compressed request exceeds 350 KB.
        """
        body = _encode_blob(request)
        if len(body) > MAX_STORED_REQUEST_BYTES:
            raise PayloadTooLarge(f"the conversation is too large to store ({len(body)} bytes compressed)")
        pk = operation_pk(tenant_id, operation.id)
        item = OperationItem(
            pk,
            "O",
            tenant_id=tenant_id,
            operation_id=operation.id,
            scope=canonical_scope(scope),
            status=operation.status.value,
            create_time=operation.create_time,
            update_time=operation.update_time,
        )
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(item, condition=OperationItem.pk.does_not_exist())
                transaction.save(BlobItem(pk, "REQ", body=body), condition=BlobItem.pk.does_not_exist())
        except TransactWriteError as error:
            if _is_conditional_failure(error):
                raise Conflict(f"operation {operation.id} already exists") from error
            raise

    def get_operation(self, tenant_id: str, operation_id: str) -> Operation | None:
        try:
            return OperationItem.get(operation_pk(tenant_id, operation_id), "O", consistent_read=True).to_domain()
        except DoesNotExist:
            return None

    def get_operation_scope(self, tenant_id: str, operation_id: str) -> dict[str, str]:
        item = OperationItem.get(operation_pk(tenant_id, operation_id), "O", consistent_read=True)
        return json.loads(item.scope)

    def get_blob(self, tenant_id: str, operation_id: str, name: str) -> Any | None:
        try:
            item = BlobItem.get(operation_pk(tenant_id, operation_id), name, consistent_read=True)
        except DoesNotExist:
            return None
        return _decode_blob(item.body)

    def put_blob(self, tenant_id: str, operation_id: str, name: str, document: Any) -> None:
        BlobItem(operation_pk(tenant_id, operation_id), name, body=_encode_blob(document)).save()

    def add_usage(self, tenant_id: str, operation_id: str, usage: Usage, now: datetime) -> None:
        """Atomically add ``usage`` to the operation's counters."""
        if usage == Usage():
            return
        OperationItem(operation_pk(tenant_id, operation_id), "O").update(
            actions=[
                OperationItem.llm_calls.add(usage.llm_calls),
                OperationItem.input_tokens.add(usage.input_tokens),
                OperationItem.output_tokens.add(usage.output_tokens),
                OperationItem.embedding_calls.add(usage.embedding_calls),
                OperationItem.update_time.set(now),
            ],
            condition=OperationItem.pk.exists(),
        )

    def finish_operation(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
    ) -> bool:
        """Move a RUNNING operation to SUCCEEDED or FAILED. Returns False when it was already finished
        (a retried final step), True when this call finished it."""
        actions = [OperationItem.status.set(status.value), OperationItem.update_time.set(now)]
        if error is not None:
            actions += [
                OperationItem.error_code.set(error.code),
                OperationItem.error_message.set(error.message),
            ]
        try:
            OperationItem(operation_pk(tenant_id, operation_id), "O").update(
                actions=actions,
                condition=OperationItem.status == OperationStatus.RUNNING.value,
            )
        except UpdateError as error_:
            if _is_conditional_failure(error_):
                return False
            raise
        return True

    # --- API keys ---------------------------------------------------------------------------

    def put_api_key(self, key_hash: str, tenant_id: str, name: str, now: datetime) -> None:
        try:
            ApiKeyItem(f"K#{key_hash}", "K", tenant_id=tenant_id, name=name, create_time=now).save(
                condition=ApiKeyItem.pk.does_not_exist()
            )
        except PutError as error:
            if _is_conditional_failure(error):
                raise Conflict("this API key already exists") from error
            raise

    def get_api_key(self, key_hash: str) -> tuple[str, bool] | None:
        """``(tenant_id, revoked)`` for a key hash, or None."""
        try:
            item = ApiKeyItem.get(f"K#{key_hash}", "K", consistent_read=False)
        except DoesNotExist:
            return None
        return item.tenant_id, bool(item.revoked)

    def revoke_api_key(self, key_hash: str) -> bool:
        try:
            ApiKeyItem(f"K#{key_hash}", "K").update(
                actions=[ApiKeyItem.revoked.set(True)], condition=ApiKeyItem.pk.exists()
            )
        except UpdateError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def scan_memories(self, tenant_id: str | None = None) -> Iterator[StoredMemory]:
        """Every memory item of the table (or of one tenant), in no particular order: a full Scan,
        for rebuilding the index (``reindex``) only."""
        condition = MemoryItem.sk == "M"
        if tenant_id is not None:
            condition &= MemoryItem.tenant_id == tenant_id
        for item in MemoryItem.scan(condition, page_size=200):
            yield item.to_domain()

    # --- per-scope consolidation lease ---------------------------------------------------------

    def acquire_lease(self, tenant_id: str, scope_key: str, holder: str, now: datetime, seconds: float) -> bool:
        """Take (or renew) the scope's lease for ``holder`` until ``now + seconds``. True when held; False
        when another holder's lease has not expired. A dead holder's lease is taken over after expiry."""
        now_ms = int(now.timestamp() * 1000)
        item = LeaseItem(
            scope_pk(tenant_id, scope_key),
            "LEASE",
            holder=holder,
            expires_at=now_ms + int(seconds * 1000),
            ttl=datetime.fromtimestamp(now_ms / 1000 + seconds + 3600, tz=UTC),
        )
        condition = (LeaseItem.pk.does_not_exist()) | (LeaseItem.holder == holder) | (LeaseItem.expires_at < now_ms)
        try:
            item.save(condition=condition)
        except PutError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def release_lease(self, tenant_id: str, scope_key: str, holder: str) -> None:
        """Give the lease up if ``holder`` still has it (otherwise nothing happens)."""
        try:
            LeaseItem(scope_pk(tenant_id, scope_key), "LEASE").delete(condition=LeaseItem.holder == holder)
        except DeleteError as error:
            if not _is_conditional_failure(error):
                raise

    # --- tenant config ------------------------------------------------------------------------

    def get_config(self, tenant_id: str) -> dict[str, Any] | None:
        try:
            return dict(ConfigItem.get(f"T#{tenant_id}", "CONFIG", consistent_read=True).body)
        except DoesNotExist:
            return None

    def put_config(self, tenant_id: str, config: dict[str, Any], now: datetime) -> None:
        ConfigItem(f"T#{tenant_id}", "CONFIG", body=config, update_time=now).save()

    # --- sessions -----------------------------------------------------------------------------

    def append_session_events(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        """Store each event unless one with its ``event_id`` exists; returns, per event, whether it was new."""
        pk = session_pk(tenant_id, session_id)
        added = []
        for event in events:
            sk = f"E#{event.event_id}"
            item = SessionEventItem(
                pk,
                sk,
                event_id=event.event_id,
                seq=new_id(),
                role=event.content.role,
                timestamp=event.timestamp,
                content=event.content.model_dump(mode="json", exclude_none=True),
                expire_time=event.expire_time,
                ttl=event.expire_time,
                **expiry_keys(pk, sk, event.expire_time),
            )
            try:
                item.save(condition=SessionEventItem.pk.does_not_exist())
                added.append(True)
            except PutError as error:
                if not _is_conditional_failure(error):
                    raise
                added.append(False)
        return added

    def list_session_events(self, tenant_id: str, session_id: str) -> list[SessionEvent]:
        """Every event of the session, oldest first (by timestamp, then arrival)."""
        items = list(SessionEventItem.query(session_pk(tenant_id, session_id), SessionEventItem.sk.startswith("E#")))
        items.sort(key=lambda i: (i.timestamp, i.seq))
        return [
            SessionEvent(
                event_id=i.event_id,
                timestamp=i.timestamp,
                content=Content.model_validate(i.content),
                expire_time=i.expire_time,
            )
            for i in items
        ]

    def delete_session(self, tenant_id: str, session_id: str) -> int:
        """Delete every event of the session; returns how many there were."""
        keys = [(i.pk, i.sk) for i in SessionEventItem.query(session_pk(tenant_id, session_id))]
        self.delete_keys(keys)
        return len(keys)

    # --- retention ----------------------------------------------------------------------------

    def expired_keys(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(PK, SK)`` of items whose expiry has passed, oldest expiry first per shard."""
        bound = _time_key(now)
        keys: list[tuple[str, str]] = []
        for shard in range(EXPIRY_SHARDS):
            if len(keys) >= limit:
                break
            for item in ExpiringKey.by_expiry.query(
                f"EXP#{shard:02d}", ExpiringKey.gsi3sk < bound, limit=limit - len(keys)
            ):
                keys.append((item.pk, item.sk))
                if len(keys) >= limit:
                    break
        return keys

    def delete_keys(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete items by key in batches of 25 (PynamoDB retries unprocessed items)."""
        with ExpiringKey.batch_write() as batch:
            for pk, sk in keys:
                batch.delete(ExpiringKey(pk, sk))


def _decode_binary(image: dict[str, Any]) -> dict[str, Any]:
    """Stream images in Lambda events carry binary values as base64 text; PynamoDB wants bytes."""
    out = {}
    for name, value in image.items():
        if isinstance(value, dict) and isinstance(value.get("B"), str):
            value = {"B": base64.b64decode(value["B"])}
        out[name] = value
    return out


def memory_from_stream_image(image: dict[str, Any] | None) -> StoredMemory | None:
    """The memory in a DynamoDB stream image (``NewImage``/``OldImage``), or None for other item types."""
    if not image or image.get("SK", {}).get("S") != "M":
        return None
    return MemoryItem.from_raw_data(_decode_binary(image)).to_domain()
