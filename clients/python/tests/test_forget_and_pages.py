"""``client.forget`` / ``client.forget_receipt`` and ``client.sessions.list`` following pages, against the
local stack, sync and async."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engram_client import AsyncEngram, Engram, ForgetReceipt, NotFoundError, ValidationError, text_event


def _scope() -> dict[str, str]:
    return {"user_id": f"forget-{uuid.uuid4().hex[:10]}"}


def test_forget_deletes_the_scope_and_its_sessions_and_the_receipt_stays(client: Engram) -> None:
    # Given a scope with two memories and a session
    scope, session_id = _scope(), f"s-{uuid.uuid4().hex[:10]}"
    created = client.memories.batch([{"scope": scope, "fact": "The user likes tea."}, {"scope": scope, "fact": "x"}])
    client.sessions.append(session_id, [text_event("user", "I like tea.")])

    # When it is forgotten with the session
    receipt = client.forget(scope, [session_id])

    # Then the receipt is complete and counts them; nothing of the scope is readable; the receipt stays
    assert isinstance(receipt, ForgetReceipt) and receipt.completed
    assert (receipt.counts.memories, receipt.counts.session_events) == (2, 1)
    assert receipt.counts.revisions == 2
    for scored in created.memories:
        with pytest.raises(NotFoundError):
            client.memories.get(scored.memory.id)
    with pytest.raises(NotFoundError):
        client.sessions.list(session_id)
    assert client.forget_receipt(receipt.receipt_id) == receipt
    with pytest.raises(NotFoundError):
        client.forget_receipt(uuid.uuid4().hex)
    with pytest.raises(ValidationError):
        client.forget({})


def test_sessions_list_follows_every_page(client: Engram) -> None:
    # Given a session of 250 events
    session_id = f"s-{uuid.uuid4().hex[:10]}"
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    events = [
        text_event("user", f"turn {n}", event_id=f"e{n:03d}", timestamp=start + timedelta(seconds=n))
        for n in range(250)
    ]
    for first in range(0, 250, 100):
        client.sessions.append(session_id, events[first : first + 100])

    # When it is read one page of 100 at a time, and listed whole with pages of 100 and of the default size
    first = client.sessions.page(session_id, page_size=100)
    listed = client.sessions.list(session_id, page_size=100)
    default = client.sessions.list(session_id, limit=120)

    # Then a page has a token, and list follows them: every event once, oldest first
    assert len(first.events) == 100 and first.next_page_token
    assert [e.event_id for e in listed.events] == [f"e{n:03d}" for n in range(250)] and listed.next_page_token is None
    assert [e.event_id for e in default.events] == [f"e{n:03d}" for n in range(130, 250)]


def test_async_forget_and_pages(stack: Any) -> None:
    async def run() -> None:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            scope, session_id = _scope(), f"s-{uuid.uuid4().hex[:10]}"
            await client.memories.create(scope, "The user likes tea.")
            start = datetime.now(timezone.utc) - timedelta(hours=1)
            turns = [text_event("user", f"turn {n}", timestamp=start + timedelta(seconds=n)) for n in range(3)]
            await client.sessions.append(session_id, turns)
            assert len((await client.sessions.list(session_id, page_size=1)).events) == 3
            receipt = await client.forget(scope, [session_id])
            assert receipt.completed and receipt.counts.memories == 1 and receipt.counts.session_events == 3
            assert await client.forget_receipt(receipt.receipt_id) == receipt

    asyncio.run(run())
