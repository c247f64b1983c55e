"""The items of the single table, as PynamoDB models: one base class (``TableItem``) with the table's
settings, the key attributes and the TTL attribute; each item class adds its attributes, its key
builders and its mapping to and from the domain models.

Every key starts with the tenant id (``T#<tenant>``), except the API key's, whose tenant is what it
resolves to:

| item | PK | SK |
|---|---|---|
| memory | ``T#<tenant>#M#<memory_id>`` | ``M`` |
| revision | ``T#<tenant>#M#<memory_id>`` | ``R#<revision_id>`` |
| operation | ``T#<tenant>#O#<operation_id>`` | ``O`` |
| operation document | ``T#<tenant>#O#<operation_id>`` | its name (``REQ``, ``SOURCE``, ``CAND``) |
| session event | ``T#<tenant>#SES#<session_id>`` | ``E#<event_id>`` |
| consolidation lease | ``T#<tenant>#S#<scope_hash>`` | ``LEASE`` |
| tenant config | ``T#<tenant>`` | ``CONFIG`` |
| idempotency record | ``T#<tenant>#IDEMPOTENCY`` | ``I#<hash of tenant, route, key>`` |
| idempotency scope tag | ``T#<tenant>#IDEMPOTENCY`` | ``S#<scope_hash>#<hash of tenant, route, key>`` |
| forget receipt | ``T#<tenant>#FORGET`` | ``R#<receipt_id>`` |
| forget in progress | ``T#<tenant>#FORGET`` | ``P#<hash of scope and session ids>`` |
| API key | ``K#<sha256 of key>`` | ``K`` |
| usage counters | ``T#<tenant>#STATS#<scope_hash or ALL>`` | ``TOTAL#<shard>``, ``D#<yyyy-mm-dd>#<shard>`` |

Indexes: ``GSI1`` lists a scope's memories (``T#<tenant>#S#<scope_hash>`` / ``M#<create_time>#<id>``),
``GSI2`` a tenant's (``T#<tenant>#MEMORIES`` / the same), ``GSI3`` (keys only) everything that expires
(``EXP#<shard>`` / ``<expire_time>#<PK>#<SK>``), ``GSI4`` (keys and the session event attributes) the
ordered parts of a parent: a session's events by time (``T#<tenant>#SES#<session_id>`` /
``E#<timestamp>#<seq>``) and what a scope owns besides its memories (``T#<tenant>#S#<scope_hash>`` /
``R#<memory_id>#<revision_id>``, ``O#<operation_id>``: what forgetting a scope deletes). A memory and its
revisions share a partition, so the history survives the memory and is read with one query. ``ttl``
(epoch seconds) is the table's TTL attribute. The classes here are unbound:
``engram.adapters.dynamodb.table.Table`` binds them to a table.

Every id in a key is checked against its grammar (``engram.models.identifiers``) by the builders here.
What a reader of memory items needs without PynamoDB (the sort key, the mapping to the domain memory) is
in ``engram.adapters.dynamodb.layout``, which ``MemoryItem`` uses.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, TypedDict

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
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from engram.adapters.dynamodb.codecs import pack_vector, time_key
from engram.adapters.dynamodb.layout import MEMORY_SK, memory_from_attributes
from engram.models.identifiers import check_client_id, check_key_part, check_resource_id, check_tenant_id
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import Operation, OperationError, OperationResult, OperationStatus, Usage
from engram.models.scope import canonical_scope, scope_hash

Key = tuple[str, str]

EXPIRY_SHARDS = 16
#: How long after its expiry DynamoDB's TTL may delete a memory: the retention job deletes it first
#: (counting the deletion in the usage counters); TTL is the backstop for a job that stopped running.
MEMORY_TTL_GRACE = timedelta(days=7)


def tenant_pk(tenant_id: str, *parts: str) -> str:
    """``T#<tenant>`` followed by ``#<part>`` for each part. Raises ``InvalidIdentifier`` (a ``ValueError``)
    for a tenant id outside its grammar (``engram.models.identifiers``): every key builder checks the ids
    it is given, so none can carry the ``#`` delimiter into a key."""
    return "#".join(("T", check_tenant_id(tenant_id), *parts))


class ExpiryKeys(TypedDict):
    """The expiry index keys of an item (``GSI3PK``/``GSI3SK``), both None when it never expires."""

    gsi3pk: str | None
    gsi3sk: str | None


