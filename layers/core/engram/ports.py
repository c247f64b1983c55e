"""Ports: the Protocols the use cases in ``engram.logic`` depend on. Each external system has one adapter
in ``engram.adapters``; the table is reached through one repository per aggregate (memories with their
revisions, operations with their stored documents, sessions, API keys, leases, tenant config, retention).
Tests use in-memory fakes that a contract suite holds to the DynamoDB adapter's behaviour."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel

from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.memory import Action, Revision, StoredMemory
from engram.models.operation import Operation, OperationError, OperationResult, OperationStatus, Usage

if TYPE_CHECKING:
    from engram.models.conversation import InlineData
    from engram.models.extraction import ConsolidationOutput, ExtractionOutput, ImageDescription
    from engram.models.filters import Node
    from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt
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
    - ``lexical``: the BM25 relevance of the memory's fact to ``query.text`` (k1 = 1.2, b = 0.75, the
      English analyzer: lower case, possessive and stop words removed, Porter stems). Positive and
      unbounded; only memories sharing at least one word with the query are returned. Its corpus
      statistics are the index's own (OpenSearch: the shard; local: the scope), so compare lexical
      scores only within one answer.
    - ``hybrid``: min-max fusion, in [0, 1]. The dense and the lexical search each take their own top
      ``k``; each list's scores are rescaled by ``(s - min) / (max - min)`` over that list (the list's
      minimum becomes 0.001, a list whose scores are all equal becomes 1.0); a memory's score is the
      0.5/0.5 weighted mean over the lists it appears in (a memory found by only one list gets that
      list's rescaled score). This is OpenSearch's ``normalization-processor`` (``min_max``,
      ``arithmetic_mean``, weights 0.5/0.5), which the local index reproduces.

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


class WorkflowStarter(Protocol):
    """Starts the generation workflow for an operation. Idempotent on ``operation_id``."""

    def start(self, tenant_id: str, operation_id: str) -> None: ...


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
    for a bad page token or a transaction over the size limit.
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

    def apply_in_blocks(self, tenant_id: str, changes: Sequence[Change]) -> None:
        """Write any number of ``changes`` as consecutive atomic blocks (the largest ``apply_changes``
        accepts), in order. A failed guard raises ``StoreConflict``; blocks before it stay written."""
        ...

    def revisions(self, tenant_id: str, memory_id: str) -> list[Revision]:
        """Every revision of the memory, newest first; also after the memory was deleted."""
        ...


class OperationRepository(Protocol):
    """Generation operations and the JSON documents stored with them (the request, then what each
    workflow step produced), by ``(tenant_id, operation_id, name)``.

    Errors: ``Conflict`` when an operation id is taken; ``PayloadTooLarge`` when a request does not fit
    in storage; ``NotFound`` when usage is added to an operation that does not exist.
    """

    def create(self, tenant_id: str, operation: Operation, scope: dict[str, str], request: dict[str, Any]) -> None:
        """Store a new operation with its ``scope`` and its ``request`` (the document named ``REQ``), at once.
        Raises ``Conflict`` (the id exists) or ``PayloadTooLarge`` (over 350 KB compressed)."""
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
    ) -> bool:
        """Move a RUNNING operation to ``status`` (with ``error``, if given). True when this call finished it;
        False when it was already finished or does not exist (a retried final step)."""
        ...


class SessionRepository(Protocol):
    """The events of a session (short-term memory), by ``(tenant_id, session_id)``."""

    def append(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        """Store each event unless one with its ``event_id`` exists; per event, whether it was new."""
        ...

    def events(self, tenant_id: str, session_id: str) -> list[SessionEvent]:
        """Every stored event of the session, oldest first (timestamp, then arrival); expired ones too."""
        ...

    def delete(self, tenant_id: str, session_id: str) -> int:
        """Delete every event of the session; returns how many there were (0 for an unknown session)."""
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


ExpiredKind = Literal["memory", "revision", "session_event", "other"]


@dataclass(frozen=True)
class ExpiredItem:
    """Something whose expiry has passed: its ``kind`` and a ``key`` only the repository reads."""

    kind: ExpiredKind
    key: Hashable


class RetentionRepository(Protocol):
    """What has expired, across tenants: memories, revisions and session events with an ``expire_time``."""

    def expired(self, now: datetime, limit: int) -> list[ExpiredItem]:
        """Up to ``limit`` items whose expiry is before ``now`` (older expiries tend to come first)."""
        ...

    def delete(self, items: Sequence[ExpiredItem]) -> None:
        """Delete ``items`` (what ``expired`` returned); an item already gone is skipped. A deleted memory
        leaves the index through the stream, like any other deletion."""
        ...
