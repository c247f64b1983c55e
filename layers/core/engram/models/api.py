"""HTTP API request and response bodies. Bounds are enforced here, so a request that
breaks one gets a 422 naming the field before anything is stored."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

from engram.models.base import EngramModel
from engram.models.config import MAX_TTL_SECONDS
from engram.models.conversation import MAX_EVENTS, Event, Message, check_event_text, normalize
from engram.models.identifiers import ResourceId, SessionId
from engram.models.index import RetrievalMode
from engram.models.limits import StrictBool, StrictFloat, StrictInt, Topic, check_metadata
from engram.models.memory import MAX_FACT_CHARS, MAX_TOPICS, Metadata, NewMemory, Revision, ScoredMemory
from engram.models.scope import Scope

MAX_FACTS = 40
Filter = TypeAliasType(
    "Filter",
    Annotated[
        dict[str, Any],
        Field(
            description="Metadata/time filter. Each entry must hold: `field: value` (equality) or "
            "`field: {op: value}` with op one of $eq $ne $gt $gte $lt $lte $in $nin $contains ($in/$nin take "
            "a list, $contains a string); `$and`/`$or` take a list of filters, `$not` one filter. A field is a "
            "metadata key (or `metadata.<key>`), `create_time` or `update_time` (RFC 3339). On a list-valued "
            "key, $in matches when any item is one of the values and $contains when one item is the string; "
            "a list equals no single value, and null matches no value. "
            'Example: {"lang": {"$in": ["en", "pt"]}, "create_time": {"$gte": "2026-01-01T00:00:00Z"}}.'
        ),
    ],
)

MAX_BATCH = 100
MAX_TOP_K = 100
#: Revisions per page of ``GET /v1/memories/{id}/revisions`` (at most, and the default).
MAX_REVISIONS_PAGE = 100
MAX_WAIT_SECONDS = 25
MAX_QUERY_CHARS = 2000
#: The largest ``max_tokens`` a generate request may ask of the extraction call (40 facts of 2,000
#: characters fit well below it; models cap their own output lower or higher).
MAX_EXTRACTION_TOKENS = 32_768
#: The retrieval mode when a request names none: the best on the LOCOMO benchmark (docs/benchmarks.md).
DEFAULT_RETRIEVAL_MODE: RetrievalMode = "hybrid"


class FactSource(EngramModel):
    """A pre-extracted fact to consolidate (Memory Bank's ``direct_memories_source``)."""

    model_config = ConfigDict(extra="forbid")

    fact: str = Field(min_length=1, max_length=MAX_FACT_CHARS)
    topics: list[Topic] = Field(default_factory=list, max_length=MAX_TOPICS)


class SessionSource(EngramModel):
    """Events of a session (short-term memory) in ``[start_time, end_time)``; both optional, with a
    time zone (RFC 3339)."""

    model_config = ConfigDict(extra="forbid")

    session_id: SessionId
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None


class MetadataMergeStrategy(StrEnum):
    """How ``metadata`` of a generate request meets the metadata of memories it consolidates with.

    - ``MERGE`` (default): union; the request's values win on the same key.
    - ``OVERWRITE``: an updated memory's metadata becomes the request's metadata.
    - ``REQUIRE_EXACT_MATCH``: consolidate only with memories whose metadata equals the request's.
    """

    MERGE = "MERGE"
    OVERWRITE = "OVERWRITE"
    REQUIRE_EXACT_MATCH = "REQUIRE_EXACT_MATCH"


RevisionLabels = TypeAliasType(
    "RevisionLabels",
    Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=63)], Annotated[str, Field(max_length=63)]],
        Field(max_length=10, description="Up to 10 labels recorded on the revisions this request writes."),
    ],
)


def _one_user_message(value: Any) -> Any:
    """A plain string given as ``messages`` is one user message; a blank one is refused (422)."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("messages is a blank string; give the user's text or a list of messages")
        return [{"role": "user", "content": value}]
    return value


Messages = Annotated[list[Message], BeforeValidator(_one_user_message, json_schema_input_type=str | list[Message])]
"""Generate's ``messages``: a list of OpenAI-style messages, or a string standing for one user message."""


