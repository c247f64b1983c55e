"""``client.sessions`` and ``client.config`` against the local stack, sync and async."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engram_client import AsyncEngram, Engram, NotFoundError, TenantConfig, ValidationError, text_event


@pytest.fixture
def session_id() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def test_append_list_delete(client: Engram, session_id: str) -> None:
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    events = [
        text_event("user", "I live in Lisbon.", event_id="e1", timestamp=start),
        text_event("assistant", "Noted.", timestamp=start + timedelta(minutes=1)),
        text_event("user", "I like tea.", timestamp=start + timedelta(minutes=2)),
    ]
    appended = client.sessions.append(session_id, events).events
    assert appended[0].event_id == "e1" and appended[1].event_id
    assert client.sessions.append(session_id, events[:1]).events[0].event_id == "e1"  # a re-sent id is a no-op
    listed = client.sessions.list(session_id).events
    assert [e.content.text for e in listed] == ["I live in Lisbon.", "Noted.", "I like tea."]
    assert [e.content.text for e in client.sessions.list(session_id, limit=1).events] == ["I like tea."]
    assert [e.content.role for e in client.sessions.list(session_id, role="user").events] == ["user", "user"]
    window = client.sessions.list(session_id, start_time=start + timedelta(seconds=30), end_time=start.isoformat())
    assert window.events == []
    later = client.sessions.list(session_id, start_time=start + timedelta(seconds=30)).events
    assert [e.content.text for e in later] == ["Noted.", "I like tea."]
    client.sessions.delete(session_id)
    with pytest.raises(NotFoundError):
        client.sessions.list(session_id)
    with pytest.raises(NotFoundError):
        client.sessions.delete(session_id)


def test_truncate_keeps_the_last_events_with_their_ids(client: Engram, session_id: str) -> None:
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    events = [
        text_event("user", f"message {n}", event_id=f"e{n}", timestamp=start + timedelta(seconds=n)) for n in range(5)
    ]
    client.sessions.append(session_id, events)
    before = {e.event_id: e for e in client.sessions.list(session_id).events}
    assert client.sessions.truncate(session_id, 2).deleted_count == 3
    listed = client.sessions.list(session_id).events
    assert [(e.event_id, e.content.text) for e in listed] == [("e3", "message 3"), ("e4", "message 4")]
    assert listed == [before["e3"], before["e4"]]  # kept as stored: same timestamps and expiry
    assert client.sessions.truncate(session_id, 5).deleted_count == 0  # nothing to drop
    assert client.sessions.truncate(session_id, 2).deleted_count == 0  # again: harmless
    assert client.sessions.truncate(session_id, 0).deleted_count == 2
    with pytest.raises(NotFoundError):
        client.sessions.list(session_id)
    with pytest.raises(NotFoundError):
        client.sessions.truncate(session_id, 1)
    with pytest.raises(ValueError, match="keep_last"):
        client.sessions.truncate(session_id, -1)


def test_openai_style_messages_are_appended_as_events(client: Engram, session_id: str) -> None:
    messages = [
        {"role": "user", "content": "I live in Lisbon.", "event_id": "m1"},
        {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
    ]
    appended = client.sessions.append(session_id, messages).events
    assert [(e.content.role, e.content.text) for e in appended] == [
        ("user", "I live in Lisbon."),
        ("assistant", "Noted."),
    ]
    assert appended[0].event_id == "m1"
    assert client.sessions.list(session_id).events == appended
    with pytest.raises(ValidationError):
        client.sessions.append(session_id, [{"role": "robot", "content": "x"}])


def test_generate_from_a_session(client: Engram, session_id: str, scope: dict[str, str]) -> None:
    client.sessions.append(session_id, [text_event("user", "I work as a nurse.", event_id="n1")])
    operation = client.operations.wait(client.memories.generate(scope, session=session_id), timeout=60)
    [change] = operation.generated
    assert change.memory.fact == "The user works as a nurse." and change.memory.source.event_ids == ["n1"]


def test_async_sessions(stack: Any, session_id: str) -> None:
    async def main() -> None:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            await client.sessions.append(session_id, [text_event("user", f"m{n}") for n in range(3)])
            assert [e.content.text for e in (await client.sessions.list(session_id, limit=2)).events] == ["m1", "m2"]
            assert (await client.sessions.truncate(session_id, 1)).deleted_count == 2
            assert [e.content.text for e in (await client.sessions.list(session_id)).events] == ["m2"]
            await client.sessions.delete(session_id)
            with pytest.raises(NotFoundError):
                await client.sessions.list(session_id)

    asyncio.run(main())


def test_config_get_and_put(client: Engram) -> None:
    original = client.config.get()
    assert isinstance(original, TenantConfig) and original.ttl.revision_ttl_seconds
    try:
        changed = original.model_copy(deep=True)
        changed.custom_topics = [{"label": "FOOD_PREFERENCES", "description": "What the user likes to eat."}]
        changed.ttl.session_event_ttl_seconds = 3600
        stored = client.config.put(changed)
        assert [t.label for t in stored.custom_topics] == ["FOOD_PREFERENCES"]
        assert client.config.get().ttl.session_event_ttl_seconds == 3600
        with pytest.raises(ValidationError):
            client.config.put({"ttl": {"create_ttl_seconds": 1}})
    finally:
        client.config.put(original)
    assert client.config.get() == original


def test_async_config(stack: Any) -> None:
    async def main() -> None:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            original = await client.config.get()
            assert await client.config.put(original) == original

    asyncio.run(main())
