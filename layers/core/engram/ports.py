"""Ports: the Protocols the use cases in ``engram.logic`` depend on. Each external system has exactly
one adapter module in ``engram.adapters`` implementing one of these; tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

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
    """The derived search index (DESIGN.md §1), fed from the DynamoDB stream.

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


class MemoryStore(Protocol):
    """The source of truth (DynamoDB). Every method is scoped by ``tenant_id``.

    Errors: ``StoreConflict`` when a guarded write loses a race; ``Conflict`` when a create collides;
    ``PayloadTooLarge`` when a request is too large to store; ``InvalidInput`` for a bad page token.
    """

    def get_memory(self, tenant_id: str, memory_id: str) -> StoredMemory | None: ...

    def get_memories(self, tenant_id: str, memory_ids: Iterable[str]) -> dict[str, StoredMemory]: ...

    def list_memories(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        page_size: int,
        page_token: str | None,
        filter: Node | None = None,  # noqa: A002
    ) -> tuple[list[StoredMemory], str | None]: ...

    def iter_memories(
        self,
        tenant_id: str,
        scope: dict[str, str] | None,
        filter: Node | None = None,  # noqa: A002
    ) -> Iterator[StoredMemory]: ...

    def apply_changes(
        self,
        tenant_id: str,
        changes: Sequence[Change],
        operation_id: str | None = None,
        result: OperationResult | None = None,
    ) -> None: ...

    def list_revisions(self, tenant_id: str, memory_id: str) -> list[Revision]: ...

    def create_operation(
        self, tenant_id: str, operation: Operation, scope: dict[str, str], request: dict[str, Any]
    ) -> None: ...

    def get_operation(self, tenant_id: str, operation_id: str) -> Operation | None: ...

    def get_operation_scope(self, tenant_id: str, operation_id: str) -> dict[str, str]: ...

    def get_blob(self, tenant_id: str, operation_id: str, name: str) -> Any | None: ...

    def put_blob(self, tenant_id: str, operation_id: str, name: str, document: Any) -> None: ...

    def add_usage(self, tenant_id: str, operation_id: str, usage: Usage, now: datetime) -> None: ...

    def finish_operation(
        self,
        tenant_id: str,
        operation_id: str,
        status: OperationStatus,
        now: datetime,
        error: OperationError | None = None,
    ) -> bool: ...

    def put_api_key(self, key_hash: str, tenant_id: str, name: str, now: datetime) -> None: ...

    def get_api_key(self, key_hash: str) -> tuple[str, bool] | None: ...

    def revoke_api_key(self, key_hash: str) -> bool: ...

    def scan_memories(self, tenant_id: str | None = None) -> Iterator[StoredMemory]: ...

    def acquire_lease(self, tenant_id: str, scope_key: str, holder: str, now: datetime, seconds: float) -> bool: ...

    def release_lease(self, tenant_id: str, scope_key: str, holder: str) -> None: ...

    def get_config(self, tenant_id: str) -> dict[str, Any] | None: ...

    def put_config(self, tenant_id: str, config: dict[str, Any], now: datetime) -> None: ...

    def append_session_events(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]: ...

    def list_session_events(self, tenant_id: str, session_id: str) -> list[SessionEvent]: ...

    def delete_session(self, tenant_id: str, session_id: str) -> int: ...

    def expired_keys(self, now: datetime, limit: int) -> list[tuple[str, str]]: ...

    def delete_keys(self, keys: Sequence[tuple[str, str]]) -> None: ...
