"""Ports: the Protocols the use cases in ``engram.logic`` depend on. Each external system has one adapter
in ``engram.adapters``; the table is reached through one repository per aggregate (memories with their
revisions, operations with their stored documents, sessions, API keys, leases, tenant config, retention).
Tests use in-memory fakes that a contract suite holds to the DynamoDB adapter's behaviour."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel

from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import Operation, OperationError, OperationResult, OperationStatus, Usage

if TYPE_CHECKING:
    from engram.models.compression import CompressionOutput
    from engram.models.conversation import InlineData
    from engram.models.extraction import ConsolidationOutput, ExtractionOutput, ImageDescription
    from engram.models.filters import Node
    from engram.models.forget import ForgetReceipt
    from engram.models.prompts import CompressionPrompt, ConsolidationPrompt, ExtractionPrompt
    from engram.models.session import SessionEvent

T = TypeVar("T", bound=BaseModel)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    """A parsed structured answer and the tokens it cost."""

    output: T
    input_tokens: int = 0
    output_tokens: int = 0


class LLM(Protocol):
    """A chat model answering with structured output. ``model_id`` names it in usage and logs.

    Errors: ``LLMUnavailable`` (timeouts, throttling, 5xx after the client's retries),
    ``LLMOutputInvalid`` (answer does not match the schema).
    """

    model_id: str
    offline: bool

    def extract(self, prompt: ExtractionPrompt) -> LLMResult[ExtractionOutput]: ...

    def consolidate(self, prompt: ConsolidationPrompt) -> LLMResult[ConsolidationOutput]: ...

    def compress(self, prompt: CompressionPrompt) -> LLMResult[CompressionOutput]:
        """Summarize ``prompt.memories`` (oldest first) into at most ``prompt.target`` facts: one model call.
        The caller checks the count (an answer with more, or none, leaves the group alone). Errors as for
        ``extract``: ``LLMUnavailable``, ``LLMOutputInvalid``."""
        ...

    def describe_image(self, image: InlineData) -> LLMResult[ImageDescription]:
        """Describe one image (a validated ``InlineData``: PNG/JPEG/GIF/WebP, ≤ 256 KiB, its optional
        ``caption`` given as context) as plain text for extraction: ``ImageDescription(text=...)``.

        One model call per image. A model without vision (offline) returns the caption or a placeholder,
        labelled as not analysed. Errors as for ``extract``: ``LLMUnavailable``, ``LLMOutputInvalid``;
        ``ConfigurationError`` when the provider rejects the request (e.g. a model without image input).
        """
        ...


class Embedder(Protocol):
    """Turns texts into unit-length vectors of ``dimension`` floats, one batched call per ``embed``.

    Errors: ``EmbeddingUnavailable``.
    """

    model_id: str
    dimension: int
    offline: bool

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class VectorIndex(Protocol):
    """The derived search index, fed from the DynamoDB stream (the table stays the source of truth).

    ``search`` ranks by ``query.mode``; ``IndexHit.score`` is, per mode:

    - ``dense``: the cosine similarity of the embeddings, in [-1, 1] (k-NN).
    - ``lexical``: the BM25 relevance of the memory's fact to ``query.text`` (k1 = 1.2, b = 0.3:
      ``engram.models.ranking``; the English analyzer: lower case, possessive and stop words removed,
      Porter stems). Positive and unbounded; only memories sharing at least one word with the query are
      returned. Its corpus statistics are the index's own (OpenSearch: the shard; local: the scope), so
      compare lexical scores only within one answer.
    - ``hybrid``: min-max fusion, in [0, 1]. The dense and the lexical search each take their top
      ``fusion_depth(k)`` = ``max(50, 5k)``; each list's scores are rescaled by ``(s - min) / (max -
      min)`` over that list (the list's minimum becomes 0.001, a list whose scores are all equal becomes
      1.0); a memory's score is the weighted mean ``w_lex * s_lex + w_dense * s_dense`` (weights of the
      query's embedding model, ``hybrid_weights``; a list that does not hold the memory gives it 0); the
      best ``k`` are returned. This is OpenSearch's ``normalization-processor`` (``min_max``,
      ``arithmetic_mean`` with those weights): ``engram.models.ranking.fuse_min_max``.

    Hits are sorted by score descending, then memory id. Errors: ``IndexUnavailable`` when the index
    cannot be reached.
    """

    def ensure_index(self) -> None: ...

    def upsert(self, documents: Sequence[IndexDocument]) -> None: ...

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None: ...

    def search(self, query: IndexQuery) -> list[IndexHit]: ...

    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        """The revision id the index holds for each of ``memory_ids`` (missing ids are absent)."""
        ...

    def indexed_ids(self, tenant_id: str | None = None) -> Iterator[tuple[str, str]]:
        """``(tenant_id, memory_id)`` of every document the index holds (of one tenant, or of all), each
        once, in no particular order; expired ones too. For finding documents whose memory is gone."""
        ...


class WorkflowStarter(Protocol):
    """Starts the operations workflow for an operation. Idempotent on ``operation_id``. ``kind`` says which
    work it runs: ``"generate"`` (the default: LoadSource → Extract → Consolidate) or ``"compress"``."""

    def start(self, tenant_id: str, operation_id: str, kind: str = "generate") -> None: ...


@dataclass(frozen=True)
class Change:
    """One write to a memory: the memory after it (None for DELETED), before it (None for CREATED),
    and the revision that records it."""

    action: Action
    after: StoredMemory | None
    before: StoredMemory | None
    revision: Revision


class MemoryRepository(Protocol):
    """Memories and their revisions (a memory's history outlives it). Every method is scoped by
    ``tenant_id``: another tenant's memory is absent.

    Errors: ``StoreConflict`` when a guarded write loses a race (retry on fresh state); ``InvalidInput``
    for a bad page token, a transaction over the size limit, or a filter the store cannot express
    (DynamoDB: an expression over about 4 KB).
    """

    def get(self, tenant_id: str, memory_id: str) -> StoredMemory | None:
        """The memory (strongly consistent read), or None; expired memories are returned too."""
        ...

    def get_many(self, tenant_id: str, memory_ids: Iterable[str]) -> dict[str, StoredMemory]:
        """``{memory_id: memory}`` for the ids that exist (duplicates and missing ids are fine)."""
        ...

    def page(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        page_token: str | None,
        filter: Node | None = None,
    ) -> tuple[list[StoredMemory], str | None]:
        """One page of the scope's memories (the tenant's with ``scope`` None), newest first (create time,
        then id), keeping those ``filter`` matches, and the opaque token of the next page (None at the end).
        A page holds at most ``page_size`` memories and may hold fewer before the end; follow the token."""
        ...

    def matching(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,
    ) -> Iterator[StoredMemory]:
        """Every memory of the scope (or tenant) that ``filter`` matches, newest first, page after page."""
        ...

    def count(self, tenant_id: str, scope: dict[str, str] | None, filter: Node | None, now: datetime) -> int:
        """How many memories of the scope (or tenant) ``filter`` matches that are live at ``now`` (no
        ``expire_time``, or one after ``now``). Reads what ``page`` reads, without returning it."""
        ...

    def scan(self, tenant_id: str | None = None) -> Iterator[StoredMemory]:
        """Every memory of one tenant (or of all tenants), in no particular order; for rebuilding the index."""
        ...

    def apply_changes(
        self,
        tenant_id: str,
        changes: Sequence[Change],
        operation_id: str | None = None,
        result: OperationResult | None = None,
    ) -> None:
        """Write ``changes`` and their revisions atomically: all or nothing.

        Guards: CREATED needs the memory absent; UPDATED and DELETED need its stored version to equal
        ``before.version`` (each write bumps it; a created memory has version 1); a revision id is
        written once. With ``operation_id``, the same write records ``result`` on that operation, which
        must exist and have no result yet (so a retried workflow step never writes twice). A failed
        guard raises ``StoreConflict``; more changes than one write holds raises ``InvalidInput``
        (use ``apply_in_blocks``).
        """
        ...

    def create_all(self, tenant_id: str, changes: Sequence[Change]) -> None:
        """Create the memories of ``changes`` (all CREATED, at most 100) all or none. When the memories,
        their revisions and the usage counters fit one transaction (a single create; a small batch of one
        scope), they are written in it; otherwise every memory item in one transaction (each guarded to
        be absent), then their revisions. If the revisions cannot be
        written, the memories are deleted again (with the revisions written so far) before the error is
        raised, so nothing of the batch stays; should that deletion fail too, the memories stay without
        revisions (a retry with the same ids completes them: ``put_revisions``).

        Checked before anything is written: ``TooLargeToStore`` (413) with the ``position`` of a memory
        or revision over an item's 400 KB as stored, or without one when the memories together are over
        a transaction's 4 MB. A memory that exists raises ``StoreConflict`` and nothing is written.
        """
        ...

    def put_revisions(self, tenant_id: str, revisions: Sequence[Revision]) -> None:
        """Write each revision unless one with its id exists (then it is left as it is): completes the
        history of memories an earlier ``create_all`` stored without it."""
        ...

    def apply_in_blocks(self, tenant_id: str, changes: Sequence[Change]) -> None:
        """Write any number of ``changes`` as consecutive atomic blocks (the largest ``apply_changes``
        accepts), in order. A failed guard raises ``StoreConflict``; blocks before it stay written."""
        ...

    def revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        """Every revision of the memory, newest first; also after the memory was deleted."""
        ...

    def revision_page(
        self,
        tenant_id: str,
        memory_id: str,
        page_size: int,
        page_token: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[Revision], str | None]:
        """One page of the memory's revisions, newest first: at most ``page_size`` and, with
        ``max_bytes``, stopping before their ``engram.models.limits.wire_size`` would pass it (at least
        one), with the opaque token of the next page (None at the end). A token of another memory,
        tenant or listing raises ``InvalidPageToken``."""
        ...


class OperationRepository(Protocol):
    """Generation operations and the JSON documents stored with them (the request, then what each
    workflow step produced), by ``(tenant_id, operation_id, name)``.

    Errors: ``Conflict`` when an operation id is taken; ``PayloadTooLarge`` when a request does not fit
    in storage; ``NotFound`` when usage is added to an operation that does not exist.
    """

    def create(
        self,
        tenant_id: str,
        operation: Operation,
        scope: dict[str, str],
        request: dict[str, Any],
        expire_time: datetime | None = None,
    ) -> None:
        """Store a new operation with its ``scope`` and its ``request`` (the document named ``REQ``), at once.
        With ``expire_time``, the operation and every document stored with it expire then (the retention
        job deletes them together). Raises ``Conflict`` (the id exists) or ``PayloadTooLarge`` (over 350 KB
        compressed)."""
        ...

    def get(self, tenant_id: str, operation_id: str) -> Operation | None:
        """The operation (strongly consistent read), or None."""
        ...

    def scope_of(self, tenant_id: str, operation_id: str) -> dict[str, str]:
        """The scope the operation was created for. Raises ``NotFound`` when it does not exist."""
        ...

    def get_blob(self, tenant_id: str, operation_id: str, name: str) -> Any | None:
        """The JSON document stored under ``name`` (a fresh copy), or None."""
        ...

    def put_blob(self, tenant_id: str, operation_id: str, name: str, document: Any) -> None:
        """Store (or replace) a JSON document under ``name``; non-JSON values are stored as ``str(value)``."""
        ...

    def add_usage(self, tenant_id: str, operation_id: str, usage: Usage, now: datetime) -> None:
        """Atomically add ``usage`` to the operation's counters and set its update time to ``now``; a
        zero usage does nothing. Raises ``NotFound`` when the operation does not exist."""
        ...

    def finish(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
        index_pending: bool = False,
    ) -> bool:
        """Move a RUNNING operation to ``status`` (with ``error``, if given; ``index_pending`` marks a
        SUCCEEDED one whose changes search did not show yet). True when this call finished it; False when
        it was already finished or does not exist (a retried final step)."""
        ...


@dataclass(frozen=True)
class EventWindow:
    """Which events of a session a listing keeps: of ``role`` (None: any), with a timestamp in
    ``[start_time, end_time)`` (None: unbounded), live at ``now`` (no expiry, or one after it; None: expired
    ones too), and of those only the last ``last`` (None: all)."""

    start_time: datetime | None = None
    end_time: datetime | None = None
    role: str | None = None
    now: datetime | None = None
    last: int | None = None


class SessionRepository(Protocol):
    """The events of a session (short-term memory), by ``(tenant_id, session_id)``.

    Errors: ``InvalidInput`` for a page token that is not one this repository gave for the session."""

    def append(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        """Store each event unless one with its ``event_id`` exists; per event, whether it was new."""
        ...

    def events(self, tenant_id: str, session_id: str) -> list[SessionEvent]:
        """Every stored event of the session, oldest first (timestamp, then arrival); expired ones too."""
        ...

    def page(
        self,
        tenant_id: str,
        session_id: str,
        window: EventWindow,
        page_size: int,
        page_token: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[SessionEvent], str | None]:
        """One page of the events ``window`` keeps, oldest first (timestamp, then arrival), and the opaque
        token of the next page (None when no event follows). A page holds at most ``page_size`` events
        and, with ``max_bytes``, stops before the events' ``engram.models.limits.wire_size`` would pass it
        (it always holds one event, if any follows). With ``page_token``, the listing continues after
        the previous page (``window.last`` then no longer counts: it chose where the first page began).
        Reads at most a page's events (and, for ``window.last``, the keys of the last ``last``)."""
        ...

    def delete(self, tenant_id: str, session_id: str) -> int:
        """Delete every event of the session; returns how many there were (0 for an unknown session)."""
        ...

    def truncate(self, tenant_id: str, session_id: str, keep_last: int, now: datetime) -> tuple[int, int]:
        """Delete every event but the last ``keep_last`` live ones (in ``events`` order; live: no
        ``expire_time``, or one after ``now``), expired ones included. Returns ``(kept, deleted)``;
        ``(0, 0)`` for an unknown session. Events appended while it runs are kept; repeating it deletes
        nothing more."""
        ...


