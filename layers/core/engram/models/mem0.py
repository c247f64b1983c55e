"""Request and response bodies of the mem0-compatible surface (``/mem0``, ``engram.api.mem0``): the wire of
mem0's hosted platform as the ``mem0ai`` 2.2.1 ``MemoryClient`` speaks it, mapped onto Engram's own models.

Entities are scope keys: ``user_id``, ``agent_id``, ``app_id`` and ``run_id`` of a request form the
Engram scope (``{"user_id": "1", "agent_id": "a"}``), matched exactly as everywhere in Engram. What the
client may send but Engram cannot honour is refused with 422 naming it (``UNSUPPORTED``); a field no
mem0 client sends is refused as an unknown field (``extra="forbid"``). Limits are Engram's: 1-100 results
per page or search, 1-100 memories per batch, facts of at most 2,000 characters, Engram's metadata rules.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, RootModel, field_validator, model_validator
from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

from engram.models.api import MAX_BATCH, MAX_QUERY_CHARS, MAX_TOP_K
from engram.models.base import EngramModel
from engram.models.conversation import MAX_EVENTS, Message
from engram.models.identifiers import RESOURCE_ID_PATTERN
from engram.models.limits import StrictBool, StrictFloat, StrictInt, Topic, check_metadata
from engram.models.memory import MAX_FACT_CHARS, MAX_TOPICS, Metadata
from engram.models.scope import MAX_SCOPE_VALUE_CHARS

#: mem0's entities, each a scope key of the same name; the entity routes name them by type.
ENTITY_KEYS = ("user_id", "agent_id", "app_id", "run_id")
ENTITY_TYPES = {"user": "user_id", "agent": "agent_id", "app": "app_id", "run": "run_id"}
ENTITY_TYPE_PATTERN = "^(user|agent|app|run)$"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE = 1_000_000

EntityId = Annotated[str, Field(min_length=1, max_length=MAX_SCOPE_VALUE_CHARS)]
MemoryRef = Annotated[str, Field(pattern=RESOURCE_ID_PATTERN, max_length=64)]

Mem0Filters = TypeAliasType(
    "Mem0Filters",
    Annotated[
        dict[str, Any],
        Field(
            description="mem0 filters: `user_id` / `agent_id` / `app_id` / `run_id` (a string: the memory's scope, "
            "matched exactly; at least one), `AND` / `OR` / `NOT` lists, `metadata` ({key: value} or "
            "{key: {eq|ne|gt|gte|lt|lte|in|nin: value}}), `created_at` / `updated_at` ({gte|gt|lte|lt: "
            "YYYY-MM-DD (a UTC day) or an RFC 3339 time with a zone}), `categories` ({in: [...]}: Engram "
            "topics). Entities inside OR / NOT, `*`, `in` on an entity, `contains` / `icontains` and any other "
            "key are refused with 422 naming them (docs/mem0.md)."
        ),
    ],
)


def _refuse(data: Any, unsupported: dict[str, str]) -> Any:
    """Raise ``ValueError`` (422) naming the first field of ``unsupported`` that ``data`` gives with a value
    other than null/false; ``unsupported`` maps a field to why Engram cannot honour it."""
    if isinstance(data, dict):
        for name, reason in unsupported.items():
            if data.get(name) not in (None, False):
                raise ValueError(f"{name} is not supported by Engram's mem0 surface: {reason}")
    return data


class Mem0AddRequest(EngramModel):
    """``POST /mem0/v3/memories/add/``: ``messages`` (1-500 OpenAI-style messages), the entities at the top
    level and/or as ``filters`` (equalities only), ``metadata``, ``infer`` (default true: extract memories
    with Engram's generation; false: store each non-system message's text as a memory, at most 100 of
    2,000 characters), ``async_mode`` (default true: answer at once with the operation id as ``event_id``;
    false: wait up to 25 s for the generation), ``expiration_date`` (YYYY-MM-DD: the memories expire at
    the end of that UTC day)."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1, max_length=MAX_EVENTS)
    user_id: EntityId | None = None
    agent_id: EntityId | None = None
    app_id: EntityId | None = None
    run_id: EntityId | None = None
    filters: Mem0Filters | None = None
    metadata: Metadata | None = None
    infer: StrictBool = True
    async_mode: StrictBool = True
    expiration_date: date | None = None
    output_format: str | None = Field(default=None, pattern=r"^v1\.1$", description="Only v1.1 (the default).")

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if metadata is None else check_metadata(metadata)  # Engram's limits (engram.models.limits)

    @model_validator(mode="before")
    @classmethod
    def _supported(cls, data: Any) -> Any:
        return _refuse(
            data,
            {
                "custom_instructions": "Engram's extraction is configured per tenant (PUT /v1/config: topics, examples)",
                "agent_custom_instructions": "Engram's extraction is configured per tenant (PUT /v1/config)",
                "custom_categories": "categories are Engram topics, configured per tenant (PUT /v1/config)",
                "includes": "Engram's extraction is configured per tenant (PUT /v1/config)",
                "excludes": "Engram's extraction is configured per tenant (PUT /v1/config)",
                "timestamp": "Engram sets created_at when it stores a memory",
                "enable_graph": "Engram has no graph memory",
                "immutable": "every Engram memory may be updated",
                "structured_data_schema": "Engram stores text facts",
                "prompt_profile_id": "Engram's extraction is configured per tenant (PUT /v1/config)",
            },
        )

    @model_validator(mode="after")
    def _storable(self) -> Mem0AddRequest:
        if self.infer:
            return self
        texts = [m for m in self.messages if m.role != "system"]
        if not texts:
            raise ValueError("with infer false, give at least one message that is not a system message")
        if len(texts) > MAX_BATCH:
            raise ValueError(f"with infer false, at most {MAX_BATCH} messages (each becomes a memory)")
        for position, message in enumerate(self.messages):
            text = message.text().strip()
            if message.role != "system" and not 1 <= len(text) <= MAX_FACT_CHARS:
                raise ValueError(
                    f"messages[{position}]: with infer false its text becomes a memory: 1-{MAX_FACT_CHARS} characters"
                )
        return self


