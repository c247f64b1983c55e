"""What the LLM is asked for and must answer (structured outputs), for extraction, consolidation and image
description.

The prompts are built in ``engram.models.prompts``; these schemas are what the model's JSON must match.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from engram.models.base import EngramModel


class CandidateFact(EngramModel):
    """A durable fact the extractor proposes, with its topics and the ids of the events it came from."""

    model_config = ConfigDict(extra="forbid")

    fact: str = Field(description="One self-contained fact, in the third person ('The user ...').")
    topics: list[str] = Field(description="Topic labels from the allowed list.")
    event_ids: list[str] = Field(description="Ids of the conversation events the fact comes from.")


class ExtractionOutput(EngramModel):
    model_config = ConfigDict(extra="forbid")

    facts: list[CandidateFact]


class Decision(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    NOOP = "NOOP"


class ConsolidationDecision(EngramModel):
    """The decision for one candidate.

    - CREATE: store the candidate as a new memory (``memory`` is null).
    - UPDATE: replace existing memory ``memory`` with ``fact`` (the merged or corrected text).
    - DELETE: existing memory ``memory`` is no longer true and nothing replaces it.
    - NOOP: the candidate is already known (``memory`` may name the memory that holds it).
    Ids are the short integers shown in the prompt, never storage ids.
    """

    model_config = ConfigDict(extra="forbid")

    candidate: int = Field(description="Index of the candidate fact.")
    decision: Decision
    memory: int | None = Field(description="Index of the existing memory affected, or null for CREATE.")
    fact: str | None = Field(description="For UPDATE: the new text of the memory; otherwise null.")


class ConsolidationOutput(EngramModel):
    model_config = ConfigDict(extra="forbid")

    decisions: list[ConsolidationDecision]


class ImageDescription(EngramModel):
    """What a vision model says an image of the conversation shows, as text extraction can read."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description="A factual description of the image: what it shows, any readable text in it, and what it "
        "tells about the user. No speculation beyond what is visible."
    )
