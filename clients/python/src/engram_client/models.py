"""The API's shapes as pydantic models (written for the client; they mirror ``docs/openapi.json``).

Responses are parsed into these. Models accept fields they do not know (``extra="allow"``), so a
newer server does not break an older client. Times are timezone-aware ``datetime`` (UTC).

Request arguments accept these models or plain dicts of the same shape.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Metadata values: strings, numbers, booleans, null, or lists of at most 100 strings (each at most 256
# characters; filters match them with $in and $contains).
MetadataValue = str | int | float | bool | list[str] | None
Metadata = dict[str, MetadataValue]
Scope = dict[str, str]
"""A scope: ``{key: value}`` strings, 1-8 keys, matched exactly (e.g. ``{"user_id": "alice"}``)."""

MANAGED_TOPICS = ("USER_PERSONAL_INFO", "USER_PREFERENCES", "KEY_CONVERSATION_DETAILS", "EXPLICIT_INSTRUCTIONS")


class Model(BaseModel):
    """Base of every model: unknown fields are kept (``model_extra``), names are the API's; assigned
    values are validated (``config.custom_topics = [{"label": ..., "description": ...}]`` works)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)


class Source(Model):
    """Provenance: the generation (``operation_id``) and the conversation ``event_ids`` a memory came from;
    for a memory a compression wrote, ``memory_ids``: the memories it replaced (roll those back to undo)."""

    operation_id: str | None = None
    event_ids: list[str] = Field(default_factory=list)
    memory_ids: list[str] = Field(default_factory=list)


class Memory(Model):
    """A memory. ``fact``: its text (≤ 2,000 chars); ``scope``: the exact-match scope; ``expire_time``:
    None = never expires; ``revision_id``: the revision that produced this state."""

    id: str
    scope: Scope
    fact: str
    topics: list[str] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    create_time: datetime
    update_time: datetime
    expire_time: datetime | None = None
    revision_id: str
    source: Source = Field(default_factory=Source)


class ScoredMemory(Model):
    """A retrieved memory. ``score``: hybrid ∈ [0, 1], dense = cosine ∈ [-1, 1], lexical = BM25 (> 0);
    None in list mode and in batch-create responses."""

    memory: Memory
    score: float | None = None


class RetrieveResponse(Model):
    """``POST /v1/memories/retrieve``: best first (search) or newest first (list, with ``next_page_token``)."""

    memories: list[ScoredMemory]
    next_page_token: str | None = None


class BatchCreateResponse(Model):
    """``POST /v1/memories/batch``: the created memories, in request order."""

    memories: list[ScoredMemory]


class PurgeResponse(Model):
    """``POST /v1/memories/purge``: memories deleted (``force``) or that would be (dry run)."""

    purge_count: int


class ArchiveResponse(Model):
    """``POST /v1/memories/archive``: memories moved (or that would be, ``dry_run``); ``done`` false when
    more remain (send the same request again; ``memories.archive`` does)."""

    archive_count: int
    dry_run: bool
    done: bool = True


class DayCounts(Model):
    """Memories created, updated (archived ones included) and deleted on ``date`` (UTC)."""

    date: date
    created: int = 0
    updated: int = 0
    deleted: int = 0


class DayUsage(Model):
    """Generations started on ``date`` (UTC), their LLM calls and tokens, embedding calls, and the estimated
    cost in USD at the server's price table (``Stats.prices``)."""

    date: date
    operations: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    embedding_calls: int = 0
    estimated_cost_usd: float = 0.0


class Stats(Model):
    """``GET /v1/stats``: memories stored (``total``), per topic, per ``group_by`` value (top 50), and per UTC
    day (oldest first, today last): writes (``per_day``) and generation usage (``usage_per_day``)."""

    scope: dict[str, str] | None = None
    days: int
    total: int
    by_topic: dict[str, int] = Field(default_factory=dict)
    group_by: str | None = None
    by_group: dict[str, int] = Field(default_factory=dict)
    by_group_complete: bool = True
    per_day: list[DayCounts] = Field(default_factory=list)
    usage_per_day: list[DayUsage] = Field(default_factory=list)
    prices: dict[str, Any] = Field(default_factory=dict)