class ApiKeyRecord(NamedTuple):
    """What an API key hash resolves to."""

    tenant_id: str
    revoked: bool


class ApiKeyRepository(Protocol):
    """API keys by the hex SHA-256 of the key (the key itself is never stored). Not tenant-scoped: the
    tenant is what a key resolves to."""

    def put(self, key_hash: str, tenant_id: str, name: str, now: datetime) -> None:
        """Store a new key for ``tenant_id``, labelled ``name``. Raises ``Conflict`` when the hash exists."""
        ...

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        """``(tenant_id, revoked)`` of the key, or None when unknown (eventually consistent read)."""
        ...

    def revoke(self, key_hash: str) -> bool:
        """Mark the key revoked; False when it is unknown."""
        ...


class LeaseRepository(Protocol):
    """Per-scope consolidation leases: one holder at a time per ``(tenant_id, scope_key)``."""

    def acquire(self, tenant_id: str, scope_key: str, holder: str, now: datetime, seconds: float) -> bool:
        """Take (or renew) the lease for ``holder`` until ``now + seconds``. True when held; False while
        another holder's lease has not expired (a lease expiring exactly at ``now`` still holds)."""
        ...

    def release(self, tenant_id: str, scope_key: str, holder: str) -> None:
        """Give the lease up if ``holder`` still has it; otherwise nothing happens."""
        ...


