"""Per-tenant configuration (``GET/PUT /v1/config``): topics, few-shot examples and TTL defaults.

Modelled on Vertex AI Memory Bank's customization and TTL configs (managed topics, custom topics
``{label, description}``, ``generate_memories_examples`` where an empty list means "extract nothing
from this kind of talk", ``ttl_config`` with create / generate-created / generate-updated TTLs and a
revision TTL whose default is 365 days).
"""

from __future__ import annotations

import json

from pydantic import ConfigDict, Field, model_validator

from engram.errors import PayloadTooLarge
from engram.models.base import EngramModel
from engram.models.conversation import Message
from engram.models.limits import StrictInt, Topic
from engram.models.memory import MAX_FACT_CHARS, ManagedTopic

DAY = 86_400
MAX_TTL_SECONDS = 10 * 365 * DAY
TtlSeconds = Field(default=None, ge=60, le=MAX_TTL_SECONDS)
#: Bytes the configuration takes stored (JSON, non-ASCII escaped): one DynamoDB item holds 400 KB.
MAX_CONFIG_BYTES = 350_000


class CustomTopic(EngramModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="e.g. FOOD_PREFERENCES")
    description: str = Field(min_length=1, max_length=1000, description="What belongs in this topic.")


class ExampleFact(EngramModel):
    model_config = ConfigDict(extra="forbid")

    fact: str = Field(min_length=1, max_length=MAX_FACT_CHARS)
    topics: list[Topic] = Field(default_factory=list, max_length=10)


class FewShotExample(EngramModel):
    """A conversation and the facts it should yield; ``facts: []`` teaches "extract nothing from this"."""

    model_config = ConfigDict(extra="forbid")

    conversation: list[Message] = Field(min_length=1, max_length=50)
    facts: list[ExampleFact] = Field(default_factory=list, max_length=20)


class TtlConfig(EngramModel):
    """Default lifetimes in seconds (60 s – 10 years); None = never expires.

    - ``create_ttl_seconds``: memories created directly (``POST /v1/memories``, batch).
    - ``generate_created_ttl_seconds``: memories CREATED by generation.
    - ``generate_updated_ttl_seconds``: memories UPDATED by generation (an update resets expiry).
    - ``revision_ttl_seconds``: revisions (default 365 days).
    - ``session_event_ttl_seconds``: short-term session events (default 90 days).
    - ``operation_ttl_seconds``: generation operations with their stored request, source and candidates
      (default 30 days; at least 1 hour, so a running generation is never removed under itself).
    """

    model_config = ConfigDict(extra="forbid")

    create_ttl_seconds: StrictInt | None = TtlSeconds
    generate_created_ttl_seconds: StrictInt | None = TtlSeconds
    generate_updated_ttl_seconds: StrictInt | None = TtlSeconds
    revision_ttl_seconds: StrictInt | None = Field(default=365 * DAY, ge=60, le=MAX_TTL_SECONDS)
    session_event_ttl_seconds: StrictInt | None = Field(default=90 * DAY, ge=60, le=MAX_TTL_SECONDS)
    operation_ttl_seconds: StrictInt | None = Field(default=30 * DAY, ge=3600, le=MAX_TTL_SECONDS)


class TenantConfig(EngramModel):
    """The whole tenant configuration; ``PUT /v1/config`` replaces it."""

    model_config = ConfigDict(extra="forbid")

    managed_topics: list[ManagedTopic] = Field(
        default_factory=lambda: list(ManagedTopic), description="Managed topics extracted; [] turns them off."
    )
    custom_topics: list[CustomTopic] = Field(default_factory=list, max_length=20)
    examples: list[FewShotExample] = Field(default_factory=list, max_length=10)
    ttl: TtlConfig = Field(default_factory=TtlConfig)

    @model_validator(mode="after")
    def _fits_one_item(self) -> TenantConfig:
        """The configuration is one DynamoDB item: at most ``MAX_CONFIG_BYTES`` stored (else 413)."""
        size = len(json.dumps(self.model_dump(mode="json")))
        if size > MAX_CONFIG_BYTES:
            raise PayloadTooLarge(f"the configuration takes {size:,} bytes stored; the limit is {MAX_CONFIG_BYTES:,}")
        return self

    @model_validator(mode="after")
    def _unique_labels(self) -> TenantConfig:
        labels = [str(t) for t in self.managed_topics] + [t.label for t in self.custom_topics]
        if len(labels) != len(set(labels)):
            raise ValueError("topic labels must be unique (custom topics cannot reuse a managed label)")
        known = set(labels)
        for example in self.examples:
            for fact in example.facts:
                unknown = [t for t in fact.topics if t not in known]
                if unknown:
                    raise ValueError(f"example fact uses unknown topics {unknown}")
        return self

    def topic_labels(self) -> list[str]:
        return [str(t) for t in self.managed_topics] + [t.label for t in self.custom_topics]
