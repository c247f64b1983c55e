"""In-memory fakes of the ports for the use-case tests (no AWS, no network, no moto).

- ``FakeStore``: the whole ``MemoryStore`` port on dicts. ``apply_changes`` is atomic and enforces the
  guards of the DynamoDB adapter: at most 49 changes; CREATED needs the memory to be absent;
  UPDATED/DELETED need the stored version to equal ``before.version`` (a write bumps it; a created memory
  has version 1); a revision id is never written twice; with ``operation_id`` the operation must exist
  and have no result yet. Any failed guard raises ``StoreConflict`` and writes nothing. Memory writes
  (and retention's deletions) are published to the store's stream listeners, as the DynamoDB stream
  would. Also: per-scope leases, tenant config, session events and expired keys in the table's layout.
- ``FakeIndex``: the ``VectorIndex`` port. Filters on tenant, scope hash, embedding model, topics and
  excluded ids before the top ``k`` (no expiry filter: that is the logic's job); ``dense`` is exact
  cosine, ``lexical`` counts shared words, ``hybrid`` is the port's min-max fusion of the two.
  ``lag = True`` holds stream changes back until ``catch_up()``.
- ``connect_stream(store, index)``: the mirrored stream, through ``engram.logic.indexing.apply_stream_change``.
- ``CountingEmbedder``: ``OfflineEmbedder`` recording every call (``calls``, ``texts``, ``reset()``).
- ``ScriptedLLM``: extraction, consolidation and image-description answers queued by the test; a call with
  nothing queued fails the test; prompts and calls are recorded.
- ``FixedClock``: a settable clock with ``advance()``.

Test modules get instances through the fixtures below (``store`` is already connected to ``index``) and
the classes through ``fakes``: test files never import each other (``--import-mode=importlib``).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from engram.adapters.offline import OfflineEmbedder
from engram.errors import Conflict, InvalidInput, StoreConflict
from engram.logic.indexing import apply_stream_change
from engram.models.extraction import (
    CandidateFact,
    ConsolidationDecision,
    ConsolidationOutput,
    ExtractionOutput,
    ImageDescription,
)
from engram.models.filters import Node, matches
from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import Operation, OperationError, OperationResult, OperationStatus, Usage
from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt
from engram.models.scope import scope_hash
from engram.models.session import SessionEvent
from engram.ports import Change, LLMResult

MAX_CHANGES = 49  # the DynamoDB adapter's transaction bound
START = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)

StreamRecord = tuple[StoredMemory | None, StoredMemory | None]  # (new image, old image)


class FixedClock:
    """A clock that only moves when told."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)`` (``advance(seconds=5)``)."""
        self.current += delta if delta is not None else timedelta(**kwargs)
        return self.current


@dataclass
class _OperationRecord:
    operation: Operation
    scope: dict[str, str]
    consolidated: bool = False


def _roundtrip(document: Any) -> Any:
    """What a store gives back: a JSON copy, never the caller's object."""
    return json.loads(json.dumps(document, default=str))