class TableItem(Model):
    """Any item: ``PK``/``SK``, and ``ttl``, the table's TTL attribute (None: never deleted by TTL)."""

    class Meta:
        table_name = "engram"  # replaced when a ``Table`` binds the class
        region = "us-east-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True, attr_name="PK")
    sk = UnicodeAttribute(range_key=True, attr_name="SK")
    ttl = TTLAttribute(null=True)

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        """PynamoDB's serialization of the item; the one ``keep_serialization`` kept, if any, is given
        (a shallow copy: PynamoDB's save takes the keys out of it) to this call and dropped."""
        kept = self.__dict__.pop("_kept_serialization", None)
        if kept is not None and kept[0] == null_check:
            return dict(kept[1])
        return super().serialize(null_check=null_check)

    def keep_serialization(self, serialized: dict[str, dict[str, Any]], null_check: bool = True) -> None:
        """Keep ``serialized`` (this item's ``serialize(null_check)``, unchanged since) for the next
        ``serialize`` call, once: the write that follows a size check serializes the item only once. The
        caller must not change the item in between."""
        self.__dict__["_kept_serialization"] = (null_check, serialized)


class ExpiryIndex(GlobalSecondaryIndex["ExpiringItem"]):
    """Sparse, keys only: everything that expires, by expiry time, over ``EXPIRY_SHARDS`` partitions."""

    class Meta:
        index_name = "GSI3"
        projection = KeysOnlyProjection()

    gsi3pk = UnicodeAttribute(hash_key=True, attr_name="GSI3PK")
    gsi3sk = UnicodeAttribute(range_key=True, attr_name="GSI3SK")


class ExpiringItem(TableItem):
    """An item the retention job deletes once its expiry has passed (DynamoDB TTL may lag by days)."""

    gsi3pk = UnicodeAttribute(attr_name="GSI3PK", null=True)
    gsi3sk = UnicodeAttribute(attr_name="GSI3SK", null=True)
    by_expiry = ExpiryIndex()

    @staticmethod
    def shard_key(shard: int) -> str:
        """``EXP#<shard, 2 digits>``: one ``GSI3`` partition (``0 <= shard < EXPIRY_SHARDS``)."""
        return f"EXP#{shard:02d}"

    @classmethod
    def expiry_keys(cls, pk: str, sk: str, expire_time: datetime | None) -> ExpiryKeys:
        """``gsi3pk``/``gsi3sk`` for an item expiring at ``expire_time`` (both None when it never expires)."""
        if expire_time is None:
            return {"gsi3pk": None, "gsi3sk": None}
        shard = int(hashlib.sha256(pk.encode()).hexdigest()[:4], 16) % EXPIRY_SHARDS
        return {"gsi3pk": cls.shard_key(shard), "gsi3sk": f"{time_key(expire_time)}#{pk}#{sk}"}


#: The session event attributes ``GSI4`` carries (so a session's events are paged from the index alone).
SESSION_EVENT_ATTRIBUTES = ["event_id", "seq", "role", "timestamp", "content", "expire_time"]


class PartsIndex(GlobalSecondaryIndex["PartItem"]):
    """Sparse: the ordered parts of a parent (a session's events by time; a scope's revisions and
    operations), with the session event attributes projected."""

    class Meta:
        index_name = "GSI4"
        projection = IncludeProjection(SESSION_EVENT_ATTRIBUTES)

    gsi4pk = UnicodeAttribute(hash_key=True, attr_name="GSI4PK")
    gsi4sk = UnicodeAttribute(range_key=True, attr_name="GSI4SK")


class PartItem(ExpiringItem):
    """An item listed under a parent in ``GSI4``: a session event, or a revision or operation under its
    scope."""

    gsi4pk = UnicodeAttribute(attr_name="GSI4PK", null=True)
    gsi4sk = UnicodeAttribute(attr_name="GSI4SK", null=True)
    by_parent = PartsIndex()

    @staticmethod
    def scope_parts(tenant_id: str, scope_key: str) -> str:
        """The ``GSI4`` partition of everything scope ``scope_key`` (its hash) owns."""
        return tenant_pk(tenant_id, "S", check_key_part(scope_key, "scope key"))

    @classmethod
    def scope_part_keys(
        cls, tenant_id: str, scope: dict[str, str] | None, *order: str
    ) -> tuple[str | None, str | None]:
        """``(gsi4pk, gsi4sk)`` listing an item under its ``scope`` (``order``: the sort key's parts);
        both None without a scope."""
        if scope is None:
            return None, None
        return cls.scope_parts(tenant_id, scope_hash(scope)), "#".join(order)


