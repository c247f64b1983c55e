"""``ConversationMemory`` (async): a conversation's messages, kept in an Engram session.

Messages are ``{"role", "content"}`` dicts (role user, assistant, system or tool; content text, or
parts whose texts are joined by newlines). Each is appended as it is, an OpenAI-style message
``{"role", "content", "event_id"}``, which the server stores as a session event with one text part;
other keys of a message (``name``, ``tool_call_id``...) are not kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from engram_client.client import AsyncEngram
from engram_client.compat._common import text_of
from engram_client.errors import NotFoundError
from engram_client.models import SessionEvent
from engram_client.resources.sessions import MAX_APPEND


def as_message(event: SessionEvent) -> dict[str, str]:
    return {"role": event.content.role, "content": event.content.text}


def as_event(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message as the OpenAI-style item appended: its role and text, with a new ``event_id`` (so a
    retried append is a no-op)."""
    return {"role": str(message["role"]), "content": text_of(message.get("content")), "event_id": uuid.uuid4().hex}


class ConversationMemory:
    """The messages of one conversation, in the session ``session_id`` (default: a new random id),
    over one ``AsyncEngram`` client (default: one from ``ENGRAM_URL`` / ``ENGRAM_API_KEY``)."""

    def __init__(self, session_id: str | None = None, client: AsyncEngram | None = None) -> None:
        self._owns_client = client is None
        self.client = client or AsyncEngram()
        self.session_id = session_id or uuid.uuid4().hex

    async def add(self, message: Mapping[str, Any]) -> None:
        """Append one ``{"role", "content"}`` message: ``POST /v1/sessions/{id}/events``.
        Raises ``KeyError`` without a role, ``ValidationError`` for an unknown role."""
        await self.client.sessions.append(self.session_id, [as_event(message)])

    async def add_many(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Append several messages in order (100 per request)."""
        events = [as_event(message) for message in messages]
        for start in range(0, len(events), MAX_APPEND):
            await self.client.sessions.append(self.session_id, events[start : start + MAX_APPEND])

    async def get_messages(self, limit: int | None = None) -> list[dict[str, str]]:
        """The messages oldest first; with ``limit`` (1-1000), the last ``limit``. ``GET .../events``."""
        return await self._list(limit=limit)

    async def get_messages_by_role(self, role: str) -> list[dict[str, str]]:
        """The messages of one role, oldest first: ``GET .../events?role=``."""
        return await self._list(role=role)

    async def _list(self, limit: int | None = None, role: str | None = None) -> list[dict[str, str]]:
        try:
            response = await self.client.sessions.list(self.session_id, limit=limit, role=role)
        except NotFoundError:  # a session without events does not exist yet
            return []
        return [as_message(event) for event in response.events]

    async def truncate_to_size(self, n: int) -> None:
        """Keep only the last ``n`` messages: ``POST /v1/sessions/{id}/truncate`` (one call on the server;
        a message added meanwhile is kept). Nothing happens to an empty conversation."""
        try:
            await self.client.sessions.truncate(self.session_id, n)
        except NotFoundError:
            return

    async def clear(self) -> None:
        """Forget every message: ``DELETE /v1/sessions/{id}`` (nothing to do when empty)."""
        try:
            await self.client.sessions.delete(self.session_id)
        except NotFoundError:
            return

    async def state_dict(self) -> dict[str, Any]:
        """``{"session_id", "messages"}``: enough to reattach (the id) or to move the conversation."""
        return {"session_id": self.session_id, "messages": await self.get_messages()}

    async def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take ``state["session_id"]`` (if given) as this conversation's session; when ``state`` has
        ``messages`` that differ from the session's, replace them (delete, then append in order)."""
        self.session_id = state.get("session_id") or self.session_id
        if "messages" not in state:
            return
        wanted = [{"role": m["role"], "content": text_of(m.get("content"))} for m in state["messages"]]
        if wanted != await self.get_messages():
            await self.clear()
            await self.add_many(wanted)

    async def aclose(self) -> None:
        """Close the client if this instance made it."""
        if self._owns_client:
            await self.client.aclose()
