"""Conversation input in both accepted shapes, and the normalized form the workflow uses.

- OpenAI style ``messages``: ``[{"role": "user", "content": "I moved to Lisbon", "event_id"?: "m1"}]``;
  ``content`` may also be a list of ``{"type": "text", "text": ...}`` parts.
- Memory Bank style ``events``: ``[{"event_id"?: "e1", "content": {"role": "user", "parts": [{"text": ...}]}}]``;
  parts may be ``{"inline_data": {"mime_type", "data"}}`` (described into text by later work; today an
  image part becomes a labelled placeholder).

Every message or event may carry an ``event_id``; where it has none, its position (``"0"``, ``"1"``,
...) is its id. Role ``model`` (Memory Bank) is accepted as an alias of ``assistant``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_EVENTS = 500
MAX_EVENT_TEXT_CHARS = 32_000
MAX_EVENT_ID_CHARS = 128

Role = Literal["user", "assistant", "system", "tool"]


def _normalize_role(role: object) -> object:
    return "assistant" if role == "model" else role


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class Message(BaseModel):
    """An OpenAI-style chat message."""

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str | list[TextPart] = Field(description="Text, or a list of text parts.")
    event_id: str | None = Field(default=None, max_length=MAX_EVENT_ID_CHARS)
    name: str | None = None

    _alias_role = field_validator("role", mode="before")(classmethod(lambda cls, v: _normalize_role(v)))

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class InlineData(BaseModel):
    mime_type: str
    data: str = Field(description="Base64-encoded bytes.")


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    inline_data: InlineData | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Part:
        if (self.text is None) == (self.inline_data is None):
            raise ValueError("a part has exactly one of 'text' or 'inline_data'")
        return self


class Content(BaseModel):
    role: Role
    parts: list[Part] = Field(min_length=1)

    _alias_role = field_validator("role", mode="before")(classmethod(lambda cls, v: _normalize_role(v)))


class Event(BaseModel):
    """A Memory Bank-style conversation event."""

    model_config = ConfigDict(extra="ignore")

    content: Content
    event_id: str | None = Field(default=None, max_length=MAX_EVENT_ID_CHARS)

    def text(self) -> str:
        texts = []
        for part in self.content.parts:
            if part.text is not None:
                texts.append(part.text)
            elif part.inline_data is not None:
                texts.append(f"[{part.inline_data.mime_type} attachment, not described]")
        return "\n".join(texts)


class ConversationEvent(BaseModel):
    """The normalized form: one turn with its id, role and text. ``index`` is its position."""

    event_id: str
    role: Role
    text: str


def normalize(messages: list[Message] | None, events: list[Event] | None) -> list[ConversationEvent]:
    """Turn either input shape into ``ConversationEvent``s, assigning positional ids where missing.

    Raises ``ValueError`` when two turns share an event id.
    """
    turns: list[tuple[str | None, Role, str]] = []
    for message in messages or []:
        turns.append((message.event_id, message.role, message.text()))
    for event in events or []:
        turns.append((event.event_id, event.content.role, event.text()))
    out: list[ConversationEvent] = []
    seen: set[str] = set()
    for position, (event_id, role, text) in enumerate(turns):
        eid = event_id if event_id else str(position)
        if eid in seen:
            raise ValueError(f"duplicate event_id {eid!r}")
        seen.add(eid)
        out.append(ConversationEvent(event_id=eid, role=role, text=text))
    return out
