"""HTTP API request and response bodies (DESIGN.md §3). Bounds are enforced here, so a request that
breaks one gets a 422 naming the field before anything is stored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engram.models.conversation import MAX_EVENTS, Event, Message, normalize
from engram.models.memory import MAX_TOPICS, Metadata, NewMemory, ScoredMemory
from engram.models.scope import Scope

MAX_BATCH = 100
MAX_TOP_K = 100
MAX_WAIT_SECONDS = 25
MAX_QUERY_CHARS = 2000


class GenerateRequest(BaseModel):
    """``POST /v1/memories/generate``: ``scope`` and exactly one source (``messages`` or ``events``).

    ``wait_seconds`` (0-25, default 0): wait up to that long and return the finished operation (200)
    if it finished in time, else the running one (202).
    """

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    messages: list[Message] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    events: list[Event] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    topics: list[str] | None = Field(
        default=None, max_length=MAX_TOPICS, description="Extract only these topics (default: all enabled)."
    )
    metadata: Metadata = Field(default_factory=dict)
    wait_seconds: float = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        if (self.messages is None) == (self.events is None):
            raise ValueError("give exactly one source: 'messages' or 'events'")
        normalize(self.messages, self.events)  # raises on duplicate event ids
        return self


class CreateMemoryRequest(NewMemory):
    """``POST /v1/memories``: create one memory directly, without the LLM."""


class BatchCreateRequest(BaseModel):
    """``POST /v1/memories/batch``: 1-100 memories, embedded in one call."""

    model_config = ConfigDict(extra="forbid")

    memories: list[NewMemory] = Field(min_length=1, max_length=MAX_BATCH)


class BatchCreateResponse(BaseModel):
    memories: list[ScoredMemory] = Field(description="The created memories, in request order (no score).")


class RetrieveRequest(BaseModel):
    """``POST /v1/memories/retrieve``.

    With ``query``: similarity search, the ``top_k`` (1-100, default 10) nearest memories of ``scope``.
    Without: list mode, newest first, ``page_size`` (1-100, default 10) per page and ``page_token``.
    ``topics`` keeps only memories with at least one of these topics.
    """

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    query: str | None = Field(default=None, min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K)
    topics: list[str] | None = Field(default=None, max_length=MAX_TOPICS)
    page_size: int = Field(default=10, ge=1, le=MAX_TOP_K)
    page_token: str | None = None


class RetrieveResponse(BaseModel):
    memories: list[ScoredMemory]
    next_page_token: str | None = None