class ConfigRepository(Protocol):
    """Each tenant's configuration document (the JSON form of ``TenantConfig``)."""

    def get(self, tenant_id: str) -> dict[str, Any] | None:
        """The stored document (a fresh copy), or None when the tenant never set one."""
        ...

    def put(self, tenant_id: str, config: dict[str, Any], now: datetime) -> None:
        """Replace the tenant's document."""
        ...


ExpiredKind = Literal["memory", "revision", "session_event", "operation", "other"]


@dataclass(frozen=True)
class ExpiredItem:
    """Something whose expiry has passed: its ``kind`` and a ``key`` only the repository reads."""

    kind: ExpiredKind
    key: Hashable


class RetentionRepository(Protocol):
    """What has expired, across tenants: memories, revisions, session events and operations with an
    ``expire_time`` (an ``operation`` item stands for the operation with every document stored with it)."""

    def expired(self, now: datetime, limit: int) -> list[ExpiredItem]:
        """Up to ``limit`` items whose expiry is before ``now`` (older expiries tend to come first)."""
        ...

    def delete(self, items: Sequence[ExpiredItem], now: datetime | None = None) -> None:
        """Delete ``items`` (what ``expired`` returned); an item already gone is skipped. A deleted memory
        leaves the index through the stream, like any other deletion, and the usage counters in the same
        atomic write (counted as deleted on ``now``'s day; None: the wall clock's); a deleted operation
        takes its stored documents (request, source, candidates) with it."""
        ...


