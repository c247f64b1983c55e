"""HTTP API request and response bodies. Bounds are enforced here, so a request that
breaks one gets a 422 naming the field before anything is stored."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engram.models.config import MAX_TTL_SECONDS
from engram.models.conversation import MAX_EVENTS, Event, Message, normalize
from engram.models.index import RetrievalMode
from engram.models.memory import MAX_FACT_CHARS, MAX_TOPICS, Metadata, NewMemory, Revision, ScoredMemory
from engram.models.scope import Scope

MAX_FACTS = 40
Filter = Annotated[
    dict[str, Any] | None,
    Field(
        description="Metadata/time filter: {key: value}, $eq $ne $gt $gte $lt $lte $in $nin, $and $or $not "
        "(see engram.models.filters)."
    ),
]

MAX_BATCH = 100
MAX_TOP_K = 100
MAX_WAIT_SECONDS = 25
MAX_QUERY_CHARS = 2000
#: The retrieval mode when a request names none: the best on the LOCOMO benchmark (docs/benchmarks.md).
DEFAULT_RETRIEVAL_MODE: RetrievalMode = "hybrid"


class FactSource(BaseModel):
    """A pre-extracted fact to consolidate (Memory Bank's ``direct_memories_source``)."""

    model_config = ConfigDict(extra="forbid")

    fact: str = Field(min_length=1, max_length=MAX_FACT_CHARS)
    topics: list[str] = Field(default_factory=list, max_length=MAX_TOPICS)


class SessionSource(BaseModel):
    """Events of a session (short-term memory) in ``[start_time, end_time)``; both optional."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=128)
    start_time: datetime | None = None
    end_time: datetime | None = None


class MetadataMergeStrategy(StrEnum):
    """How ``metadata`` of a generate request meets the metadata of memories it consolidates with.

    - ``MERGE`` (default): union; the request's values win on the same key.
    - ``OVERWRITE``: an updated memory's metadata becomes the request's metadata.
    - ``REQUIRE_EXACT_MATCH``: consolidate only with memories whose metadata equals the request's.
    """

    MERGE = "MERGE"
    OVERWRITE = "OVERWRITE"
    REQUIRE_EXACT_MATCH = "REQUIRE_EXACT_MATCH"


RevisionLabels = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=63)], Annotated[str, Field(max_length=63)]],
    Field(max_length=10, description="Up to 10 labels recorded on the revisions this request writes."),
]


class GenerateRequest(BaseModel):
    """``POST /v1/memories/generate``: ``scope`` and exactly one source:

    - ``messages`` (OpenAI style) or ``events`` (Memory Bank style): a conversation to extract from;
    - ``session``: the events of a stored session (``/v1/sessions/{id}/events``) in a time range;
    - ``facts``: pre-extracted facts, consolidated like extracted ones, with no extraction call.

    Options: ``topics`` (extract only these), ``disable_consolidation`` (create every fact as new),
    ``metadata`` with ``metadata_merge_strategy``, ``ttl_seconds`` (60 s–10 years) for the memories it
    creates or updates (else the tenant's defaults), ``revision_labels``, and ``wait_seconds`` (0-25):
    wait up to that long and return the finished operation (200) if it finished in time, else the
    running one (202).
    """

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    messages: list[Message] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    events: list[Event] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    session: SessionSource | None = None
    facts: list[FactSource] | None = Field(default=None, min_length=1, max_length=MAX_FACTS)
    topics: list[str] | None = Field(
        default=None, max_length=MAX_TOPICS, description="Extract only these topics (default: all enabled)."
    )
    disable_consolidation: bool = False
    metadata: Metadata = Field(default_factory=dict)
    metadata_merge_strategy: MetadataMergeStrategy = MetadataMergeStrategy.MERGE
    ttl_seconds: int | None = Field(default=None, ge=60, le=MAX_TTL_SECONDS)
    revision_labels: RevisionLabels = Field(default_factory=dict)
    wait_seconds: float = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        given = [name for name in ("messages", "events", "session", "facts") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one source: 'messages', 'events', 'session' or 'facts'")
        normalize(self.messages, self.events)  # raises on duplicate event ids
        return self


class CreateMemoryRequest(NewMemory):
    """``POST /v1/memories``: create one memory directly, without the LLM."""


class UpdateMemoryRequest(BaseModel):
    """``PATCH /v1/memories/{id}``: only the fields given change. ``ttl_seconds``: a number sets
    ``expire_time`` to now + that many seconds; ``null`` removes the expiry."""

    model_config = ConfigDict(extra="forbid")

    fact: str | None = Field(default=None, min_length=1, max_length=MAX_FACT_CHARS)
    topics: list[str] | None = Field(default=None, max_length=MAX_TOPICS)
    metadata: Metadata | None = None
    ttl_seconds: int | None = Field(default=None, ge=60, le=MAX_TTL_SECONDS)
    revision_labels: RevisionLabels = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something(self) -> UpdateMemoryRequest:
        if not self.model_fields_set - {"revision_labels"}:
            raise ValueError("give at least one of fact, topics, metadata, ttl_seconds")
        if self.fact is not None and not self.fact.strip():
            raise ValueError("fact must not be blank")
        return self


class RollbackRequest(BaseModel):
    """``POST /v1/memories/{id}/rollback``: restore the memory as it was after revision ``revision_id``."""

    model_config = ConfigDict(extra="forbid")

    revision_id: str = Field(min_length=1, max_length=64)
    revision_labels: RevisionLabels = Field(default_factory=dict)


class PurgeRequest(BaseModel):
    """``POST /v1/memories/purge``: delete every memory of ``scope`` (or of the tenant) matching
    ``filter``; at least one of them is required. ``force: false`` (default) only counts."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope | None = None
    filter: Filter = None
    force: bool = False

    @model_validator(mode="after")
    def _bounded(self) -> PurgeRequest:
        if self.scope is None and not self.filter:
            raise ValueError("give a scope, a filter or both (purging a whole tenant needs a filter)")
        return self


class PurgeResponse(BaseModel):
    purge_count: int = Field(description="Memories deleted (force) or that would be deleted (dry run).")


class RevisionsResponse(BaseModel):
    """Newest first."""

    revisions: list[Revision]


class BatchCreateRequest(BaseModel):
    """``POST /v1/memories/batch``: 1-100 memories, embedded in one call."""

    model_config = ConfigDict(extra="forbid")

    memories: list[NewMemory] = Field(min_length=1, max_length=MAX_BATCH)


class BatchCreateResponse(BaseModel):
    memories: list[ScoredMemory] = Field(description="The created memories, in request order (no score).")


class RetrieveRequest(BaseModel):
    """``POST /v1/memories/retrieve``.

    With ``query``: search, the ``top_k`` (1-100, default 10) best memories of ``scope`` by ``mode``:

    - ``hybrid`` (default): words and meaning; ``score`` in [0, 1] is the 0.5/0.5 mean of the min-max
      rescaled BM25 and cosine scores of the two top-``top_k`` lists (a memory found by only one list
      gets that list's rescaled score). Best on the LOCOMO benchmark (``docs/benchmarks.md``).
    - ``dense``: meaning only (k-NN on embeddings); ``score`` is the cosine similarity in [-1, 1].
    - ``lexical``: words only (BM25, English analyzer; no embedding call); ``score`` is the BM25
      relevance (positive, comparable only within one response); only memories sharing a word with
      ``query`` are returned.

    Without ``query``: list mode, newest first, ``page_size`` (1-100, default 10) per page and
    ``page_token`` (``mode`` is ignored). ``topics`` keeps only memories with at least one of these topics.
    """

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    query: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_CHARS)
    mode: RetrievalMode = Field(
        default=DEFAULT_RETRIEVAL_MODE, description="hybrid (default), dense or lexical; see the class docstring."
    )
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K)
    topics: list[str] | None = Field(default=None, max_length=MAX_TOPICS)
    filter: Filter = None
    page_size: int = Field(default=10, ge=1, le=MAX_TOP_K)
    page_token: str | None = Field(default=None, max_length=2048)


class RetrieveResponse(BaseModel):
    memories: list[ScoredMemory]
    next_page_token: str | None = None