class ScopeIndex(GlobalSecondaryIndex["MemoryItem"]):
    """A scope's memories, newest first."""

    class Meta:
        index_name = "GSI1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True, attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(range_key=True, attr_name="GSI1SK")


class TenantIndex(GlobalSecondaryIndex["MemoryItem"]):
    """A tenant's memories, newest first (tenant-wide list and purge)."""

    class Meta:
        index_name = "GSI2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True, attr_name="GSI2PK")
    gsi2sk = UnicodeAttribute(range_key=True, attr_name="GSI2SK")


def as_dict(value: Any) -> dict[str, Any]:
    """A ``MapAttribute`` (or a plain mapping, or None) as a dict."""
    if value is None:
        return {}
    return value.as_dict() if isinstance(value, MapAttribute) else dict(value)


class MemoryItem(ExpiringItem):
    """A memory: listed through ``GSI1`` (its scope) and ``GSI2`` (its tenant), newest first; ``version``
    guards every write (optimistic locking); the embedding is stored with it, so the index can be rebuilt
    from the table alone."""

    SK = MEMORY_SK

    gsi1pk = UnicodeAttribute(attr_name="GSI1PK")
    gsi1sk = UnicodeAttribute(attr_name="GSI1SK")
    gsi2pk = UnicodeAttribute(attr_name="GSI2PK", null=True)
    gsi2sk = UnicodeAttribute(attr_name="GSI2SK", null=True)
    by_scope = ScopeIndex()
    by_tenant = TenantIndex()

    tenant_id = UnicodeAttribute()
    memory_id = UnicodeAttribute()
    scope = UnicodeAttribute()  # canonical JSON
    scope_hash = UnicodeAttribute()
    fact = UnicodeAttribute()
    topics = ListAttribute(of=UnicodeAttribute, default=list)
    metadata: MapAttribute[str, Any] = MapAttribute(default=dict)  # a map, so filters reach metadata.<key> in DynamoDB
    create_time = UTCDateTimeAttribute()
    update_time = UTCDateTimeAttribute()
    expire_time = UTCDateTimeAttribute(null=True)
    revision_id = UnicodeAttribute()
    operation_id = UnicodeAttribute(null=True)
    event_ids = ListAttribute(of=UnicodeAttribute, default=list)
    memory_ids = ListAttribute(of=UnicodeAttribute, null=True)  # source.memory_ids: what a compression replaced
    embedding = BinaryAttribute(legacy_encoding=False, null=True)
    embedding_model = UnicodeAttribute(default="")
    version = VersionAttribute()

    @classmethod
    def key(cls, tenant_id: str, memory_id: str) -> Key:
        """``(T#<tenant>#M#<memory_id>, M)``; the memory's revisions share the partition."""
        return tenant_pk(tenant_id, "M", check_resource_id(memory_id, "memory id")), cls.SK

    @staticmethod
    def scope_partition(tenant_id: str, scope_key: str) -> str:
        """The ``GSI1`` partition of a scope (``scope_key``: its ``scope_hash``)."""
        return tenant_pk(tenant_id, "S", check_key_part(scope_key, "scope key"))

    @staticmethod
    def tenant_partition(tenant_id: str) -> str:
        """The ``GSI2`` partition of a tenant's memories."""
        return tenant_pk(tenant_id, "MEMORIES")

    @classmethod
    def from_domain(cls, memory: StoredMemory) -> MemoryItem:
        key = scope_hash(memory.scope)
        pk, sk = cls.key(memory.tenant_id, memory.id)
        order = f"M#{time_key(memory.create_time)}#{memory.id}"
        item = cls(
            pk=pk,
            sk=sk,
            gsi1pk=cls.scope_partition(memory.tenant_id, key),
            gsi1sk=order,
            gsi2pk=cls.tenant_partition(memory.tenant_id),
            gsi2sk=order,
            **cls.expiry_keys(pk, sk, memory.expire_time),
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
            ttl=memory.expire_time + MEMORY_TTL_GRACE if memory.expire_time else None,
            revision_id=memory.revision_id,
            operation_id=memory.source.operation_id,
            event_ids=list(memory.source.event_ids),
            memory_ids=list(memory.source.memory_ids) or None,
            embedding=pack_vector(memory.embedding) if memory.embedding else None,
            embedding_model=memory.embedding_model,
        )
        if memory.version:
            item.version = memory.version
        return item

    def to_domain(self) -> StoredMemory:
        # attribute_values: by stored name, which is each memory attribute's Python name (only keys differ)
        return memory_from_attributes({**self.attribute_values, "metadata": as_dict(self.metadata)})


class RevisionItem(PartItem):
    """One revision of a memory, in the memory's partition; revision ids sort by creation time."""

    SK_PREFIX = "R#"

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
    metadata: MapAttribute[str, Any] = MapAttribute(default=dict)
    create_time = UTCDateTimeAttribute()
    expire_time = UTCDateTimeAttribute(null=True)

    @classmethod
    def key(cls, tenant_id: str, memory_id: str, revision_id: str) -> Key:
        """``(T#<tenant>#M#<memory_id>, R#<revision_id>)``."""
        return MemoryItem.key(tenant_id, memory_id)[0], cls.SK_PREFIX + check_resource_id(revision_id, "revision id")

    @classmethod
    def from_domain(cls, tenant_id: str, revision: Revision) -> RevisionItem:
        pk, sk = cls.key(tenant_id, revision.memory_id, revision.id)
        gsi4pk, gsi4sk = cls.scope_part_keys(tenant_id, revision.scope, "R", revision.memory_id, revision.id)
        return cls(
            pk=pk,
            sk=sk,
            gsi4pk=gsi4pk,
            gsi4sk=gsi4sk,
            scope=canonical_scope(revision.scope) if revision.scope else None,
            topics=list(revision.topics),
            metadata=dict(revision.metadata),
            expire_time=revision.expire_time,
            **cls.expiry_keys(pk, sk, revision.expire_time),
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
            metadata=as_dict(self.metadata),
            create_time=self.create_time,
            expire_time=self.expire_time,
        )


class OperationItem(PartItem):
    """A generation operation: status, error, usage counters (added atomically), and its result, set once
    (``consolidated``) in the transaction that writes the result's memories. Listed under its scope in
    ``GSI4``; it expires at ``expire_time`` (the tenant's ``operation_ttl_seconds``), and the retention job
    then deletes its whole partition (the operation with its stored documents)."""

    SK = "O"

    tenant_id = UnicodeAttribute()
    operation_id = UnicodeAttribute()
    scope = UnicodeAttribute()
    status = UnicodeAttribute()
    create_time = UTCDateTimeAttribute()
    update_time = UTCDateTimeAttribute()
    expire_time = UTCDateTimeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    result = JSONAttribute(null=True)
    consolidated = BooleanAttribute(null=True)
    index_pending = BooleanAttribute(null=True)  # SUCCEEDED before the index showed every change
    llm_calls = NumberAttribute(default=0)
    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    embedding_calls = NumberAttribute(default=0)

    @classmethod
    def key(cls, tenant_id: str, operation_id: str) -> Key:
        """``(T#<tenant>#O#<operation_id>, O)``; the operation's documents share the partition."""
        return tenant_pk(tenant_id, "O", check_resource_id(operation_id, "operation id")), cls.SK

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
            index_pending=bool(self.index_pending),
        )


class BlobItem(TableItem):
    """A compressed JSON document stored with an operation, under its name."""

    body = BinaryAttribute(legacy_encoding=False)

    @staticmethod
    def key(tenant_id: str, operation_id: str, name: str) -> Key:
        """``(T#<tenant>#O#<operation_id>, <name>)``."""
        return OperationItem.key(tenant_id, operation_id)[0], check_key_part(name, "document name")