class FakeStore:
    """``MemoryStore`` on dicts, with the DynamoDB adapter's guards (see the module docstring)."""

    def __init__(self) -> None:
        self.memories: dict[tuple[str, str], StoredMemory] = {}
        self.revisions: dict[tuple[str, str], dict[str, Revision]] = {}
        self.operations: dict[tuple[str, str], _OperationRecord] = {}
        self.blobs: dict[tuple[str, str, str], Any] = {}
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.leases: dict[tuple[str, str], tuple[str, datetime]] = {}
        self.sessions: dict[tuple[str, str], dict[str, tuple[int, SessionEvent]]] = {}
        self._sequence = 0
        self.listeners: list[Callable[[list[StreamRecord]], None]] = []
        self.transactions: list[list[Change]] = []  # every successful apply_changes, in order
        self.memory_writes = 0  # memory items written by apply_changes

    # --- memories -------------------------------------------------------------------------

    def get_memory(self, tenant_id: str, memory_id: str) -> StoredMemory | None:
        memory = self.memories.get((tenant_id, memory_id))
        return memory.model_copy(deep=True) if memory is not None else None

    def get_memories(self, tenant_id: str, memory_ids: Iterable[str]) -> dict[str, StoredMemory]:
        found = {}
        for memory_id in dict.fromkeys(memory_ids):
            memory = self.get_memory(tenant_id, memory_id)
            if memory is not None:
                found[memory_id] = memory
        return found

    def list_memories(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        page_token: str | None,
        filter: Node | None = None,  # noqa: A002 - the port's name
    ) -> tuple[list[StoredMemory], str | None]:
        """Newest first (create time, then id, descending); ``scope`` None lists the tenant. The filter is
        applied before paging (so pages are full). The token is base64 of the last key returned."""
        after: Any = None
        if page_token:
            try:
                after = json.loads(base64.urlsafe_b64decode(page_token.encode()))
            except ValueError as error:
                raise InvalidInput("page_token is not valid") from error
            if not (isinstance(after, list) and len(after) == 2):
                raise InvalidInput("page_token is not valid")
        wanted = scope_hash(scope) if scope is not None else None
        items = sorted(
            (
                m
                for (t, _), m in self.memories.items()
                if t == tenant_id
                and (wanted is None or scope_hash(m.scope) == wanted)
                and matches(filter, m.metadata, m.create_time, m.update_time)
            ),
            key=self._sort_key,
            reverse=True,
        )
        if after is not None:
            items = [m for m in items if self._sort_key(m) < (after[0], after[1])]
        page = items[:page_size]
        token = None
        if len(items) > page_size:
            token = base64.urlsafe_b64encode(json.dumps(list(self._sort_key(page[-1]))).encode()).decode()
        return [m.model_copy(deep=True) for m in page], token

    def scan_memories(self, tenant_id: str | None = None) -> Iterator[StoredMemory]:
        """Every memory (of one tenant, or all), like the adapter's full scan."""
        for (t, _), memory in list(self.memories.items()):
            if tenant_id is None or t == tenant_id:
                yield memory.model_copy(deep=True)

    def iter_memories(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,  # noqa: A002
    ) -> Iterator[StoredMemory]:
        token: str | None = None
        while True:
            items, token = self.list_memories(tenant_id, scope, 100, token, filter)
            yield from items
            if token is None:
                return

    @staticmethod
    def _sort_key(memory: StoredMemory) -> tuple[str, str]:
        return (memory.create_time.isoformat(), memory.id)

    def apply_changes(
        self,
        tenant_id: str,
        changes: Sequence[Change],
        operation_id: str | None = None,
        result: OperationResult | None = None,
    ) -> None:
        if len(changes) > MAX_CHANGES:
            raise InvalidInput(f"{len(changes)} changes in one transaction; at most {MAX_CHANGES}")
        # 1. every guard first: a failed one writes nothing
        touched: set[str] = set()
        for change in changes:
            memory_id = (change.after or change.before).id  # type: ignore[union-attr]
            if memory_id in touched:
                raise ValueError(f"two changes to memory {memory_id} in one transaction (DynamoDB rejects this)")
            touched.add(memory_id)
            stored = self.memories.get((tenant_id, memory_id))
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
            if change.revision.id in self.revisions.get((tenant_id, change.revision.memory_id), {}):
                raise StoreConflict(f"revision {change.revision.id} already exists")
        if operation_id is not None:
            record = self.operations.get((tenant_id, operation_id))
            if record is None or record.consolidated:
                raise StoreConflict(f"operation {operation_id} is missing or already has a result")
        # 2. write everything
        stream: list[StreamRecord] = []
        for change in changes:
            memory_id = (change.after or change.before).id  # type: ignore[union-attr]
            old = self.memories.get((tenant_id, memory_id))
            new = None
            if change.action is Action.DELETED:
                del self.memories[(tenant_id, memory_id)]
            else:
                assert change.after is not None
                version = 1 if old is None else old.version + 1
                new = change.after.model_copy(update={"version": version}, deep=True)
                self.memories[(tenant_id, memory_id)] = new
            self.memory_writes += 1
            self.revisions.setdefault((tenant_id, memory_id), {})[change.revision.id] = change.revision.model_copy(
                deep=True
            )
            stream.append((new, old))
        if operation_id is not None:
            record = self.operations[(tenant_id, operation_id)]
            record.consolidated = True
            record.operation = record.operation.model_copy(
                update={"result": (result or OperationResult()).model_copy(deep=True)}
            )
        self.transactions.append(list(changes))
        self._publish(stream)

    def list_revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        revisions = self.revisions.get((tenant_id, memory_id), {})
        return [revisions[k].model_copy(deep=True) for k in sorted(revisions, reverse=True)]

    # --- operations -----------------------------------------------------------------------

    def create_operation(
        self, tenant_id: str, operation: Operation, scope: dict[str, str], request: dict[str, Any]
    ) -> None:
        if (tenant_id, operation.id) in self.operations:
            raise Conflict(f"operation {operation.id} already exists")
        self.operations[(tenant_id, operation.id)] = _OperationRecord(operation.model_copy(deep=True), dict(scope))
        self.blobs[(tenant_id, operation.id, "REQ")] = _roundtrip(request)

    def get_operation(self, tenant_id: str, operation_id: str) -> Operation | None:
        record = self.operations.get((tenant_id, operation_id))
        return record.operation.model_copy(deep=True) if record is not None else None

    def get_operation_scope(self, tenant_id: str, operation_id: str) -> dict[str, str]:
        return dict(self.operations[(tenant_id, operation_id)].scope)

    def get_blob(self, tenant_id: str, operation_id: str, name: str) -> Any | None:
        document = self.blobs.get((tenant_id, operation_id, name))
        return copy.deepcopy(document)

    def put_blob(self, tenant_id: str, operation_id: str, name: str, document: Any) -> None:
        self.blobs[(tenant_id, operation_id, name)] = _roundtrip(document)

    def add_usage(self, tenant_id: str, operation_id: str, usage: Usage, now: datetime) -> None:
        if usage == Usage():
            return
        record = self.operations.get((tenant_id, operation_id))
        if record is None:
            raise LookupError(f"operation {operation_id} does not exist")  # the adapter's condition fails
        record.operation = record.operation.model_copy(
            update={"usage": record.operation.usage + usage, "update_time": now}
        )

    def finish_operation(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
    ) -> bool:
        record = self.operations.get((tenant_id, operation_id))
        if record is None or record.operation.status is not OperationStatus.RUNNING:
            return False
        update: dict[str, Any] = {"status": status, "update_time": now}
        if error is not None:
            update["error"] = error
        record.operation = record.operation.model_copy(update=update)
        return True

    # --- API keys ---------------------------------------------------------------------------

    def put_api_key(self, key_hash: str, tenant_id: str, name: str, now: datetime) -> None:
        if key_hash in self.api_keys:
            raise Conflict("this API key already exists")
        self.api_keys[key_hash] = {"tenant_id": tenant_id, "name": name, "create_time": now, "revoked": False}

    def get_api_key(self, key_hash: str) -> tuple[str, bool] | None:
        item = self.api_keys.get(key_hash)
        return (item["tenant_id"], item["revoked"]) if item is not None else None

    def revoke_api_key(self, key_hash: str) -> bool:
        if key_hash not in self.api_keys:
            return False
        self.api_keys[key_hash]["revoked"] = True
        return True

    # --- per-scope consolidation lease ---------------------------------------------------------

    def acquire_lease(self, tenant_id: str, scope_key: str, holder: str, now: datetime, seconds: float) -> bool:
        """Held by ``holder`` until ``now + seconds``; refused while another holder's lease has not expired."""
        current = self.leases.get((tenant_id, scope_key))
        if current is not None and current[0] != holder and current[1] >= now:
            return False
        self.leases[(tenant_id, scope_key)] = (holder, now + timedelta(seconds=seconds))
        return True

    def release_lease(self, tenant_id: str, scope_key: str, holder: str) -> None:
        current = self.leases.get((tenant_id, scope_key))
        if current is not None and current[0] == holder:
            del self.leases[(tenant_id, scope_key)]

    # --- tenant config ------------------------------------------------------------------------

    def get_config(self, tenant_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.configs.get(tenant_id))

    def put_config(self, tenant_id: str, config: dict[str, Any], now: datetime) -> None:
        self.configs[tenant_id] = _roundtrip(config)

    # --- sessions -----------------------------------------------------------------------------

    def append_session_events(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        session = self.sessions.setdefault((tenant_id, session_id), {})
        added = []
        for event in events:
            if event.event_id in session:
                added.append(False)
                continue
            self._sequence += 1
            session[event.event_id] = (self._sequence, event.model_copy(deep=True))
            added.append(True)
        return added

    def list_session_events(self, tenant_id: str, session_id: str) -> list[SessionEvent]:
        """Oldest first (timestamp, then arrival)."""
        session = self.sessions.get((tenant_id, session_id), {})
        ordered = sorted(session.values(), key=lambda item: (item[1].timestamp, item[0]))
        return [event.model_copy(deep=True) for _, event in ordered]

    def delete_session(self, tenant_id: str, session_id: str) -> int:
        return len(self.sessions.pop((tenant_id, session_id), {}))

    # --- retention ----------------------------------------------------------------------------

    def expired_keys(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """``(PK, SK)`` in the DynamoDB layout of memories, revisions and session events expired before
        ``now``, oldest expiry first."""
        found: list[tuple[datetime, str, str]] = []
        for (tenant_id, memory_id), memory in self.memories.items():
            if memory.expire_time is not None and memory.expire_time < now:
                found.append((memory.expire_time, f"T#{tenant_id}#M#{memory_id}", "M"))
        for (tenant_id, memory_id), revisions in self.revisions.items():
            for revision in revisions.values():
                if revision.expire_time is not None and revision.expire_time < now:
                    found.append((revision.expire_time, f"T#{tenant_id}#M#{memory_id}", f"R#{revision.id}"))
        for (tenant_id, session_id), events in self.sessions.items():
            for _, event in events.values():
                if event.expire_time is not None and event.expire_time < now:
                    found.append((event.expire_time, f"T#{tenant_id}#SES#{session_id}", f"E#{event.event_id}"))
        found.sort()
        return [(pk, sk) for _, pk, sk in found[:limit]]

    def delete_keys(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete by key (absent keys are ignored); deleted memories reach the stream as removals."""
        stream: list[StreamRecord] = []
        for pk, sk in keys:
            tenant_id, kind, rest = self._parse_pk(pk)
            if kind == "M" and sk == "M":
                old = self.memories.pop((tenant_id, rest), None)
                if old is not None:
                    stream.append((None, old))
            elif kind == "M" and sk.startswith("R#"):
                self.revisions.get((tenant_id, rest), {}).pop(sk[2:], None)
            elif kind == "SES" and sk.startswith("E#"):
                self.sessions.get((tenant_id, rest), {}).pop(sk[2:], None)
        if stream:
            self._publish(stream)

    @staticmethod
    def _parse_pk(pk: str) -> tuple[str, str, str]:
        _, tenant_id, kind, rest = pk.split("#", 3)
        return tenant_id, kind, rest

    def _publish(self, records: list[StreamRecord]) -> None:
        for listener in self.listeners:
            listener(records)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _min_max(scores: dict[str, float]) -> dict[str, float]:
    """Rescale to [0.001, 1] as the port describes (all equal → 1.0)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {m: max(0.001, (s - low) / (high - low)) for m, s in scores.items()}


class FakeIndex:
    """``VectorIndex`` in memory, exact cosine. ``lag = True`` holds stream changes until ``catch_up()``."""

    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], IndexDocument] = {}
        self.queries: list[IndexQuery] = []
        self.lag = False
        self.pending: list[StreamRecord] = []

    # --- the port ---

    def ensure_index(self) -> None:
        return None

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        for doc in documents:
            self.documents[(doc.tenant_id, doc.memory_id)] = doc

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        for memory_id in memory_ids:
            self.documents.pop((tenant_id, memory_id), None)

    def search(self, query: IndexQuery) -> list[IndexHit]:
        """Filters first (tenant, scope, model, topics, excluded ids; no expiry), then the top ``k`` by mode:
        ``dense`` exact cosine; ``lexical`` the number of distinct shared lower-case words (a stand-in for
        BM25); ``hybrid`` the port's min-max fusion of those two lists."""
        self.queries.append(query)
        topics = set(query.topics or ())
        excluded = set(query.exclude_ids)
        docs = [
            doc
            for (tenant_id, memory_id), doc in self.documents.items()
            if tenant_id == query.tenant_id
            and doc.scope_hash == query.scope_hash
            and doc.embedding_model == query.embedding_model
            and memory_id not in excluded
            and (not topics or not topics.isdisjoint(doc.topics))
            and (
                query.filter is None
                or matches(query.filter, doc.metadata, doc.create_time or doc.update_time, doc.update_time)
            )
        ]
        if query.k <= 0:
            return []
        dense = self._top(
            {d.memory_id: _cosine(d.embedding, query.vector) for d in docs if len(d.embedding) == len(query.vector)},
            query.k,
        )
        words = _words(query.text or "")
        lexical = self._top(
            {d.memory_id: float(n) for d in docs if (n := len(words & _words(d.fact))) > 0},
            query.k,
        )
        if query.mode == "dense":
            scores = dense
        elif query.mode == "lexical":
            scores = lexical
        else:
            fused: dict[str, list[float]] = {}
            for ranked in (dense, lexical):
                for memory_id, score in _min_max(ranked).items():
                    fused.setdefault(memory_id, []).append(score)
            scores = {memory_id: sum(s) / len(s) for memory_id, s in fused.items()}
        revision = {d.memory_id: d.revision_id for d in docs}
        hits = [IndexHit(memory_id=m, revision_id=revision[m], score=s) for m, s in scores.items()]
        hits.sort(key=lambda h: (-h.score, h.memory_id))
        return hits[: query.k]

    @staticmethod
    def _top(scores: dict[str, float], k: int) -> dict[str, float]:
        return dict(sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k])

    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        return {
            memory_id: doc.revision_id
            for memory_id in memory_ids
            if (doc := self.documents.get((tenant_id, memory_id))) is not None
        }

    # --- the stream ---

    def receive(self, records: list[StreamRecord]) -> None:
        """A batch of stream records, applied at once unless the index lags."""
        if self.lag:
            self.pending.extend(records)
            return
        for new, old in records:
            apply_stream_change(self, new, old)

    def catch_up(self) -> None:
        """Stop lagging and apply every held-back record, in order."""
        self.lag = False
        pending, self.pending = self.pending, []
        self.receive(pending)


