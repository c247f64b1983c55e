"""``client.sessions``: short-term memory, the events of a conversation (``/v1/sessions/{id}...``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from engram_client import _routes as routes
from engram_client._http import AsyncHTTP, SyncHTTP
from engram_client.models import SessionEvent, SessionEventsResponse, TruncateSessionResponse, iso_time

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


def _check_keep_last(keep_last: int) -> int:
    if keep_last < 0:
        raise ValueError("keep_last must be ≥ 0")
    return keep_last


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
        "timestamp"?}`` (``text_event(role, text)`` builds one), or an OpenAI-style message ``{"role",
        "content", "event_id"?, "timestamp"?}`` (``content`` text or text parts; stored as the event with
        one text part, other keys ignored). Re-sending an ``event_id`` already stored is a no-op. Returns
        the events as stored, with their ids and timestamps. Raises ``ValidationError``.
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
        page_size: int | None = None,
    ) -> SessionEventsResponse:
        """A session's events, oldest first: ``GET /v1/sessions/{id}/events``, page after page (``page_size``
        1-1000 each, server default 1000; a page also ends before about 5 MB), all in one response.

        Keeps ``role`` and ``[start_time, end_time)`` if given (naive datetimes are UTC), then the last
        ``limit`` (1-1000). Raises ``NotFoundError`` when the session has no events.
        """
        events: list[SessionEvent] = []
        token: str | None = None
        while True:
            page = self.page(
                session_id,
                limit=limit,
                role=role,
                start_time=start_time,
                end_time=end_time,
                page_size=page_size,
                page_token=token,
            )
            events += page.events
            if not page.next_page_token:
                return SessionEventsResponse(events=events)
            token = page.next_page_token

    def page(
        self,
        session_id: str,
        *,
        limit: int | None = None,
        role: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> SessionEventsResponse:
        """One page of ``GET /v1/sessions/{id}/events`` (see ``list``): send its ``next_page_token`` as
        ``page_token`` (with the same other arguments) for the next. Raises ``NotFoundError``."""
        call = routes.list_events(session_id, limit, role, start_time, end_time, page_size, page_token)
        return self._http.run(call)

    def delete(self, session_id: str, *, idempotency_key: str | None = None) -> None:
        """Delete every event of a session: ``DELETE /v1/sessions/{id}`` → 204. Raises ``NotFoundError``."""
        self._http.run(routes.delete_session(session_id, idempotency_key))

    def truncate(
        self, session_id: str, keep_last: int, *, idempotency_key: str | None = None
    ) -> TruncateSessionResponse:
        """Keep only the last ``keep_last`` live events (0 keeps none) and delete the others, expired ones
        included: ``POST /v1/sessions/{id}/truncate`` → ``TruncateSessionResponse.deleted_count``.

        Done on the server in one call: the kept events keep their ids, timestamps and expiry, and an
        event appended meanwhile is kept. Truncating again deletes nothing more (0). Raises
        ``NotFoundError`` for a session without events, ``ValueError`` for a negative ``keep_last``.
        """
        call = routes.truncate_session(session_id, _check_keep_last(keep_last), idempotency_key)
        return self._http.run(call)


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
        page_size: int | None = None,
    ) -> SessionEventsResponse:
        """``GET /v1/sessions/{id}/events``, every page, → ``SessionEventsResponse``; see ``Sessions.list``."""
        events: list[SessionEvent] = []
        token: str | None = None
        while True:
            call = routes.list_events(session_id, limit, role, start_time, end_time, page_size, token)
            page = await self._http.run(call)
            events += page.events
            if not page.next_page_token:
                return SessionEventsResponse(events=events)
            token = page.next_page_token

    async def page(
        self,
        session_id: str,
        *,
        limit: int | None = None,
        role: str | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> SessionEventsResponse:
        """One page of ``GET /v1/sessions/{id}/events``; see ``Sessions.page``."""
        call = routes.list_events(session_id, limit, role, start_time, end_time, page_size, page_token)
        return await self._http.run(call)

    async def delete(self, session_id: str, *, idempotency_key: str | None = None) -> None:
        """``DELETE /v1/sessions/{id}``; see ``Sessions.delete``."""
        await self._http.run(routes.delete_session(session_id, idempotency_key))

    async def truncate(
        self, session_id: str, keep_last: int, *, idempotency_key: str | None = None
    ) -> TruncateSessionResponse:
        """``POST /v1/sessions/{id}/truncate`` → ``TruncateSessionResponse``; see ``Sessions.truncate``."""
        call = routes.truncate_session(session_id, _check_keep_last(keep_last), idempotency_key)
        return await self._http.run(call)