class GenerateRequest(EngramModel):
    """``POST /v1/memories/generate``: ``scope`` and exactly one source:

    - ``messages`` (OpenAI style) or ``events`` (Memory Bank style): a conversation to extract from;
    - ``session``: the events of a stored session (``/v1/sessions/{id}/events``) in a time range;
    - ``facts``: pre-extracted facts, consolidated like extracted ones, with no extraction call.

    Options: ``topics`` (extract only these), ``disable_consolidation`` (create every fact as new),
    ``metadata`` with ``metadata_merge_strategy``, ``ttl_seconds`` (60 s–10 years) for the memories it
    creates or updates (else the tenant's defaults), ``revision_labels``, and ``wait_seconds`` (0-25):
    wait up to that long and return the finished operation (200) if it finished in time, else the
    running one (202). ``temperature`` (0-2, default 0) and ``max_tokens`` (1-32,768, default the
    model's limit) go to the extraction call (an OpenAI-compatible model; the offline extractor ignores
    them); a ``max_tokens`` too small for the answer fails the operation (``LLMOutputInvalid``).
    """

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    messages: Messages | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EVENTS,
        description="1-500 OpenAI-style messages, or a string: one user message.",
    )
    events: list[Event] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    session: SessionSource | None = None
    facts: list[FactSource] | None = Field(default=None, min_length=1, max_length=MAX_FACTS)
    topics: list[Topic] | None = Field(
        default=None, max_length=MAX_TOPICS, description="Extract only these topics (default: all enabled)."
    )
    disable_consolidation: StrictBool = False
    metadata: Metadata = Field(default_factory=dict)
    metadata_merge_strategy: MetadataMergeStrategy = MetadataMergeStrategy.MERGE
    ttl_seconds: StrictInt | None = Field(default=None, ge=60, le=MAX_TTL_SECONDS)
    revision_labels: RevisionLabels = Field(default_factory=dict)
    wait_seconds: StrictFloat = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)
    temperature: StrictFloat | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Sampling temperature of the extraction call, 0-2 (default: 0, the most deterministic).",
    )
    max_tokens: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_EXTRACTION_TOKENS,
        description="Most tokens the extraction call may answer with, 1-32768 (default: the model's limit). "
        "Too few for the answer makes the operation FAILED with LLMOutputInvalid.",
    )

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(metadata)  # keys, value sizes, numbers DynamoDB holds (engram.models.limits)

    @field_validator("events")
    @classmethod
    def _bound_event_text(cls, events: list[Event] | None) -> list[Event] | None:
        for position, event in enumerate(events or []):
            check_event_text(event.text(), f"events[{position}]")
        return events

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        given = [name for name in ("messages", "events", "session", "facts") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one source: 'messages', 'events', 'session' or 'facts'")
        normalize(self.messages, self.events)  # raises on duplicate event ids
        return self


class CreateMemoryRequest(NewMemory):
    """``POST /v1/memories``: create one memory directly, without the LLM."""


class MetadataUpdateStrategy(StrEnum):
    """How the ``metadata`` of a PATCH meets the memory's metadata.

    - ``MERGE`` (default): the keys given replace those keys, the others stay; a key given as ``null``
      stores ``null`` (it is not removed). The merged map must keep the metadata limits (422).
    - ``OVERWRITE``: the memory's metadata becomes exactly the map given (``{}`` clears it); the way to
      remove keys.
    """

    MERGE = "MERGE"
    OVERWRITE = "OVERWRITE"


class UpdateMemoryRequest(EngramModel):
    """``PATCH /v1/memories/{id}``: only the fields given change. ``ttl_seconds``: a number sets
    ``expire_time`` to now + that many seconds; ``null`` removes the expiry. ``metadata`` is merged
    into the memory's by default; ``metadata_merge_strategy: OVERWRITE`` replaces it
    (``MetadataUpdateStrategy``)."""

    model_config = ConfigDict(extra="forbid")

    fact: str | None = Field(default=None, min_length=1, max_length=MAX_FACT_CHARS)
    topics: list[Topic] | None = Field(default=None, max_length=MAX_TOPICS)
    metadata: Metadata | None = None
    metadata_merge_strategy: MetadataUpdateStrategy = Field(
        default=MetadataUpdateStrategy.MERGE,
        description="MERGE (default): the keys given replace those keys, the others stay (null stores null); "
        "OVERWRITE: the metadata becomes the map given.",
    )
    ttl_seconds: StrictInt | None = Field(default=None, ge=60, le=MAX_TTL_SECONDS)
    revision_labels: RevisionLabels = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if metadata is None else check_metadata(metadata)

    @model_validator(mode="after")
    def _something(self) -> UpdateMemoryRequest:
        if not self.model_fields_set - {"revision_labels", "metadata_merge_strategy"}:
            raise ValueError("give at least one of fact, topics, metadata, ttl_seconds")
        if "metadata_merge_strategy" in self.model_fields_set and self.metadata is None:
            raise ValueError("metadata_merge_strategy applies to metadata: give metadata too")
        if self.fact is not None and not self.fact.strip():
            raise ValueError("fact must not be blank")
        return self


class RollbackRequest(EngramModel):
    """``POST /v1/memories/{id}/rollback``: restore the memory as it was after revision ``revision_id``."""

    model_config = ConfigDict(extra="forbid")

    revision_id: ResourceId
    revision_labels: RevisionLabels = Field(default_factory=dict)


class PurgeRequest(EngramModel):
    """``POST /v1/memories/purge``: delete every memory of ``scope`` (or of the tenant) matching
    ``filter``; at least one of them is required. ``force: false`` (default) only counts."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope | None = None
    filter: Filter | None = None
    force: StrictBool = False

    @model_validator(mode="after")
    def _bounded(self) -> PurgeRequest:
        if self.scope is None and not self.filter:
            raise ValueError("give a scope, a filter or both (purging a whole tenant needs a filter)")
        return self


class PurgeResponse(EngramModel):
    purge_count: int = Field(description="Memories deleted (force) or that would be deleted (dry run).")


class CountRequest(EngramModel):
    """``POST /v1/memories/count``: how many live (unexpired) memories of ``scope`` match ``filter``
    (none: all of them). Reads like list mode: a memory written a moment ago may not be counted yet."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    filter: Filter | None = None


class CountResponse(EngramModel):
    count: int = Field(description="Live memories of the scope matching the filter (expired ones are not counted).")


class RevisionsResponse(EngramModel):
    """Newest first. ``next_page_token``: more revisions follow; pass it as ``page_token``."""

    revisions: list[Revision]
    next_page_token: str | None = None


class BatchCreateRequest(EngramModel):
    """``POST /v1/memories/batch``: 1-100 memories, embedded in one call."""

    model_config = ConfigDict(extra="forbid")

    memories: list[NewMemory] = Field(min_length=1, max_length=MAX_BATCH)


class BatchCreateResponse(EngramModel):
    memories: list[ScoredMemory] = Field(description="The created memories, in request order (no score).")


class RetrieveRequest(EngramModel):
    """``POST /v1/memories/retrieve``.

    With ``query``: search, the ``top_k`` (1-100, default 10) best memories of ``scope`` by ``mode``:

    - ``hybrid`` (default): words and meaning; ``score`` in [0, 1] is the weighted mean of the min-max
      rescaled BM25 and cosine scores of each list's top ``max(50, 5·top_k)`` (a list that missed a
      memory counts 0, as OpenSearch's normalization processor does), with weights per embedding model
      chosen on LOCOMO (``engram.models.ranking``; ``docs/benchmarks.md``). Never worse than lexical
      at R@10 there with either embedder Engram ships.
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
    top_k: StrictInt = Field(default=10, ge=1, le=MAX_TOP_K)
    topics: list[Topic] | None = Field(default=None, max_length=MAX_TOPICS)
    filter: Filter | None = None
    page_size: StrictInt = Field(default=10, ge=1, le=MAX_TOP_K)
    page_token: str | None = Field(
        default=None,
        max_length=2048,
        description="The next_page_token of the previous page: opaque and signed, accepted only for the same "
        "tenant, scope and filter (else 400).",
    )


class RetrieveResponse(EngramModel):
    memories: list[ScoredMemory]
    next_page_token: str | None = None


class ErrorDetail(EngramModel):
    code: str = Field(description="Stable machine-readable code, e.g. NOT_FOUND, INVALID_ARGUMENT, CONFLICT.")
    message: str = Field(description="What went wrong, for people; never a stack trace.")


class Error(EngramModel):
    """The body of every error answer, 4xx or 5xx: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail
