"""In-memory repositories, one per port of the table (``engram.ports``), behaving as the DynamoDB adapter
does; ``tests/integration/store`` runs the same contract against both.

``FakeStores`` bundles them with the attribute names of ``engram.wiring.Dependencies``. Cross-aggregate
rules are kept as in the table: ``memories.apply_changes(..., operation_id=...)`` records the result on
``operations``; ``retention`` finds and deletes expired memories, revisions and session events. Memory
writes and deletions reach ``memories.listeners`` as ``(new image, old image)`` batches, as the DynamoDB
stream would. Every read returns a copy.
"""

from __future__ import annotations

import base64
import copy
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engram.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, StoreConflict
from engram.models.filters import Node, matches
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import (
    Operation,
    OperationDocument,
    OperationError,
    OperationResult,
    OperationStatus,
    Usage,
)
from engram.models.scope import scope_hash
from engram.models.session import SessionEvent
from engram.ports import ApiKeyRecord, Change, ExpiredItem

MAX_CHANGES = 49  # per apply_changes, as one DynamoDB transaction
MAX_REQUEST_BYTES = 350_000  # compressed, as the adapter stores it

StreamRecord = tuple[StoredMemory | None, StoredMemory | None]  # (new image, old image)


def _roundtrip(document: Any) -> Any:
    """What a store gives back: a JSON copy (values JSON lacks become strings), never the caller's object."""
    return json.loads(json.dumps(document, default=str))


@dataclass
class _OperationRecord:
    operation: Operation
    scope: dict[str, str]
    consolidated: bool = False


