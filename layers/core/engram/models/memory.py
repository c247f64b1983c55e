"""Memories, their provenance and the actions generation takes on them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

from engram.models.base import EngramModel
from engram.models.limits import StrictInt, Topic, check_metadata
from engram.models.scope import Scope

MAX_FACT_CHARS = 2000
MAX_TOPICS = 10
MAX_METADATA_KEYS = 20
MAX_METADATA_LIST_ITEMS = 100
MAX_METADATA_ITEM_CHARS = 256

MetadataList = Annotated[
    list[Annotated[str, Field(max_length=MAX_METADATA_ITEM_CHARS)]], Field(max_length=MAX_METADATA_LIST_ITEMS)
]
"""A list-valued metadata entry (tags, participants): 0-100 strings of at most 256 characters each."""


def _one_metadata_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One clear error for a metadata value of no accepted shape (instead of one per union member)."""
    try:
        return handler(value)
    except ValidationError as error:
        raise PydanticCustomError(
            "metadata_value",
            "a metadata value is a string, a number, a boolean, null, or a list of at most "
            f"{MAX_METADATA_LIST_ITEMS} strings of at most {MAX_METADATA_ITEM_CHARS} characters",
        ) from error


MetadataValue = Annotated[str | int | float | bool | MetadataList | None, WrapValidator(_one_metadata_error)]
Metadata = TypeAliasType(
    "Metadata",
    Annotated[
        dict[str, MetadataValue],
        Field(
            description="Free-form metadata: at most 20 keys; values are strings, numbers, booleans, null, or "
            "lists of at most 100 strings (each at most 256 chars), e.g. {'tags': ['python', 'aws']}."
        ),
    ],
)
Labels = TypeAliasType(
    "Labels", Annotated[dict[str, str], Field(description="Labels recorded on a revision: {name: value}.")]
)
NewRevisionLabels = TypeAliasType(
    "NewRevisionLabels",
    Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=63)], Annotated[str, Field(max_length=63)]],
        Field(
            max_length=10,
            description="Up to 10 labels (keys 1-63, values 0-63 characters) recorded on the new memory's revision.",
        ),
    ],
)


class ManagedTopic(StrEnum):
    """The four managed topics of Vertex AI Memory Bank, which Engram extracts by default."""

    USER_PERSONAL_INFO = "USER_PERSONAL_INFO"
    USER_PREFERENCES = "USER_PREFERENCES"
    KEY_CONVERSATION_DETAILS = "KEY_CONVERSATION_DETAILS"
    EXPLICIT_INSTRUCTIONS = "EXPLICIT_INSTRUCTIONS"


TOPIC_DESCRIPTIONS: dict[str, str] = {
    ManagedTopic.USER_PERSONAL_INFO: "Significant personal information about the user: names, relationships, "
    "work, where they live, hobbies, important dates.",
    ManagedTopic.USER_PREFERENCES: "Stated or implied likes, dislikes, preferred styles and patterns.",
    ManagedTopic.KEY_CONVERSATION_DETAILS: "Important milestones or outcomes of the conversation: plans, "
    "decisions, tasks and their results.",
    ManagedTopic.EXPLICIT_INSTRUCTIONS: "Things the user explicitly asks to remember or to forget.",
}


class Action(StrEnum):
    """What generation did to a memory (Memory Bank's ``generated_memories[].action``); a revision's
    action may also be ARCHIVED: the memory was moved to another scope (``POST /v1/memories/archive``)."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    ARCHIVED = "ARCHIVED"


class Source(EngramModel):
    """Provenance: the operation that produced a memory, the conversation events it came from and, for a
    memory a compression wrote (``POST /v1/memories/compress``), the ids of the memories it replaced
    (``memory_ids``; roll those back to undo it)."""

    operation_id: str | None = None
    event_ids: list[str] = Field(default_factory=list)
    memory_ids: list[str] = Field(
        default_factory=list, description="Compression only: the memories this one replaced (deleted)."
    )


class Memory(EngramModel):
    """A memory as the API returns it. Times are RFC 3339 UTC."""

    model_config = ConfigDict(extra="forbid")

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


class StoredMemory(Memory):
    """A memory with what the store keeps beside it: the embedding, its model and the item version."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    embedding: list[float] = Field(default_factory=list, repr=False)
    embedding_model: str = ""
    version: int = 0

    def public(self) -> Memory:
        return Memory.model_validate(self.model_dump(include=set(Memory.model_fields)))


class NewSource(EngramModel):
    """Provenance a client gives a directly created memory: the ids of the events it came from."""

    model_config = ConfigDict(extra="forbid")

    event_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=list, max_length=100)


class NewMemory(EngramModel):
    """The fields of a memory a client may set when creating it directly (``POST /v1/memories``)."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    fact: str = Field(min_length=1, max_length=MAX_FACT_CHARS, description="The memory text, 1-2000 chars.")
    topics: list[Topic] = Field(default_factory=list, max_length=MAX_TOPICS)
    metadata: Metadata = Field(default_factory=dict)
    source: NewSource = Field(default_factory=NewSource, description="Optional provenance: {event_ids}.")
    ttl_seconds: StrictInt | None = Field(
        default=None, ge=60, le=315_360_000, description="Expire after this many seconds (default: tenant config)."
    )
    revision_labels: NewRevisionLabels = Field(default_factory=dict)

    @field_validator("fact")
    @classmethod
    def _strip(cls, fact: str) -> str:
        fact = fact.strip()
        if not fact:
            raise ValueError("fact must not be blank")
        return fact

    @field_validator("metadata")
    @classmethod
    def _bound_metadata(cls, metadata: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        if len(metadata) > MAX_METADATA_KEYS:
            raise ValueError(f"metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed")
        return check_metadata(metadata)  # keys, value sizes, numbers DynamoDB holds (engram.models.limits)


class GeneratedMemory(EngramModel):
    """One change made by a generation (Memory Bank's ``GenerateMemoriesResponse.generated_memories``).

    For DELETED, ``memory`` is the memory as it was before deletion.
    """

    memory: Memory
    action: Action
    previous_revision_id: str | None = None


class ScoredMemory(EngramModel):
    """A retrieved memory. ``score`` is the cosine similarity in [-1, 1] (higher is closer); absent in list mode."""

    memory: Memory
    score: float | None = None


class Revision(EngramModel):
    """An immutable record of one change to a memory.

    ``fact`` is the text after the change (for DELETED: the text that was deleted), ``previous_fact``
    the text before it. ``candidate_facts`` are the facts the extractor proposed in that generation.
    """

    id: str
    memory_id: str
    action: Action
    fact: str
    previous_fact: str | None = None
    operation_id: str | None = None
    labels: Labels = Field(default_factory=dict)
    candidate_facts: list[str] = Field(default_factory=list)
    scope: Scope | None = None
    topics: list[str] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    create_time: datetime
    expire_time: datetime | None = None