class Mem0ListRequest(EngramModel):
    """``POST /mem0/v3/memories/``: ``filters`` (required; see ``Mem0Filters``), ``start_date`` / ``end_date``
    (created on or after / on or before, YYYY-MM-DD in UTC), ``categories`` (any of these topics). ``page``
    (1-1,000,000, default 1) and ``page_size`` (1-100, default 100) may also be query parameters, which win."""

    model_config = ConfigDict(extra="forbid")

    filters: Mem0Filters
    page: StrictInt | None = Field(default=None, ge=1, le=MAX_PAGE)
    page_size: StrictInt | None = Field(default=None, ge=1, le=MAX_TOP_K)
    start_date: date | None = None
    end_date: date | None = None
    categories: list[Topic] | None = Field(default=None, min_length=1, max_length=MAX_TOPICS)
    show_expired: StrictBool = False
    latest_only: StrictBool | None = Field(
        default=None, description="Accepted: Engram changes memories in place, so every memory listed is the latest."
    )

    @model_validator(mode="before")
    @classmethod
    def _supported(cls, data: Any) -> Any:
        return _refuse(
            data,
            {
                "show_expired": "Engram never returns an expired memory",
                "fields": "Engram returns every field",
                "keywords": "list has no text filter; search with a query (POST /mem0/v3/memories/search/)",
            },
        )


class Mem0SearchRequest(EngramModel):
    """``POST /mem0/v3/memories/search/``: ``query`` (1-2,000 characters), ``filters`` (required), ``top_k``
    (1-100, default 10), ``threshold`` (keep results with an Engram score at least this), ``keyword_search``
    (true: Engram's lexical mode; default: hybrid), ``categories`` (any of these topics), ``metadata``
    (equalities, added to the filters)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    filters: Mem0Filters
    top_k: StrictInt = Field(default=10, ge=1, le=MAX_TOP_K)
    threshold: StrictFloat | None = Field(default=None, ge=0, le=1)
    rerank: StrictBool = False
    keyword_search: StrictBool = False
    categories: list[Topic] | None = Field(default=None, min_length=1, max_length=MAX_TOPICS)
    metadata: Metadata | None = None
    show_expired: StrictBool = False
    latest_only: StrictBool | None = Field(
        default=None, description="Accepted: Engram changes memories in place, so every memory found is the latest."
    )

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if metadata is None else check_metadata(metadata)  # Engram's limits (engram.models.limits)

    @model_validator(mode="before")
    @classmethod
    def _supported(cls, data: Any) -> Any:
        return _refuse(
            data,
            {
                "rerank": "Engram ranks by its retrieval mode (hybrid, or lexical with keyword_search)",
                "show_expired": "Engram never returns an expired memory",
                "reference_date": "Engram's search has no temporal reasoning",
                "fields": "Engram returns every field",
            },
        )


class Mem0UpdateRequest(EngramModel):
    """``PUT /mem0/v1/memories/{id}/``: ``text`` (1-2,000 characters; re-embedded), ``metadata`` (replaces
    the memory's metadata), ``expiration_date`` (YYYY-MM-DD: expires at the end of that UTC day; null
    removes the expiry). At least one of them."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=MAX_FACT_CHARS)
    metadata: Metadata | None = None
    expiration_date: date | None = None

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if metadata is None else check_metadata(metadata)  # Engram's limits (engram.models.limits)

    @model_validator(mode="before")
    @classmethod
    def _supported(cls, data: Any) -> Any:
        return _refuse(data, {"timestamp": "Engram keeps the time a memory was created"})

    @model_validator(mode="after")
    def _something(self) -> Mem0UpdateRequest:
        if not self.model_fields_set & {"text", "metadata", "expiration_date"}:
            raise ValueError("give at least one of text, metadata, expiration_date")
        if self.text is not None and not self.text.strip():
            raise ValueError("text must not be blank")
        return self