class SessionEventItem(PartItem):
    """One session event (the conditional put on its key makes re-sends idempotent); listed in ``GSI4``
    by ``timestamp`` then ``seq`` (arrival), the order it is read in."""

    SK_PREFIX = "E#"

    event_id = UnicodeAttribute()
    seq = UnicodeAttribute()
    role = UnicodeAttribute()
    timestamp = UTCDateTimeAttribute()
    content = JSONAttribute()
    expire_time = UTCDateTimeAttribute(null=True)

    @staticmethod
    def partition(tenant_id: str, session_id: str) -> str:
        """``T#<tenant>#SES#<session_id>``: every event of the session."""
        return tenant_pk(tenant_id, "SES", check_client_id(session_id, "session id"))

    @classmethod
    def key(cls, tenant_id: str, session_id: str, event_id: str) -> Key:
        """``(T#<tenant>#SES#<session_id>, E#<event_id>)``."""
        return cls.partition(tenant_id, session_id), cls.SK_PREFIX + check_client_id(event_id, "event id")

    @classmethod
    def order(cls, timestamp: datetime, seq: str) -> str:
        """The event's ``GSI4`` sort key: ``E#<timestamp>#<seq>`` (time order, then arrival)."""
        return f"{cls.SK_PREFIX}{time_key(timestamp)}#{seq}"

    @classmethod
    def time_bound(cls, timestamp: datetime) -> str:
        """A ``GSI4`` sort key value just below every event at ``timestamp`` (and above every earlier one)."""
        return f"{cls.SK_PREFIX}{time_key(timestamp)}"


class LeaseItem(TableItem):
    """A scope's consolidation lease (``scope_key``: the scope's hash)."""

    SK = "LEASE"

    holder = UnicodeAttribute()
    expires_at = NumberAttribute()  # epoch milliseconds

    @classmethod
    def key(cls, tenant_id: str, scope_key: str) -> Key:
        """``(T#<tenant>#S#<scope_hash>, LEASE)``."""
        return MemoryItem.scope_partition(tenant_id, scope_key), cls.SK


class ReceiptItem(TableItem):
    """A forget receipt (``SK`` ``R#<receipt_id>``), or the marker of a forget in progress (``SK``
    ``P#<request hash>``, naming the receipt it fills), in the tenant's forget partition. Never expires.
    Holds no content: the scope's hash, counts and times."""

    RECEIPT_PREFIX = "R#"
    PENDING_PREFIX = "P#"

    COUNTS = (
        "memories",
        "revisions",
        "operations",
        "blobs",
        "session_events",
        "index_documents",
        "idempotency_records",
    )

    receipt_id = UnicodeAttribute()
    scope_hash = UnicodeAttribute(null=True)
    requested_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    memories = NumberAttribute(default=0)
    revisions = NumberAttribute(default=0)
    operations = NumberAttribute(default=0)
    blobs = NumberAttribute(default=0)
    session_events = NumberAttribute(default=0)
    index_documents = NumberAttribute(default=0)
    idempotency_records = NumberAttribute(default=0)

    @staticmethod
    def partition(tenant_id: str) -> str:
        """``T#<tenant>#FORGET``: the tenant's receipts and forgets in progress."""
        return tenant_pk(tenant_id, "FORGET")

    @classmethod
    def key(cls, tenant_id: str, receipt_id: str) -> Key:
        """``(T#<tenant>#FORGET, R#<receipt_id>)``."""
        return cls.partition(tenant_id), cls.RECEIPT_PREFIX + check_resource_id(receipt_id, "receipt id")

    @classmethod
    def pending_key(cls, tenant_id: str, request_hash: str) -> Key:
        """``(T#<tenant>#FORGET, P#<request hash>)``: the forget of one scope and session list in progress."""
        return cls.partition(tenant_id), cls.PENDING_PREFIX + check_key_part(request_hash, "request hash")


class ConfigItem(TableItem):
    """A tenant's configuration document."""

    SK = "CONFIG"

    body = JSONAttribute()
    update_time = UTCDateTimeAttribute()

    @classmethod
    def key(cls, tenant_id: str) -> Key:
        """``(T#<tenant>, CONFIG)``."""
        return tenant_pk(tenant_id), cls.SK


class ApiKeyItem(TableItem):
    """An API key, by the SHA-256 of the key: the tenant it authenticates as, and whether it is revoked."""

    SK = "K"

    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    create_time = UTCDateTimeAttribute()
    revoked = BooleanAttribute(default=False)

    @classmethod
    def key(cls, key_hash: str) -> Key:
        """``(K#<key_hash>, K)``: the only key without a tenant (the tenant is what it resolves to)."""
        return f"K#{check_key_part(key_hash, 'API key hash')}", cls.SK


