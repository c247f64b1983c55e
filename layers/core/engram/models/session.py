"""Short-term memory: the events of a session (``/v1/sessions/{id}/events``), like AgentCore's events
and Vertex AI's session events. Appending is idempotent on ``event_id``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engram.errors import PayloadTooLarge
from engram.models.conversation import MAX_EVENT_ID_CHARS, Content

MAX_APPEND = 100
MAX_EVENT_IMAGE_BYTES = 350_000  # base64 characters of inline data per event (one ≤ 256 KiB image)
MAX_LIST = 1000


class NewSessionEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_EVENT_ID_CHARS,
        description="Client id; re-sending an event with the same id is a no-op.",
    )
    timestamp: datetime | None = Field(default=None, description="When it happened (default: when received).")
    content: Content

    @model_validator(mode="after")
    def _fits_one_item(self) -> NewSessionEvent:
        """An event is one DynamoDB item (≤ 400 KB): at most ``MAX_EVENT_IMAGE_BYTES`` of inline data."""
        size = sum(len(p.inline_data.data) for p in self.content.parts if p.inline_data is not None)
        if size > MAX_EVENT_IMAGE_BYTES:
            raise PayloadTooLarge(
                f"a session event carries {size:,} bytes of base64 image data; the limit is {MAX_EVENT_IMAGE_BYTES:,}"
            )
        return self


class AppendEventsRequest(BaseModel):
    """``POST /v1/sessions/{id}/events``: 1-100 events."""

    model_config = ConfigDict(extra="forbid")

    events: list[NewSessionEvent] = Field(min_length=1, max_length=MAX_APPEND)


class SessionEvent(BaseModel):
    event_id: str
    timestamp: datetime
    content: Content
    expire_time: datetime | None = None


class SessionEventsResponse(BaseModel):
    """Oldest first."""

    events: list[SessionEvent]
