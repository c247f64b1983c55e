"""In-memory repositories, one per port of the table (``engram.ports``), behaving as the DynamoDB adapter
does; ``tests/integration/store`` runs the same contract against both.

``FakeStores`` bundles them with the attribute names of ``engram.wiring.Dependencies``. Cross-aggregate
rules are kept as in the table: ``memories.apply_changes(..., operation_id=...)`` records the result on
``operations``; ``retention`` finds and deletes expired memories, revisions and session events. Memory
writes and deletions reach ``memories.listeners`` as ``(new image, old image)`` batches, as the DynamoDB
stream would. Every read returns a copy.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engram.adapters.dynamodb.memories import check_create_sizes, check_transaction_size, transaction_blocks
from engram.adapters.page_tokens import Listing, PageTokens, digest
from engram.clock import new_id
from engram.errors import Conflict, InvalidPageToken, NotFound, PayloadTooLarge, StoreConflict
from engram.models.filters import Node, matches
from engram.models.forget import ForgetCounts, ForgetReceipt
from engram.models.limits import wire_size
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
from engram.ports import FORGET_BATCH, ApiKeyRecord, Change, EventWindow, ExpiredItem, OwnedItem

from tests.fakes.stats import FakeStats

MAX_CHANGES = 46  # per apply_changes, as one DynamoDB transaction (with the usage counters)
FAKE_PAGE_TOKEN_KEY = b"the fake store's page-token key"
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
    expire_time: datetime | None = None


class FakeOperations:
    """``OperationRepository`` on dicts."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], _OperationRecord] = {}
        self.blobs: dict[tuple[str, str, str], Any] = {}
        self.usage_log: list[tuple[str, str, Usage, datetime]] = []  # what the stats counters count

    def create(
        self,
        tenant_id: str,
        operation: Operation,
        scope: dict[str, str],
        request: dict[str, Any],
        expire_time: datetime | None = None,
    ) -> None:
        size = len(zlib.compress(json.dumps(request, separators=(",", ":"), default=str).encode(), 6))
        if size > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(f"the conversation is too large to store ({size} bytes compressed)")
        if (tenant_id, operation.id) in self.records:
            raise Conflict(f"operation {operation.id} already exists")
        self.records[(tenant_id, operation.id)] = _OperationRecord(
            operation.model_copy(deep=True), dict(scope), expire_time=expire_time
        )
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
        self.usage_log.append((tenant_id, operation_id, usage, now))

    def finish(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
        index_pending: bool = False,
    ) -> bool:
        record = self.records.get((tenant_id, operation_id))
        if record is None or record.operation.status is not OperationStatus.RUNNING:
            return False
        update: dict[str, Any] = {"status": status, "update_time": now}
        if error is not None:
            update["error"] = error
        if index_pending:
            update["index_pending"] = True
        record.operation = record.operation.model_copy(update=update)
        return True

    def remove(self, tenant_id: str, operation_id: str) -> None:
        """Delete the operation with its documents (what retention does to an expired one)."""
        self.records.pop((tenant_id, operation_id), None)
        for key in [k for k in self.blobs if k[:2] == (tenant_id, operation_id)]:
            del self.blobs[key]

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
    successful ``apply_changes`` in order; ``removals`` the deletions of retention and forget, as deletion
    changes (what the counters count); ``memory_writes`` counts memory items written."""

    def __init__(self, operations: FakeOperations, tokens: PageTokens | None = None) -> None:
        self.operations = operations
        self.tokens = tokens or PageTokens(lambda: FAKE_PAGE_TOKEN_KEY)
        self.items: dict[tuple[str, str], StoredMemory] = {}
        self.history: dict[tuple[str, str], dict[str, Revision]] = {}
        self.listeners: list[Callable[[list[StreamRecord]], None]] = []
        self.transactions: list[list[Change]] = []
        self.removals: list[list[Change]] = []
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
        """The filter is applied before paging (so pages are full). The token is signed and bound as the
        adapter's (``engram.adapters.page_tokens``; the fake's own key) and holds the last key."""
        wanted = scope_hash(scope) if scope is not None else None
        listing = Listing("memories", tenant_id, f"{wanted or '*'}:{digest(filter)}")
        after = _position(self.tokens.open(listing, page_token))
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
            token = self.tokens.seal(listing, list(_order(page[-1])))
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

    def count(self, tenant_id: str, scope: dict[str, str] | None, filter: Node | None, now: datetime) -> int:
        return sum(
            1
            for memory in self.matching(tenant_id, scope, filter)
            if memory.expire_time is None or memory.expire_time > now
        )

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
        check_transaction_size(changes, operation_id is not None)  # the adapter's limits (with the counters)
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
        for block in transaction_blocks(changes):
            self.apply_changes(tenant_id, block)

    def create_all(self, tenant_id: str, changes: Sequence[Change]) -> None:
        """The adapter's size checks (``check_create_sizes``), then every memory and revision at once."""
        check_create_sizes(tenant_id, changes)
        for change in changes:
            if (tenant_id, _memory_id(change)) in self.items:
                raise StoreConflict(f"memory {_memory_id(change)} already exists")
        stream = [self._write(tenant_id, change) for change in changes]
        self.transactions.append(list(changes))
        self.publish(stream)

    def put_revisions(self, tenant_id: str, revisions: Sequence[Revision]) -> None:
        for revision in revisions:
            self.history.setdefault((tenant_id, revision.memory_id), {}).setdefault(
                revision.id, revision.model_copy(deep=True)
            )

    def revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        revisions = self.history.get((tenant_id, memory_id), {})
        return [revisions[k].model_copy(deep=True) for k in sorted(revisions, reverse=True)]

    def revision_page(
        self,
        tenant_id: str,
        memory_id: str,
        page_size: int,
        page_token: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[Revision], str | None]:
        """The token holds the page's last revision id."""
        listing = Listing("revisions", tenant_id, memory_id)
        position = self.tokens.open(listing, page_token)
        if position is not None and len(position) != 1:
            raise InvalidPageToken("page_token is not valid")
        after = position[0] if position else None
        page: list[Revision] = []
        size = 0
        for revision in self.revisions(tenant_id, memory_id):
            if after is not None and revision.id >= after:
                continue
            cost = wire_size(revision.model_dump(mode="json"))
            if page and (len(page) >= page_size or (max_bytes is not None and size + cost > max_bytes)):
                return page, self.tokens.seal(listing, [page[-1].id])
            page.append(revision)
            size += cost
        return page, None

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


def _position(position: list[str] | None) -> tuple[str, str] | None:
    if position is None:
        return None
    if len(position) != 2:
        raise InvalidPageToken("page_token is not valid")
    return position[0], position[1]


class FakeSessions:
    """``SessionRepository`` on dicts; arrival order is a counter. Page tokens are signed and bound as the
    adapter's (``engram.adapters.page_tokens``; the fake's own key)."""

    def __init__(self, tokens: PageTokens | None = None) -> None:
        self.tokens = tokens or PageTokens(lambda: FAKE_PAGE_TOKEN_KEY)
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

    def page(
        self,
        tenant_id: str,
        session_id: str,
        window: EventWindow,
        page_size: int,
        page_token: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[SessionEvent], str | None]:
        """The token holds the last event's ``[timestamp, arrival]``."""
        listing = Listing(
            "session-events", tenant_id, f"{session_id}:{digest((window.role, window.start_time, window.end_time))}"
        )
        session = self.items.get((tenant_id, session_id), {})
        kept = sorted(
            ((event.timestamp.isoformat(), sequence), event)
            for sequence, event in session.values()
            if _in_window(event, window)
        )
        if page_token:
            opened = self.tokens.open(listing, page_token) or ["", "0"]
            after = (opened[0], int(opened[1]))
            kept = [(position, event) for position, event in kept if position > after]
        elif window.last is not None:
            kept = kept[len(kept) - window.last :] if window.last else []
        events: list[SessionEvent] = []
        size, last = 0, ("", 0)
        for position, event in kept:
            cost = wire_size(event.model_dump(mode="json"))
            if len(events) >= page_size or (max_bytes is not None and events and size + cost > max_bytes):
                return events, self.tokens.seal(listing, [last[0], str(last[1])])
            events.append(event.model_copy(deep=True))
            size, last = size + cost, position
        return events, None

    def truncate(self, tenant_id: str, session_id: str, keep_last: int, now: datetime) -> tuple[int, int]:
        events = self.events(tenant_id, session_id)
        live = [e.event_id for e in events if e.expire_time is None or e.expire_time > now]
        kept = set(live[len(live) - keep_last :] if keep_last else [])
        session = self.items.get((tenant_id, session_id), {})
        doomed = [e.event_id for e in events if e.event_id not in kept]
        for event_id in doomed:
            del session[event_id]
        if not session:
            self.items.pop((tenant_id, session_id), None)
        return len(kept), len(doomed)


def _in_window(event: SessionEvent, window: EventWindow) -> bool:
    return (
        (window.role is None or event.content.role == window.role)
        and (window.start_time is None or event.timestamp >= window.start_time)
        and (window.end_time is None or event.timestamp < window.end_time)
        and (window.now is None or event.expire_time is None or event.expire_time > window.now)
    )


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
        for (tenant_id, operation_id), record in self.memories.operations.records.items():
            if record.expire_time is not None and record.expire_time < now:
                key = ("operation", tenant_id, operation_id, "")
                found.append((record.expire_time, ExpiredItem("operation", key)))
        found.sort(key=lambda pair: pair[0])
        return [item for _, item in found[:limit]]

    def delete(self, items: Sequence[ExpiredItem], now: datetime | None = None) -> None:
        """Deleted memories reach the stream as removals, and the counters (``FakeMemories.removals``)."""
        stream: list[StreamRecord] = []
        for item in items:
            if not isinstance(item.key, tuple) or len(item.key) != 4:
                raise ValueError(f"{item!r} was not found by this repository")
            kind, tenant_id, owner, item_id = item.key
            if kind == "memory":
                old = self.memories.items.pop((tenant_id, owner), None)
                if old is not None:
                    stream.append((None, old))
                    self.memories.removals.append([removal(old, now or datetime.now(UTC))])
            elif kind == "revision":
                self.memories.history.get((tenant_id, owner), {}).pop(item_id, None)
            elif kind == "session_event":
                self.sessions.items.get((tenant_id, owner), {}).pop(item_id, None)
            elif kind == "operation":
                self.memories.operations.remove(tenant_id, owner)
        self.memories.publish(stream)


def removal(memory: StoredMemory, now: datetime) -> Change:
    """A deletion by retention or forget at ``now``, as the usage counters see it."""
    revision = Revision(id=new_id(), memory_id=memory.id, action=Action.DELETED, fact=memory.fact, create_time=now)
    return Change(Action.DELETED, None, memory, revision)


