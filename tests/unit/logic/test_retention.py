"""Scheduled retention (``engram.logic.retention``): bounded, resumable deletion of what has expired."""

from __future__ import annotations

from engram.logic.memories import create_memories
from engram.logic.retention import run_retention
from engram.logic.sessions import append_events
from engram.models.config import TenantConfig
from engram.models.memory import NewMemory
from engram.models.session import AppendEventsRequest

TENANT = "tenant-a"
SCOPE = {"user_id": "u-1"}


def _expiring(stores, embedder, clock) -> None:
    """Three memories that expire after a minute (each with a revision kept a day) and two session events
    kept an hour; one memory that never expires."""
    config = TenantConfig.model_validate({"ttl": {"revision_ttl_seconds": 86400, "session_event_ttl_seconds": 3600}})
    stores.configs.put(TENANT, config.model_dump(mode="json"), clock.now())
    short = [NewMemory(scope=SCOPE, fact=f"The user is busy until {i}.", ttl_seconds=60) for i in range(3)]
    create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [*short, NewMemory(scope=SCOPE, fact="x")]
    )
    request = AppendEventsRequest.model_validate(
        {"events": [{"content": {"role": "user", "parts": [{"text": t}]}} for t in ("hi", "bye")]}
    )
    append_events(stores.sessions, stores.configs, clock, TENANT, "s-1", request)


def test_a_run_deletes_what_expired_counted_by_kind(stores, index, embedder, clock) -> None:
    # Given memories and session events that expire, and revisions kept longer
    _expiring(stores, embedder, clock)

    # When retention runs two hours later
    clock.advance(hours=2)
    result = run_retention(stores.retention, clock)

    # Then the expired memories (also from the index) and session events are deleted; the revisions stay
    assert (result.memories, result.revisions, result.session_events, result.other) == (3, 0, 2, 0)
    assert result.more is False and result.batches == 1
    assert len(list(stores.memories.scan(TENANT))) == 1
    assert len(index.documents) == 1
    assert stores.sessions.events(TENANT, "s-1") == []


def test_a_run_is_bounded_and_the_next_one_resumes(stores, index, embedder, clock) -> None:
    # Given, two days later, nine expired items: three memories, two session events, four revisions
    _expiring(stores, embedder, clock)
    clock.advance(days=2)

    # When a run may delete four, two at a time
    first = run_retention(stores.retention, clock, max_items=4, batch_size=2)

    # Then it deletes four in two batches and says more remain; the next run deletes the rest
    assert (first.deleted, first.batches, first.more) == (4, 2, True)
    rest = run_retention(stores.retention, clock)
    assert first.deleted + rest.deleted == 3 + 4 + 2 and rest.more is False
    assert first.revisions + rest.revisions == 4
