"""Short-term memory: append, read and delete the events of a session."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engram.clock import new_id
from engram.errors import NotFound
from engram.logic.config import expire_at, get_config
from engram.models.conversation import ConversationEvent, Event
from engram.models.limits import MAX_RESPONSE_BYTES
from engram.models.session import MAX_LIST, AppendEventsRequest, SessionEvent
from engram.ports import Clock, ConfigRepository, EventWindow, SessionRepository


def append_events(
    sessions: SessionRepository,
    configs: ConfigRepository,
    clock: Clock,
    tenant_id: str,
    session_id: str,
    request: AppendEventsRequest,
) -> list[SessionEvent]:
    """Append events (ids assigned where missing; timestamps default to now). An event whose
    ``event_id`` is already stored is not stored again: re-sending a batch is safe. Events expire after
    the tenant's ``session_event_ttl_seconds`` (default 90 days). OpenAI-style messages are stored as the
    events they stand for (``SessionMessage.to_event``). Returns the events as stored, with ids."""
    now = clock.now()
    expire_time = expire_at(now, get_config(configs, tenant_id).ttl.session_event_ttl_seconds)
    events = [
        SessionEvent(
            event_id=e.event_id or new_id(),
            timestamp=e.timestamp or now,
            content=e.content,
            expire_time=expire_time,
        )
        for e in request.new_events()
    ]
    sessions.append(tenant_id, session_id, events)
    return events


def list_events(
    sessions: SessionRepository,
    clock: Clock,
    tenant_id: str,
    session_id: str,
    limit: int | None = None,
    role: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> list[SessionEvent]:
    """Events oldest first, keeping ``role`` and ``[start_time, end_time)`` if given, then the last ``limit``.
    Expired events are never returned. Raises ``NotFound`` when the session has no events."""
    events = sessions.events(tenant_id, session_id)
    if not events:
        raise NotFound(f"session {session_id} not found")
    now = clock.now()
    kept = [
        e
        for e in events
        if (e.expire_time is None or e.expire_time > now)
        and (role is None or e.content.role == role)
        and (start_time is None or e.timestamp >= start_time)
        and (end_time is None or e.timestamp < end_time)
    ]
    return kept[-limit:] if limit else kept


def list_page(
    sessions: SessionRepository,
    clock: Clock,
    tenant_id: str,
    session_id: str,
    window: EventWindow,
    page_size: int = MAX_LIST,
    page_token: str | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> tuple[list[SessionEvent], str | None]:
    """One page of a session's events, oldest first: those ``window`` keeps (``role``, ``[start_time,
    end_time)``, the last ``last``; never expired ones), at most ``page_size`` and stopping before
    ``max_bytes`` of response (at least one event), with the token of the next page (None at the end).

    Raises ``NotFound`` when the session has no events at all (an empty page of a session that has some
    is not an error) and ``InvalidInput`` for a page token of another session or listing.
    """
    live = replace(window, now=clock.now())
    events, token = sessions.page(tenant_id, session_id, live, page_size, page_token, max_bytes)
    if not events and not page_token and not _has_events(sessions, tenant_id, session_id):
        raise NotFound(f"session {session_id} not found")
    return events, token


def _has_events(sessions: SessionRepository, tenant_id: str, session_id: str) -> bool:
    """Whether the session has any event (expired ones too): its last one, a page without a next."""
    return bool(sessions.page(tenant_id, session_id, EventWindow(last=1), 1)[0])


def delete_session(sessions: SessionRepository, tenant_id: str, session_id: str) -> int:
    """Delete every event of the session; returns how many. Raises ``NotFound`` when it has none."""
    deleted = sessions.delete(tenant_id, session_id)
    if not deleted:
        raise NotFound(f"session {session_id} not found")
    return deleted


def truncate_session(sessions: SessionRepository, clock: Clock, tenant_id: str, session_id: str, keep_last: int) -> int:
    """Keep the session's last ``keep_last`` live events (oldest-first order, as listed) and delete the
    others, expired ones included; returns how many were deleted (0 when nothing was older: repeating
    it is harmless). Events appended meanwhile are kept. Raises ``NotFound`` when the session has no
    events."""
    kept, deleted = sessions.truncate(tenant_id, session_id, keep_last, clock.now())
    if not kept and not deleted:
        raise NotFound(f"session {session_id} not found")
    return deleted


def as_conversation(events: list[SessionEvent]) -> list[ConversationEvent]:
    """Session events as the conversation the generation workflow extracts from (ids kept)."""
    from engram.models.conversation import normalize

    return normalize(None, [Event(event_id=e.event_id, content=e.content) for e in events], max_images=None)
