"""Short-term memory: the events of a session (``/v1/sessions/{id}/events``), like AgentCore's events
and Vertex AI's session events. Appending is idempotent on ``event_id``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, ConfigDict, Discriminator, Field, Tag, model_validator

from engram.errors import PayloadTooLarge
from engram.models.base import EngramModel
from engram.models.conversation import ChatRole, Content, Message, Part, check_event_text
from engram.models.identifiers import EventId
from engram.models.limits import StrictInt

MAX_APPEND = 100
MAX_EVENT_IMAGE_BYTES = 350_000  # base64 characters of inline data per event (one ≤ 256 KiB image)
#: Bytes an event's content takes stored (JSON, non-ASCII escaped): one DynamoDB item holds 400 KB.
MAX_EVENT_ITEM_BYTES = 400_000
MAX_LIST = 1000
MAX_KEEP_LAST = 1_000_000


class NewSessionEvent(EngramModel):
    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = Field(
        default=None,
        description="Client id; re-sending an event with the same id is a no-op. 1-128 characters: letters, "
        "digits, '.', '_', ':', '-', starting with a letter or digit.",
    )
    timestamp: AwareDatetime | None = Field(
        default=None, description="When it happened, with a time zone (default: when received)."
    )
    content: Content

    @model_validator(mode="after")
    def _fits_one_item(self) -> NewSessionEvent:
        """An event is one DynamoDB item (≤ 400 KB): text of at most ``MAX_EVENT_TEXT_CHARS`` characters
        (422), at most ``MAX_EVENT_IMAGE_BYTES`` of inline data and ``MAX_EVENT_ITEM_BYTES`` stored (413)."""
        check_event_text("\n".join(p.text for p in self.content.parts if p.text is not None), "a session event")
        size = sum(len(p.inline_data.data) for p in self.content.parts if p.inline_data is not None)
        if size > MAX_EVENT_IMAGE_BYTES:
            raise PayloadTooLarge(
                f"a session event carries {size:,} bytes of base64 image data; the limit is {MAX_EVENT_IMAGE_BYTES:,}"
            )
        stored = len(json.dumps(self.content.model_dump(mode="json", exclude_none=True)))
        if stored > MAX_EVENT_ITEM_BYTES:
            raise PayloadTooLarge(
                f"a session event takes {stored:,} bytes stored; the limit is {MAX_EVENT_ITEM_BYTES:,}"
            )
        return self


class SessionMessage(Message):
    """An OpenAI-style chat message appended as a session event: ``{"role", "content", "event_id"?,
    "timestamp"?}``, ``content`` a text or a list of ``{"type": "text", "text"}`` parts. It is stored as
    the event ``{"content": {"role", "parts": [{"text"}]}}`` (one text part: the parts' texts joined
    by newlines), which is how listing returns it. ``name`` is accepted and not kept; other keys are a
    422, as in generate's ``messages``."""

    role: ChatRole
    event_id: EventId | None = Field(
        default=None,
        description="Client id; re-sending an event with the same id is a no-op. 1-128 characters: letters, "
        "digits, '.', '_', ':', '-', starting with a letter or digit.",
    )
    timestamp: AwareDatetime | None = Field(
        default=None, description="When it happened, with a time zone (default: when received)."
    )

    def to_event(self) -> NewSessionEvent:
        """The event this message is stored as."""
        content = Content(role=self.role, parts=[Part(text=self.text())])
        return NewSessionEvent(event_id=self.event_id, timestamp=self.timestamp, content=content)


def _event_shape(value: Any) -> str:
    """``message`` for an OpenAI-style ``{role, content}``, else ``event`` (``{content: {role, parts}}``)."""
    role = value.get("role") if isinstance(value, dict) else getattr(value, "role", None)
    return "message" if role is not None else "event"


AppendedEvent = Annotated[
    Annotated[NewSessionEvent, Tag("event")] | Annotated[SessionMessage, Tag("message")],
    Discriminator(_event_shape),
]
"""An item of an append: an event (``{"content": {"role", "parts"}}``) or, told apart by its top-level
``role``, an OpenAI-style message (``{"role", "content"}``)."""


class AppendEventsRequest(EngramModel):
    """``POST /v1/sessions/{id}/events``: 1-100 events, each in the Memory Bank shape
    (``{"content": {"role", "parts"}}``) or as an OpenAI-style message (``{"role", "content"}``)."""

    model_config = ConfigDict(extra="forbid")

    events: list[AppendedEvent] = Field(min_length=1, max_length=MAX_APPEND)

    def new_events(self) -> list[NewSessionEvent]:
        """The events in order, messages turned into the events they are stored as."""
        return [e.to_event() if isinstance(e, SessionMessage) else e for e in self.events]


class TruncateSessionRequest(EngramModel):
    """``POST /v1/sessions/{id}/truncate``: keep the last ``keep_last`` events (0 keeps none)."""

    model_config = ConfigDict(extra="forbid")

    keep_last: StrictInt = Field(
        ge=0, le=MAX_KEEP_LAST, description="How many of the newest events to keep (0-1,000,000)."
    )


class TruncateSessionResponse(EngramModel):
    deleted_count: int = Field(description="Events deleted (expired ones included); 0 when nothing was older.")


class SessionEvent(EngramModel):
    event_id: str
    timestamp: datetime
    content: Content
    expire_time: datetime | None = None


class SessionEventsResponse(EngramModel):
    """Oldest first. ``next_page_token``: more events follow; send it as ``page_token`` (listing only)."""

    events: list[SessionEvent]
    next_page_token: str | None = None