class CountResponse(Model):
    """``POST /v1/memories/count``: live (unexpired) memories of the scope matching the filter."""

    count: int


class Revision(Model):
    """One change to a memory. ``action``: ``CREATED``, ``UPDATED`` or ``DELETED``; ``fact``: the text
    after the change (for DELETED, the deleted text); ``previous_fact``: the text before it."""

    id: str
    memory_id: str
    action: str
    fact: str
    previous_fact: str | None = None
    operation_id: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    candidate_facts: list[str] = Field(default_factory=list)
    create_time: datetime
    expire_time: datetime | None = None
    metadata: Metadata = Field(default_factory=dict)
    scope: Scope | None = None
    topics: list[str] = Field(default_factory=list)


class RevisionsResponse(Model):
    """``GET /v1/memories/{id}/revisions``: newest first. ``next_page_token``: more revisions follow (one
    page of a listing; ``Memories.revisions`` follows them all)."""

    revisions: list[Revision]
    next_page_token: str | None = None


class Usage(Model):
    """What a generation cost: LLM calls and tokens, embedding calls."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    embedding_calls: int = 0


class OperationError(Model):
    """Why a generation failed: ``code`` (e.g. ``LLM_UNAVAILABLE``) and ``message``."""

    code: str
    message: str


class GeneratedMemory(Model):
    """One change a generation made. ``action``: ``CREATED``, ``UPDATED`` or ``DELETED`` (then ``memory``
    is the memory as it was before deletion)."""

    memory: Memory
    action: str
    previous_revision_id: str | None = None


class CompressionReport(Model):
    """What a compression did: ``groups`` (parts of more than 40 memories count each), ``groups_compressed``,
    ``groups_skipped`` (left alone: a memory changed meanwhile, or the model's answer was unusable),
    ``memories_before`` / ``memories_after`` (of those matching), and the LLM calls and tokens it took."""

    groups: int = 0
    groups_compressed: int = 0
    groups_skipped: int = 0
    memories_before: int = 0
    memories_after: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class OperationResult(Model):
    """The changes a finished generation made; for a compression, the memories it created (each naming
    the ones it replaced in ``source.memory_ids``) and its ``compression`` report."""

    generated_memories: list[GeneratedMemory] = Field(default_factory=list)
    compression: CompressionReport | None = None


class Operation(Model):
    """A generation. ``status``: ``RUNNING``, ``SUCCEEDED`` (its changes are stored) or ``FAILED`` (nothing
    was stored; ``error`` says why, and starting it again is safe).

    ``index_pending``: on a SUCCEEDED operation, search did not yet return all of its changes when it
    finished (they are stored, and get and list return them; search follows once the index catches up).
    It succeeded: never retry it, that would store its memories twice."""

    id: str
    status: str
    create_time: datetime
    update_time: datetime
    error: OperationError | None = None
    result: OperationResult | None = None
    usage: Usage = Field(default_factory=Usage)
    index_pending: bool = False

    @property
    def done(self) -> bool:
        """True once SUCCEEDED or FAILED."""
        return self.status != "RUNNING"

    @property
    def generated(self) -> list[GeneratedMemory]:
        """The changes it made (empty while running or after a failure)."""
        return self.result.generated_memories if self.result else []

    def raise_for_status(self) -> Operation:
        """Return self, or raise ``OperationFailedError`` if the operation FAILED."""
        if self.status == "FAILED":
            from engram_client.errors import OperationFailedError

            raise OperationFailedError(self)
        return self


class TextPart(Model):
    """A text part of an OpenAI-style message's ``content``."""

    type: str = "text"
    text: str


class Message(Model):
    """An OpenAI-style chat message. ``role``: user, assistant (``model`` accepted), system or tool."""

    role: str
    content: str | list[TextPart]
    name: str | None = None
    event_id: str | None = None


class InlineData(Model):
    """An inline image: ``mime_type`` (image/png, image/jpeg, image/gif, image/webp), ``data`` (base64, ≤ 256 KiB
    decoded), ``caption`` (optional context for the vision model)."""

    mime_type: str
    data: str
    caption: str | None = None


class Part(Model):
    """A part of an event's content: ``text`` or ``inline_data``."""

    text: str | None = None
    inline_data: InlineData | None = None


class Content(Model):
    """An event's content (Memory Bank style): ``role`` and ``parts``."""

    role: str
    parts: list[Part]

    @property
    def text(self) -> str:
        """The text parts joined by newlines."""
        return "\n".join(part.text for part in self.parts if part.text)


class SessionEvent(Model):
    """A stored session event: ``event_id``, ``timestamp`` (when it happened), ``content``."""

    event_id: str
    timestamp: datetime
    content: Content
    expire_time: datetime | None = None


class SessionEventsResponse(Model):
    """Session events, oldest first. ``next_page_token``: more events follow (one page of a listing;
    ``Sessions.list`` follows the pages for you)."""

    events: list[SessionEvent]
    next_page_token: str | None = None


class TruncateSessionResponse(Model):
    """``POST /v1/sessions/{id}/truncate``: events deleted (expired ones included; 0 when nothing was older)."""

    deleted_count: int


class ForgetCounts(Model):
    """What a forget deleted, by kind (``blobs``: the documents stored with the operations;
    ``idempotency_records``: stored responses of requests sent with an ``Idempotency-Key`` that named the
    scope, so a re-send with such a key runs again)."""

    memories: int = 0
    revisions: int = 0
    operations: int = 0
    blobs: int = 0
    session_events: int = 0
    index_documents: int = 0
    idempotency_records: int = 0


class ForgetReceipt(Model):
    """``POST /v1/forget``'s receipt: no content, the scope only as ``scope_hash``; ``completed_at`` is None
    while the forget is in progress."""

    receipt_id: str
    scope_hash: str
    counts: ForgetCounts = Field(default_factory=ForgetCounts)
    requested_at: datetime
    completed_at: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


class CustomTopic(Model):
    """A tenant's own topic: ``label`` (e.g. ``FOOD_PREFERENCES``) and what belongs in it."""

    label: str
    description: str


class ExampleFact(Model):
    """A fact a few-shot example should yield."""

    fact: str
    topics: list[str] = Field(default_factory=list)


class FewShotExample(Model):
    """A conversation and the facts it should yield (``facts: []`` teaches "extract nothing")."""

    conversation: list[Message]
    facts: list[ExampleFact] = Field(default_factory=list)


class TtlConfig(Model):
    """Default lifetimes in seconds (60 s - 10 years); None = never expires."""

    create_ttl_seconds: int | None = None
    generate_created_ttl_seconds: int | None = None
    generate_updated_ttl_seconds: int | None = None
    revision_ttl_seconds: int | None = 31_536_000
    session_event_ttl_seconds: int | None = 7_776_000
    operation_ttl_seconds: int | None = 2_592_000


class TenantConfig(Model):
    """The tenant's configuration: extracted topics, few-shot examples, TTL defaults."""

    managed_topics: list[str] = Field(default_factory=lambda: list(MANAGED_TOPICS))
    custom_topics: list[CustomTopic] = Field(default_factory=list)
    examples: list[FewShotExample] = Field(default_factory=list)
    ttl: TtlConfig = Field(default_factory=TtlConfig)


def to_json(value: Any) -> Any:
    """A request value as JSON data: models dumped with only the fields that were set, recursively."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, datetime):
        return iso_time(value)
    return value


def iso_time(value: datetime | str) -> str:
    """An RFC 3339 string; a naive ``datetime`` is taken as UTC."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()