class FakeOperations:
    """``OperationRepository`` on dicts."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], _OperationRecord] = {}
        self.blobs: dict[tuple[str, str, str], Any] = {}

    def create(self, tenant_id: str, operation: Operation, scope: dict[str, str], request: dict[str, Any]) -> None:
        size = len(zlib.compress(json.dumps(request, separators=(",", ":"), default=str).encode(), 6))
        if size > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(f"the conversation is too large to store ({size} bytes compressed)")
        if (tenant_id, operation.id) in self.records:
            raise Conflict(f"operation {operation.id} already exists")
        self.records[(tenant_id, operation.id)] = _OperationRecord(operation.model_copy(deep=True), dict(scope))
        self.blobs[(tenant_id, operation.id, OperationDocument.REQUEST)] = _roundtrip(request)

    def get(self, tenant_id: str, operation_id: str) -> Operation | None:
        record = self.records.get((tenant_id, operation_id))
        return record.operation.model_copy(deep=True) if record is not None else None

    def scope_of(self, tenant_id: str, operation_id: str) -> dict[str, str]:
        return dict(self._record(tenant_id, operation_id).scope)

    def get_blob(self, tenant_id: str, operation_id: str, name: str) -> Any | None:
        return copy.deepcopy(self.blobs.get((tenant_id, operation_id, name)))

    def put_blob(self, tenant_id: str, operation_id: str, name: str, document: Any) -> None:
        self.blobs[(tenant_id, operation_id, name)] = _roundtrip(document)

    def add_usage(self, tenant_id: str, operation_id: str, usage: Usage, now: datetime) -> None:
        if usage == Usage():
            return
        record = self._record(tenant_id, operation_id)
        record.operation = record.operation.model_copy(
            update={"usage": record.operation.usage + usage, "update_time": now}
        )

    def finish(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
    ) -> bool:
        record = self.records.get((tenant_id, operation_id))
        if record is None or record.operation.status is not OperationStatus.RUNNING:
            return False
        update: dict[str, Any] = {"status": status, "update_time": now}
        if error is not None:
            update["error"] = error
        record.operation = record.operation.model_copy(update=update)
        return True

    def _record(self, tenant_id: str, operation_id: str) -> _OperationRecord:
        record = self.records.get((tenant_id, operation_id))
        if record is None:
            raise NotFound(f"operation {operation_id} not found")
        return record

    def record_result(self, tenant_id: str, operation_id: str, result: OperationResult) -> None:
        """What ``FakeMemories.apply_changes`` writes with ``operation_id`` (after ``check_result``)."""
        record = self.records[(tenant_id, operation_id)]
        record.consolidated = True
        record.operation = record.operation.model_copy(update={"result": result.model_copy(deep=True)})

    def check_result(self, tenant_id: str, operation_id: str) -> None:
        """The guard on recording a result: the operation exists and has none yet."""
        record = self.records.get((tenant_id, operation_id))
        if record is None or record.consolidated:
            raise StoreConflict(f"operation {operation_id} is missing or already has a result")


class FakeMemories:
    """``MemoryRepository`` on dicts, with the adapter's guards (see the port). ``transactions`` holds every
    successful ``apply_changes`` in order; ``memory_writes`` counts memory items written."""

    def __init__(self, operations: FakeOperations) -> None:
        self.operations = operations
        self.items: dict[tuple[str, str], StoredMemory] = {}
        self.history: dict[tuple[str, str], dict[str, Revision]] = {}
        self.listeners: list[Callable[[list[StreamRecord]], None]] = []
        self.transactions: list[list[Change]] = []
        self.memory_writes = 0

    def get(self, tenant_id: str, memory_id: str) -> StoredMemory | None:
        memory = self.items.get((tenant_id, memory_id))
        return memory.model_copy(deep=True) if memory is not None else None

    def get_many(self, tenant_id: str, memory_ids: Iterable[str]) -> dict[str, StoredMemory]:
        found = {memory_id: self.get(tenant_id, memory_id) for memory_id in dict.fromkeys(memory_ids)}
        return {memory_id: memory for memory_id, memory in found.items() if memory is not None}

    def page(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        page_token: str | None,
        filter: Node | None = None,
    ) -> tuple[list[StoredMemory], str | None]:
        """The filter is applied before paging (so pages are full). The token is base64 of the last key."""
        after = _decode_token(page_token)
        wanted = scope_hash(scope) if scope is not None else None
        items = sorted(
            (
                m
                for (t, _), m in self.items.items()
                if t == tenant_id
                and (wanted is None or scope_hash(m.scope) == wanted)
                and matches(filter, m.metadata, m.create_time, m.update_time)
                and (after is None or _order(m) < after)
            ),
            key=_order,
            reverse=True,
        )
        page = items[:page_size]
        token = None
        if len(items) > page_size:
            token = base64.urlsafe_b64encode(json.dumps(list(_order(page[-1]))).encode()).decode()
        return [m.model_copy(deep=True) for m in page], token

    def matching(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,
    ) -> Iterator[StoredMemory]:
        token: str | None = None
        while True:
            items, token = self.page(tenant_id, scope, 100, token, filter)
            yield from items
            if token is None:
                return

    def scan(self, tenant_id: str | None = None) -> Iterator[StoredMemory]:
        for (t, _), memory in list(self.items.items()):
            if tenant_id is None or t == tenant_id:
                yield memory.model_copy(deep=True)

    def apply_changes(
        self,
        tenant_id: str,
        changes: Sequence[Change],
        operation_id: str | None = None,
        result: OperationResult | None = None,
    ) -> None:
        if len(changes) > MAX_CHANGES:
            raise InvalidInput(f"{len(changes)} changes in one transaction; at most {MAX_CHANGES}")
        self._check(tenant_id, changes)  # every guard first: a failed one writes nothing
        if operation_id is not None:
            self.operations.check_result(tenant_id, operation_id)
        stream = [self._write(tenant_id, change) for change in changes]
        if operation_id is not None:
            self.operations.record_result(tenant_id, operation_id, result or OperationResult())
        self.transactions.append(list(changes))
        self.publish(stream)

    def _check(self, tenant_id: str, changes: Sequence[Change]) -> None:
        touched: set[str] = set()
        for change in changes:
            memory_id = _memory_id(change)
            if memory_id in touched:
                raise ValueError(f"two changes to memory {memory_id} in one transaction (DynamoDB rejects this)")
            touched.add(memory_id)
            stored = self.items.get((tenant_id, memory_id))
            if change.action is Action.CREATED:
                if change.after is None or change.before is not None:
                    raise ValueError("CREATED needs after and no before")
                if stored is not None:
                    raise StoreConflict(f"memory {memory_id} already exists")
            else:
                if change.before is None or (change.action is Action.UPDATED) == (change.after is None):
                    raise ValueError(f"{change.action} needs before (and after only for UPDATED)")
                if change.after is not None and change.after.id != change.before.id:
                    raise ValueError("UPDATED must keep the memory id")
                if stored is None or stored.version != change.before.version:
                    raise StoreConflict(f"memory {memory_id} changed since it was read")
            if change.revision.id in self.history.get((tenant_id, change.revision.memory_id), {}):
                raise StoreConflict(f"revision {change.revision.id} already exists")

    def _write(self, tenant_id: str, change: Change) -> StreamRecord:
        memory_id = _memory_id(change)
        old = self.items.get((tenant_id, memory_id))
        new = None
        if change.action is Action.DELETED:
            del self.items[(tenant_id, memory_id)]
        else:
            assert change.after is not None
            version = 1 if old is None else old.version + 1
            new = change.after.model_copy(update={"version": version}, deep=True)
            self.items[(tenant_id, memory_id)] = new
        self.memory_writes += 1
        revisions = self.history.setdefault((tenant_id, memory_id), {})
        revisions[change.revision.id] = change.revision.model_copy(deep=True)
        return new, old

    def apply_in_blocks(self, tenant_id: str, changes: Sequence[Change]) -> None:
        for start in range(0, len(changes), MAX_CHANGES):
            self.apply_changes(tenant_id, changes[start : start + MAX_CHANGES])

    def revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        revisions = self.history.get((tenant_id, memory_id), {})
        return [revisions[k].model_copy(deep=True) for k in sorted(revisions, reverse=True)]

    def publish(self, records: list[StreamRecord]) -> None:
        """Send a batch of stream records to every listener."""
        if records:
            for listener in self.listeners:
                listener(records)


def _memory_id(change: Change) -> str:
    memory = change.after or change.before
    assert memory is not None, "a change needs the memory after or before it"
    return memory.id


def _order(memory: StoredMemory) -> tuple[str, str]:
    """Newest-first order: create time, then id (descending)."""
    return (memory.create_time.isoformat(), memory.id)


def _decode_token(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as error:
        raise InvalidInput("page_token is not valid") from error
    if not (isinstance(after, list) and len(after) == 2):
        raise InvalidInput("page_token is not valid")
    return after[0], after[1]


class FakeSessions:
    """``SessionRepository`` on dicts; arrival order is a counter."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, tuple[int, SessionEvent]]] = {}
        self._sequence = 0

    def append(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        session = self.items.setdefault((tenant_id, session_id), {})
        added = []
        for event in events:
            if event.event_id in session:
                added.append(False)
                continue
            self._sequence += 1
            session[event.event_id] = (self._sequence, event.model_copy(deep=True))
            added.append(True)
        return added

    def events(self, tenant_id: str, session_id: str) -> list[SessionEvent]:
        session = self.items.get((tenant_id, session_id), {})
        ordered = sorted(session.values(), key=lambda item: (item[1].timestamp, item[0]))
        return [event.model_copy(deep=True) for _, event in ordered]

    def delete(self, tenant_id: str, session_id: str) -> int:
        return len(self.items.pop((tenant_id, session_id), {}))


class FakeApiKeys:
    """``ApiKeyRepository`` on a dict of ``{key_hash: {tenant_id, name, create_time, revoked}}``."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put(self, key_hash: str, tenant_id: str, name: str, now: datetime) -> None:
        if key_hash in self.items:
            raise Conflict("this API key already exists")
        self.items[key_hash] = {"tenant_id": tenant_id, "name": name, "create_time": now, "revoked": False}

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        item = self.items.get(key_hash)
        return ApiKeyRecord(item["tenant_id"], item["revoked"]) if item is not None else None

    def revoke(self, key_hash: str) -> bool:
        if key_hash not in self.items:
            return False
        self.items[key_hash]["revoked"] = True
        return True


class FakeLeases:
    """``LeaseRepository`` on a dict of ``{(tenant, scope_key): (holder, expires)}``, compared in whole
    milliseconds as the adapter does."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[str, int]] = {}

    def acquire(self, tenant_id: str, scope_key: str, holder: str, now: datetime, seconds: float) -> bool:
        now_ms = int(now.timestamp() * 1000)
        current = self.items.get((tenant_id, scope_key))
        if current is not None and current[0] != holder and current[1] >= now_ms:
            return False
        self.items[(tenant_id, scope_key)] = (holder, now_ms + int(seconds * 1000))
        return True

    def release(self, tenant_id: str, scope_key: str, holder: str) -> None:
        current = self.items.get((tenant_id, scope_key))
        if current is not None and current[0] == holder:
            del self.items[(tenant_id, scope_key)]


class FakeConfigs:
    """``ConfigRepository`` on a dict."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get(self, tenant_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.items.get(tenant_id))

    def put(self, tenant_id: str, config: dict[str, Any], now: datetime) -> None:
        self.items[tenant_id] = _roundtrip(config)


class FakeRetention:
    """``RetentionRepository`` over the fake memories (with their revisions) and sessions; oldest expiry
    first. A key is ``(kind, tenant_id, owner id, item id)``."""

    def __init__(self, memories: FakeMemories, sessions: FakeSessions) -> None:
        self.memories = memories
        self.sessions = sessions

    def expired(self, now: datetime, limit: int) -> list[ExpiredItem]:
        found: list[tuple[datetime, ExpiredItem]] = []
        for (tenant_id, memory_id), memory in self.memories.items.items():
            if memory.expire_time is not None and memory.expire_time < now:
                found.append((memory.expire_time, ExpiredItem("memory", ("memory", tenant_id, memory_id, ""))))
        for (tenant_id, memory_id), revisions in self.memories.history.items():
            for revision in revisions.values():
                if revision.expire_time is not None and revision.expire_time < now:
                    key = ("revision", tenant_id, memory_id, revision.id)
                    found.append((revision.expire_time, ExpiredItem("revision", key)))
        for (tenant_id, session_id), events in self.sessions.items.items():
            for _, event in events.values():
                if event.expire_time is not None and event.expire_time < now:
                    key = ("session_event", tenant_id, session_id, event.event_id)
                    found.append((event.expire_time, ExpiredItem("session_event", key)))
        found.sort(key=lambda pair: pair[0])
        return [item for _, item in found[:limit]]

    def delete(self, items: Sequence[ExpiredItem]) -> None:
        """Deleted memories reach the stream as removals."""
        stream: list[StreamRecord] = []
        for item in items:
            if not isinstance(item.key, tuple) or len(item.key) != 4:
                raise ValueError(f"{item!r} was not found by this repository")
            kind, tenant_id, owner, item_id = item.key
            if kind == "memory":
                old = self.memories.items.pop((tenant_id, owner), None)
                if old is not None:
                    stream.append((None, old))
            elif kind == "revision":
                self.memories.history.get((tenant_id, owner), {}).pop(item_id, None)
            elif kind == "session_event":
                self.sessions.items.get((tenant_id, owner), {}).pop(item_id, None)
        self.memories.publish(stream)


@dataclass
class FakeStores:
    """Every fake repository, named as the members of ``engram.wiring.Dependencies``."""

    operations: FakeOperations = field(default_factory=FakeOperations)
    sessions: FakeSessions = field(default_factory=FakeSessions)
    api_keys: FakeApiKeys = field(default_factory=FakeApiKeys)
    leases: FakeLeases = field(default_factory=FakeLeases)
    configs: FakeConfigs = field(default_factory=FakeConfigs)
    memories: FakeMemories = field(init=False)
    retention: FakeRetention = field(init=False)

    def __post_init__(self) -> None:
        self.memories = FakeMemories(self.operations)
        self.retention = FakeRetention(self.memories, self.sessions)
