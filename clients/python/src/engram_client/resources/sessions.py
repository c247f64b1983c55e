"""``client.sessions``: short-term memory, the events of a conversation (``/v1/sessions/{id}...``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from engram_client import _routes as routes
from engram_client._http import AsyncHTTP, SyncHTTP
from engram_client.models import SessionEvent, SessionEventsResponse, iso_time

MAX_APPEND = 100  # events per append request


def text_event(
    role: str, text: str, *, event_id: str | None = None, timestamp: datetime | str | None = None
) -> dict[str, Any]:
    """A session event from a role and a text: ``{"content": {"role", "parts": [{"text"}]}, "event_id"?,
    "timestamp"?}``. ``role``: user, assistant, system or tool."""
    event: dict[str, Any] = {"content": {"role": role, "parts": [{"text": text}]}}
    if event_id is not None:
        event["event_id"] = event_id
    if timestamp is not None:
        event["timestamp"] = iso_time(timestamp)
    return event


def _chunks(items: Sequence[Any], size: int = MAX_APPEND) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _as_new_event(event: SessionEvent) -> dict[str, Any]:
    """A stored event as an append item with the same id, timestamp and content."""
    return {"event_id": event.event_id, "timestamp": iso_time(event.timestamp), "content": event.content}


def _kept_events(events: list[SessionEvent], keep_last: int) -> list[SessionEvent] | None:
    """The events to keep when truncating, or None when nothing would be dropped."""
    if keep_last < 0:
        raise ValueError("keep_last must be ≥ 0")
    if len(events) <= keep_last:
        return None
    return events[len(events) - keep_last :] if keep_last else []


class Sessions:
    """Session events. A session exists while it has events: listing or deleting one without events is a
    ``NotFoundError`` (404)."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def append(
        self, session_id: str, events: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> SessionEventsResponse:
        """Append 1-100 events: ``POST /v1/sessions/{id}/events`` → 201.

        Each event: ``{"content": {"role", "parts": [{"text"} | {"inline_data"}]}, "event_id"?,
        "timestamp"?}`` (``text_event(role, text)`` builds one). Re-sending an ``event_id`` already stored
        is a no-op. Returns the events with their ids and timestamps. Raises ``ValidationError``.
        """
        return self._http.run(routes.append_events(session_id, events, idempotency_key))

    def list(
        self,
        session_id: str,
        *,
        limit: int | None = None,
        role: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> SessionEventsResponse:
        """A session's events, oldest first: ``GET /v1/sessions/{id}/events``.

        Keeps ``role`` and ``[start_time, end_time)`` if given (naive datetimes are UTC), then the last
        ``limit`` (1-1000). Raises ``NotFoundError`` when the session has no events.
        """
        return self._http.run(routes.list_events(session_id, limit, role, start_time, end_time))

    def delete(self, session_id: str, *, idempotency_key: str | None = None) -> None:
        """Delete every event of a session: ``DELETE /v1/sessions/{id}`` → 204. Raises ``NotFoundError``."""
        self._http.run(routes.delete_session(session_id, idempotency_key))

    def truncate(self, session_id: str, keep_last: int) -> SessionEventsResponse:
        """Keep only the last ``keep_last`` events (0 deletes the session); returns the kept events.

        The API has no truncate route yet, so this is done here: list the events, delete the session,
        append the kept ones again with their ids, timestamps and contents (their TTL restarts). It is
        not atomic: an event appended by someone else meanwhile may be lost, and an interruption between
        the delete and the appends loses the kept events. Raises ``NotFoundError`` for a session without
        events, ``ValueError`` for a negative ``keep_last``.
        """
        events = self.list(session_id).events
        kept = _kept_events(events, keep_last)
        if kept is None:
            return SessionEventsResponse(events=events)
        self.delete(session_id)
        appended: list[SessionEvent] = []
        for chunk in _chunks([_as_new_event(event) for event in kept]):
            appended += self.append(session_id, chunk).events
        return SessionEventsResponse(events=appended)


class AsyncSessions:
    """Like ``Sessions``, awaited."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def append(
        self, session_id: str, events: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> SessionEventsResponse:
        """``POST /v1/sessions/{id}/events`` → ``SessionEventsResponse``; see ``Sessions.append``."""
        return await self._http.run(routes.append_events(session_id, events, idempotency_key))

    async def list(
        self,
        session_id: str,
        *,
        limit: int | None = None,
        role: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
    ) -> SessionEventsResponse:
        """``GET /v1/sessions/{id}/events`` → ``SessionEventsResponse``; see ``Sessions.list``."""
        return await self._http.run(routes.list_events(session_id, limit, role, start_time, end_time))

    async def delete(self, session_id: str, *, idempotency_key: str | None = None) -> None:
        """``DELETE /v1/sessions/{id}``; see ``Sessions.delete``."""
        await self._http.run(routes.delete_session(session_id, idempotency_key))

    async def truncate(self, session_id: str, keep_last: int) -> SessionEventsResponse:
        """Keep only the last ``keep_last`` events, client-side and not atomic; see ``Sessions.truncate``."""
        events = (await self.list(session_id)).events
        kept = _kept_events(events, keep_last)
        if kept is None:
            return SessionEventsResponse(events=events)
        await self.delete(session_id)
        appended: list[SessionEvent] = []
        for chunk in _chunks([_as_new_event(event) for event in kept]):
            appended += (await self.append(session_id, chunk)).events
        return SessionEventsResponse(events=appended)