class Mem0BatchUpdateItem(EngramModel):
    """One memory of a batch update: ``memory_id`` and at least one of ``text``, ``metadata`` (replaces)."""

    model_config = ConfigDict(extra="forbid")

    memory_id: MemoryRef
    text: str | None = Field(default=None, min_length=1, max_length=MAX_FACT_CHARS)
    metadata: Metadata | None = None

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if metadata is None else check_metadata(metadata)  # Engram's limits (engram.models.limits)

    @model_validator(mode="after")
    def _something(self) -> Mem0BatchUpdateItem:
        if self.text is None and self.metadata is None:
            raise ValueError(f"memory {self.memory_id}: give text, metadata or both")
        if self.text is not None and not self.text.strip():
            raise ValueError(f"memory {self.memory_id}: text must not be blank")
        return self


class Mem0BatchUpdateRequest(EngramModel):
    """``PUT /mem0/v1/batch/``: 1-100 memories to update."""

    model_config = ConfigDict(extra="forbid")

    memories: list[Mem0BatchUpdateItem] = Field(min_length=1, max_length=MAX_BATCH)


class Mem0BatchDeleteItem(EngramModel):
    model_config = ConfigDict(extra="forbid")

    memory_id: MemoryRef


class Mem0BatchDeleteRequest(EngramModel):
    """``DELETE /mem0/v1/batch/``: 1-100 memories to delete."""

    model_config = ConfigDict(extra="forbid")

    memories: list[Mem0BatchDeleteItem] = Field(min_length=1, max_length=MAX_BATCH)


# --- responses ----------------------------------------------------------------------------------------


class Mem0Ping(EngramModel):
    """The key check's answer: the tenant is both the organisation and its one project."""

    status: str = "ok"
    org_id: str
    project_id: str
    user_email: str | None = Field(default=None, description="Always null: Engram keys belong to tenants, not people.")


class Mem0Memory(EngramModel):
    """A memory in mem0's shape. ``memory`` is Engram's fact, ``categories`` its topics, the entities its
    scope's keys of those names (null when absent), ``expiration_date`` the UTC day of its expiry."""

    id: str
    memory: str
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    categories: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    expiration_date: date | None = None


class Mem0ScoredMemory(Mem0Memory):
    """A search result: ``score`` is Engram's (hybrid: in [0, 1]; lexical: BM25, positive)."""

    score: float | None = None


class Mem0SearchResponse(EngramModel):
    results: list[Mem0ScoredMemory]


class Mem0Page(EngramModel):
    """One page of a list, newest first. ``next`` / ``previous`` are query strings relative to the request's
    URL (``?page=3&page_size=10``), or null."""

    count: int = Field(description="How many memories match, on every page.")
    next: str | None = None
    previous: str | None = None
    results: list[Mem0Memory]


class Mem0EventData(EngramModel):
    memory: str


class Mem0AddEvent(EngramModel):
    """One change an add made: ``event`` is ADD, UPDATE or DELETE (for DELETE, ``memory`` is the text deleted)."""

    id: str
    event: str
    memory: str
    data: Mem0EventData


class Mem0AddResponse(EngramModel):
    """``status``: SUCCEEDED (``results`` lists the changes), PENDING (a generation still running: ``results``
    is empty; ``event_id`` is its Engram operation id, ``GET /v1/operations/{id}``) or FAILED (``message``
    says why; nothing was stored)."""

    results: list[Mem0AddEvent] = Field(default_factory=list)
    status: str
    event_id: str | None = None
    message: str


class Mem0Message(EngramModel):
    message: str


class Mem0DeleteResponse(EngramModel):
    message: str
    deleted_count: int = Field(description="How many memories were deleted.")


class Mem0DeleteOneResponse(EngramModel):
    message: str
    cascade_count: int | None = Field(
        default=None, description="With delete_linked: always 0 (Engram changes memories in place; none is linked)."
    )


class Mem0HistoryEntry(EngramModel):
    """One revision: ``event`` ADD, UPDATE or DELETE; ``old_memory`` / ``new_memory`` the text before and
    after (null when there is none)."""

    id: str
    memory_id: str
    event: str
    old_memory: str | None = None
    new_memory: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None
    categories: list[str] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    input: list[Message] = Field(default_factory=list, description="Always empty: see the operation of the change.")
    is_deleted: bool = False
    created_at: datetime
    updated_at: datetime


class Mem0History(RootModel, EngramModel):
    """A memory's revisions, oldest first (also after it was deleted)."""

    # A ``root`` field, not ``RootModel[list[Mem0HistoryEntry]]``: parametrizing the generic builds a
    # validator when this module is imported; as an ``EngramModel`` it is built on first use.
    root: list[Mem0HistoryEntry]


class Mem0Entity(EngramModel):
    """An entity: a value of ``type``'s scope key (``user`` → ``user_id``) on at least one live memory."""

    id: str = Field(description="'<type>:<name>'.")
    name: str
    type: str = Field(description="user, agent, app or run.")
    total_memories: int
    created_at: datetime = Field(description="When its oldest live memory was created.")
    updated_at: datetime = Field(description="When its most recently changed live memory was changed.")
    owner: str = Field(description="The tenant.")
    metadata: None = None


class Mem0Entities(EngramModel):
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[Mem0Entity]
    total_users: int = 0
    total_agents: int = 0
    total_apps: int = 0
    total_runs: int = 0