def connect_stream(store: FakeStore, index: FakeIndex) -> None:
    """Mirror the DynamoDB stream: every ``apply_changes`` reaches ``index`` through
    ``apply_stream_change`` (held back while ``index.lag`` is on)."""
    store.listeners.append(index.receive)


class CountingEmbedder:
    """``OfflineEmbedder`` that records every ``embed`` call (one list of texts per call)."""

    def __init__(self, dimension: int = 256) -> None:
        self._inner = OfflineEmbedder(dimension)
        self.model_id = self._inner.model_id
        self.dimension = dimension
        self.offline = True
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return self._inner.embed(texts)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def texts(self) -> list[str]:
        return [text for call in self.calls for text in call]

    def reset(self) -> None:
        self.calls.clear()


@dataclass
class ScriptedLLM:
    """``LLM`` whose answers are queued by the test. A queued ``Exception`` is raised instead; a call with
    nothing queued fails the test. Prompts are recorded in ``extract_prompts``/``consolidate_prompts``."""

    model_id: str = "scripted-llm"
    offline: bool = False
    extractions: deque[Any] = field(default_factory=deque)
    consolidations: deque[Any] = field(default_factory=deque)
    descriptions: deque[Any] = field(default_factory=deque)
    extract_prompts: list[ExtractionPrompt] = field(default_factory=list)
    consolidate_prompts: list[ConsolidationPrompt] = field(default_factory=list)
    described_images: list[Any] = field(default_factory=list)

    def queue_extract(
        self, facts: Sequence[CandidateFact | dict[str, Any]], input_tokens: int = 0, output_tokens: int = 0
    ) -> None:
        output = ExtractionOutput(facts=[CandidateFact.model_validate(f) for f in facts])
        self.extractions.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_consolidate(
        self,
        decisions: Sequence[ConsolidationDecision | dict[str, Any]],
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        output = ConsolidationOutput(decisions=[ConsolidationDecision.model_validate(d) for d in decisions])
        self.consolidations.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_description(self, text: str, input_tokens: int = 0, output_tokens: int = 0) -> None:
        output = ImageDescription(text=text)
        self.descriptions.append(LLMResult(output=output, input_tokens=input_tokens, output_tokens=output_tokens))

    def queue_error(self, kind: str, error: Exception) -> None:
        """Raise ``error`` on the next ``kind`` call: ``extract``, ``consolidate`` or ``describe``."""
        queues = {"extract": self.extractions, "consolidate": self.consolidations, "describe": self.descriptions}
        queues[kind].append(error)

    def extract(self, prompt: ExtractionPrompt) -> LLMResult[ExtractionOutput]:
        self.extract_prompts.append(prompt)
        return self._next(self.extractions, "extraction")

    def consolidate(self, prompt: ConsolidationPrompt) -> LLMResult[ConsolidationOutput]:
        self.consolidate_prompts.append(prompt)
        return self._next(self.consolidations, "consolidation")

    def describe_image(self, image: Any) -> LLMResult[ImageDescription]:
        self.described_images.append(image)
        return self._next(self.descriptions, "image description")

    @staticmethod
    def _next(queue: deque[Any], what: str) -> Any:
        if not queue:
            raise AssertionError(f"unexpected {what} call: no answer queued")
        answer = queue.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def calls(self) -> int:
        return len(self.extract_prompts) + len(self.consolidate_prompts) + len(self.described_images)


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The fake classes and helpers, for tests that need more than the default instances."""
    return SimpleNamespace(
        FakeStore=FakeStore,
        FakeIndex=FakeIndex,
        CountingEmbedder=CountingEmbedder,
        ScriptedLLM=ScriptedLLM,
        FixedClock=FixedClock,
        connect_stream=connect_stream,
        START=START,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def index() -> FakeIndex:
    return FakeIndex()


@pytest.fixture
def store(index: FakeIndex) -> FakeStore:
    """A store whose writes reach ``index`` through the mirrored stream."""
    fake = FakeStore()
    connect_stream(fake, index)
    return fake


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()