class IdempotencyItem(TableItem):
    """An ``Idempotency-Key`` record, written by Powertools idempotency (``idempotency.IdempotencyRecords``);
    described here for its key and attribute names. ``ttl`` is Powertools' expiry (24 h).

    A record whose stored response or request holds something of a scope has a scope tag next to it
    (``SK`` ``S#<scope_hash>#<request hash>``, no other attribute than ``ttl``), written before the response
    is stored: a forget of the scope lists the tags and deletes each with its record."""

    SK_PREFIX = "I#"
    TAG_PREFIX = "S#"

    status = UnicodeAttribute(null=True)
    data = UnicodeAttribute(null=True)
    validation = UnicodeAttribute(null=True)
    in_progress_expiration = NumberAttribute(null=True)  # epoch milliseconds

    @classmethod
    def key(cls, tenant_id: str, request_hash: str) -> Key:
        """The record of a request whose ``(tenant, route, key)`` hash is ``request_hash`` (empty: only the
        partition is wanted, as ``IdempotencyRecords`` asks)."""
        suffix = check_key_part(request_hash, "request hash") if request_hash else ""
        return tenant_pk(tenant_id, "IDEMPOTENCY"), cls.SK_PREFIX + suffix

    @classmethod
    def tag_key(cls, tenant_id: str, scope_key: str, request_hash: str) -> Key:
        """``(T#<tenant>#IDEMPOTENCY, S#<scope_hash>#<request hash>)``: the record of ``request_hash`` holds
        something of the scope whose hash is ``scope_key``."""
        pk = tenant_pk(tenant_id, "IDEMPOTENCY")
        return pk, cls.tag_prefix(scope_key) + check_key_part(request_hash, "request hash")

    @classmethod
    def tag_prefix(cls, scope_key: str) -> str:
        """The sort key prefix of the tags of one scope: ``S#<scope_hash>#``."""
        return f"{cls.TAG_PREFIX}{check_key_part(scope_key, 'scope key')}#"

    @classmethod
    def record_of_tag(cls, tag_sort_key: str) -> str:
        """The sort key of the record a tag names (``S#<scope_hash>#<hash>`` → ``I#<hash>``)."""
        return cls.SK_PREFIX + check_key_part(tag_sort_key.rpartition("#")[2], "request hash")


class StatsItem(TableItem):
    """Usage analytics counters of a scope (``scope_key``: its hash) or of the whole tenant (``ALL``), in
    ``STATS_SHARDS`` shards each (a write adds to one shard; a read sums them): ``TOTAL#<shard>`` holds the
    memories stored (``n``) and per topic (``t:<topic>``); ``D#<yyyy-mm-dd>#<shard>`` a UTC day's
    ``created``/``updated``/``deleted`` memories, ``operations`` and their usage (``llm_calls``,
    ``input_tokens``, ``output_tokens``, ``embedding_calls``), and ``ttl``. Numbers only, updated with ADD
    (``engram.adapters.dynamodb.counters``)."""

    ALL = "ALL"
    TOTAL = "TOTAL"
    DAY_PREFIX = "D#"

    @classmethod
    def partition(cls, tenant_id: str, scope_key: str | None) -> str:
        """``T#<tenant>#STATS#<scope_hash>``, or ``...#STATS#ALL`` for the tenant (``scope_key`` None)."""
        return tenant_pk(tenant_id, "STATS", check_key_part(scope_key, "scope key") if scope_key else cls.ALL)

    @classmethod
    def total_key(cls, tenant_id: str, scope_key: str | None, shard: int) -> Key:
        return cls.partition(tenant_id, scope_key), f"{cls.TOTAL}#{shard}"

    @classmethod
    def day_key(cls, tenant_id: str, scope_key: str | None, day: str, shard: int) -> Key:
        """``day``: ``yyyy-mm-dd`` (UTC)."""
        return cls.partition(tenant_id, scope_key), f"{cls.DAY_PREFIX}{day}#{shard}"


ITEM_CLASSES: tuple[type[TableItem], ...] = (
    TableItem,
    ExpiringItem,
    PartItem,
    MemoryItem,
    RevisionItem,
    OperationItem,
    BlobItem,
    SessionEventItem,
    LeaseItem,
    ConfigItem,
    ApiKeyItem,
    IdempotencyItem,
    ReceiptItem,
    StatsItem,
)