@dataclass
class DayCounters:
    """One UTC day's counters: memories created, updated (archived included) and deleted; operations
    started and their usage (LLM calls and tokens, embedding calls)."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    operations: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    embedding_calls: int = 0


@dataclass
class StatsCounters:
    """The counters of a scope or tenant: memories stored (``total``), per topic, and per day."""

    total: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, DayCounters] = field(default_factory=dict)


class StatsRepository(Protocol):
    """Usage analytics counters, maintained by the memory and operation repositories as they write (each
    in the same atomic write as what it counts); this port only reads them."""

    def read(self, tenant_id: str, scope_key: str | None, days: Sequence[str]) -> StatsCounters:
        """The counters of the scope whose hash is ``scope_key`` (None: of the whole tenant), with
        ``per_day`` for each of ``days`` (``yyyy-mm-dd``, UTC; zeros for a day without writes)."""
        ...


#: ``idempotency_record``: a stored ``Idempotency-Key`` response of the scope; ``idempotency_tag``: what
#: lists it under the scope (deleted with it, not counted).
ForgetKind = Literal[
    "operation", "blob", "memory", "revision", "session_event", "idempotency_record", "idempotency_tag"
]


@dataclass(frozen=True)
class OwnedItem:
    """Something a forget deletes: its ``kind``, a ``key`` only the repository reads, and for a memory its
    id (its index entry goes with it)."""

    kind: ForgetKind
    key: Hashable
    memory_id: str | None = None


class ForgetRepository(Protocol):
    """Forgetting a scope: its receipt (``ForgetReceipt``, tenant-scoped, never expiring), what the scope
    owns, and deletions counted on the receipt in the same atomic write.

    Errors: ``NotFound`` when a receipt to write does not exist."""

    def begin(
        self, tenant_id: str, request_hash: str, scope_hash: str, receipt_id: str, now: datetime
    ) -> ForgetReceipt:
        """The receipt of the forget in progress for ``request_hash`` (a hash of the scope and the session
        ids), or, when none is, a new one: ``receipt_id``, ``scope_hash``, zero counts, requested at ``now``."""
        ...

    def receipt(self, tenant_id: str, receipt_id: str) -> ForgetReceipt | None:
        """The receipt, or None (also another tenant's)."""
        ...

    def owned(self, tenant_id: str, scope: dict[str, str], session_ids: Sequence[str], limit: int) -> list[OwnedItem]:
        """Up to ``limit`` items still stored that the forget of ``scope`` and ``session_ids`` deletes, in
        the order to delete them: each operation of the scope after its documents, each memory of the scope
        after its revisions, the scope's other revisions (of memories deleted before), the sessions'
        events, then the stored ``Idempotency-Key`` responses of the scope, each before its tag. Empty when
        nothing is left."""
        ...

    def delete(
        self,
        tenant_id: str,
        receipt_id: str,
        items: Sequence[OwnedItem],
        index_documents: int = 0,
        now: datetime | None = None,
    ) -> int:
        """Delete ``items`` (at most ``FORGET_BATCH``) and add them, by kind, and ``index_documents`` to the
        receipt's counts; each deletion is atomic with its count, and a deleted memory with its usage
        counters (counted as deleted on ``now``'s day; None: the wall clock's). Items already gone (or a
        memory changed since it was listed) are left out and not counted. Returns how many were deleted.
        Deleted memories leave the index through the stream as well."""
        ...

    def finish(self, tenant_id: str, receipt_id: str, request_hash: str, now: datetime) -> ForgetReceipt:
        """Mark the receipt completed at ``now`` and end the forget in progress for ``request_hash``."""
        ...


#: Items one ``ForgetRepository.delete`` takes (with the receipt's counts, within one DynamoDB transaction).
FORGET_BATCH = 99