class FakeForget:
    """``ForgetRepository`` over the other fakes; receipts and in-progress markers in dicts. A key is
    ``(kind, tenant_id, owner id, item id)`` (owner: operation, memory or session)."""

    def __init__(self, memories: FakeMemories, sessions: FakeSessions) -> None:
        self.memories = memories
        self.operations = memories.operations
        self.sessions = sessions
        self.receipts: dict[tuple[str, str], ForgetReceipt] = {}
        self.pending: dict[tuple[str, str], str] = {}

    def begin(
        self, tenant_id: str, request_hash: str, scope_hash: str, receipt_id: str, now: datetime
    ) -> ForgetReceipt:
        found = self.pending.get((tenant_id, request_hash))
        if found is None:
            found = receipt_id
            self.receipts[(tenant_id, receipt_id)] = ForgetReceipt(
                receipt_id=receipt_id, scope_hash=scope_hash, requested_at=now
            )
            self.pending[(tenant_id, request_hash)] = receipt_id
        return self.receipts[(tenant_id, found)].model_copy(deep=True)

    def receipt(self, tenant_id: str, receipt_id: str) -> ForgetReceipt | None:
        found = self.receipts.get((tenant_id, receipt_id))
        return found.model_copy(deep=True) if found is not None else None

    def finish(self, tenant_id: str, receipt_id: str, request_hash: str, now: datetime) -> ForgetReceipt:
        found = self.receipts.get((tenant_id, receipt_id))
        if found is None:
            raise NotFound(f"forget receipt {receipt_id} not found")
        self.receipts[(tenant_id, receipt_id)] = found.model_copy(update={"completed_at": now})
        self.pending.pop((tenant_id, request_hash), None)
        return self.receipts[(tenant_id, receipt_id)].model_copy(deep=True)

    def owned(self, tenant_id: str, scope: dict[str, str], session_ids: Sequence[str], limit: int) -> list[OwnedItem]:
        wanted = scope_hash(scope)
        found: list[OwnedItem] = []
        for (tenant, operation_id), record in self.operations.records.items():
            if tenant == tenant_id and scope_hash(record.scope) == wanted:
                for t, o, name in self.operations.blobs:
                    if (t, o) == (tenant_id, operation_id):
                        found.append(OwnedItem("blob", ("blob", tenant_id, operation_id, name)))
                found.append(OwnedItem("operation", ("operation", tenant_id, operation_id, "")))
        for (tenant, memory_id), memory in self.memories.items.items():
            if tenant == tenant_id and scope_hash(memory.scope) == wanted:
                for revision_id in self.memories.history.get((tenant_id, memory_id), {}):
                    found.append(OwnedItem("revision", ("revision", tenant_id, memory_id, revision_id)))
                found.append(OwnedItem("memory", ("memory", tenant_id, memory_id, ""), memory_id=memory_id))
        for (tenant, memory_id), revisions in self.memories.history.items():
            if tenant == tenant_id and (tenant_id, memory_id) not in self.memories.items:
                for revision in revisions.values():
                    if revision.scope is not None and scope_hash(revision.scope) == wanted:
                        found.append(OwnedItem("revision", ("revision", tenant_id, memory_id, revision.id)))
        for session_id in session_ids:
            for event_id in self.sessions.items.get((tenant_id, session_id), {}):
                found.append(OwnedItem("session_event", ("session_event", tenant_id, session_id, event_id)))
        return found[:limit]

    def delete(
        self,
        tenant_id: str,
        receipt_id: str,
        items: Sequence[OwnedItem],
        index_documents: int = 0,
        now: datetime | None = None,
    ) -> int:
        if len(items) > FORGET_BATCH:
            raise ValueError(f"{len(items)} items in one forget write; at most {FORGET_BATCH}")
        found = self.receipts.get((tenant_id, receipt_id))
        if found is None:
            raise NotFound(f"forget receipt {receipt_id} not found")
        counts = found.counts.model_dump()
        counts["index_documents"] += index_documents
        stream: list[StreamRecord] = []
        deleted = 0
        for item in items:
            if self._remove(item, stream, now or datetime.now(UTC)):
                deleted += 1
                counts[_COUNTED[item.kind]] += 1
        self.receipts[(tenant_id, receipt_id)] = found.model_copy(update={"counts": ForgetCounts(**counts)})
        self.memories.publish(stream)
        return deleted

    def _remove(self, item: OwnedItem, stream: list[StreamRecord], now: datetime) -> bool:
        """Delete one item; False when it was already gone."""
        if not isinstance(item.key, tuple) or len(item.key) != 4:
            raise ValueError(f"{item!r} was not found by this repository")
        kind, tenant_id, owner, item_id = item.key
        if kind == "memory":
            old = self.memories.items.pop((tenant_id, owner), None)
            if old is not None:
                stream.append((None, old))
                self.memories.removals.append([removal(old, now)])
            return old is not None
        if kind == "revision":
            return self.memories.history.get((tenant_id, owner), {}).pop(item_id, None) is not None
        if kind == "session_event":
            return self.sessions.items.get((tenant_id, owner), {}).pop(item_id, None) is not None
        if kind == "blob":
            return self.operations.blobs.pop((tenant_id, owner, item_id), None) is not None
        return self.operations.records.pop((tenant_id, owner), None) is not None


_COUNTED = {
    "memory": "memories",
    "revision": "revisions",
    "operation": "operations",
    "blob": "blobs",
    "session_event": "session_events",
}


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
    forget: FakeForget = field(init=False)
    stats: FakeStats = field(init=False)

    def __post_init__(self) -> None:
        self.memories = FakeMemories(self.operations)
        self.retention = FakeRetention(self.memories, self.sessions)
        self.forget = FakeForget(self.memories, self.sessions)
        self.stats = FakeStats(self.memories, self.operations)
