"""Short-term memory use cases (``engram.logic.sessions``): append, list, truncate and delete the events
of a session, on the in-memory fakes.

Every listing is checked both ways a session is read: ``list_events`` (what generation reads) and every
page of ``list_page`` (what ``GET /v1/sessions/{id}/events`` serves), which must agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from engram.errors import InvalidInput, NotFound
from engram.logic.config import put_config
from engram.logic.sessions import (
    append_events,
    as_conversation,
    delete_session,
    list_events,
    list_page,
    truncate_session,
)
from engram.models.config import TenantConfig, TtlConfig
from engram.models.session import AppendEventsRequest, SessionEvent
from engram.ports import EventWindow

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
SESSION = "session-1"


def event(
    text: str, role: str = "user", event_id: str | None = None, timestamp: datetime | None = None
) -> dict[str, Any]:
    """One event as a client sends it (``POST /v1/sessions/{id}/events``)."""
    raw: dict[str, Any] = {"content": {"role": role, "parts": [{"text": text}]}}
    if event_id is not None:
        raw["event_id"] = event_id
    if timestamp is not None:
        raw["timestamp"] = timestamp.isoformat()
    return raw


def append(
    stores: Any, clock: Any, *events: dict[str, Any], tenant: str = TENANT, session: str = SESSION
) -> list[SessionEvent]:
    request = AppendEventsRequest.model_validate({"events": list(events)})
    return append_events(stores.sessions, stores.configs, clock, tenant, session, request)


def texts(events: list[SessionEvent]) -> list[str]:
    return [e.content.parts[0].text or "" for e in events]


def pages(
    stores: Any, clock: Any, window: EventWindow, page_size: int, tenant: str = TENANT, session: str = SESSION
) -> list[list[str]]:
    """The texts of every page of ``list_page``, following the tokens."""
    result: list[list[str]] = []
    token: str | None = None
    while True:
        events, token = list_page(stores.sessions, clock, tenant, session, window, page_size, token)
        result.append(texts(events))
        if token is None:
            return result
        assert len(result) < 100, "the pages never end"


def listed(
    stores: Any,
    clock: Any,
    tenant: str = TENANT,
    session: str = SESSION,
    limit: int | None = None,
    role: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> list[str]:
    """The texts listed, in order: ``list_events``'s, checked equal to those of ``list_page`` read two
    events a page with the same window."""
    direct = list_events(stores.sessions, clock, tenant, session, limit, role, start_time, end_time)
    window = EventWindow(start_time=start_time, end_time=end_time, role=role, last=limit)
    paged = [text for page in pages(stores, clock, window, 2, tenant, session) for text in page]
    assert paged == texts(direct), "list_page and list_events disagree"
    return texts(direct)


def assert_not_found(stores: Any, clock: Any, tenant: str = TENANT, session: str = SESSION) -> None:
    """Neither listing finds the session."""
    with pytest.raises(NotFound):
        list_events(stores.sessions, clock, tenant, session)
    with pytest.raises(NotFound):
        list_page(stores.sessions, clock, tenant, session, EventWindow())


# --- append -------------------------------------------------------------------------------------------------


def test_append_keeps_given_ids_and_times_and_fills_in_the_missing_ones(stores, clock) -> None:
    # Given one event with an id and a timestamp and one with neither
    earlier = clock.now() - timedelta(minutes=5)

    # When they are appended
    returned = append(stores, clock, event("Hi", event_id="e-1", timestamp=earlier), event("Hello", role="assistant"))

    # Then the first keeps its id and time, the second gets a fresh id and the time of the call
    first, second = returned
    assert (first.event_id, first.timestamp) == ("e-1", earlier)
    assert second.event_id not in ("", "e-1") and second.timestamp == clock.now()
    # ... and both are stored as returned, oldest first
    assert stores.sessions.events(TENANT, SESSION) == returned


def test_ids_assigned_to_events_without_one_are_unique(stores, clock) -> None:
    # Given three events without ids
    # When they are appended
    returned = append(stores, clock, event("a"), event("b"), event("c"))

    # Then each got its own id, and all three are stored
    assert len({e.event_id for e in returned}) == 3
    assert listed(stores, clock) == ["a", "b", "c"]


def test_appending_is_idempotent_on_event_id(stores, clock) -> None:
    # Given a session holding event e-1
    append(stores, clock, event("I moved to Lisbon.", event_id="e-1"))

    # When a batch re-sending e-1 (with other content) and a new e-2 is appended later
    clock.advance(minutes=1)
    append(stores, clock, event("I moved to Porto.", event_id="e-1"), event("Nice!", role="assistant", event_id="e-2"))

    # Then e-1 is stored once, as first sent, and e-2 is added after it
    assert [(e.event_id, e.content.parts[0].text) for e in stores.sessions.events(TENANT, SESSION)] == [
        ("e-1", "I moved to Lisbon."),
        ("e-2", "Nice!"),
    ]


def test_resending_the_same_batch_stores_nothing_new(stores, clock) -> None:
    # Given a batch that was appended
    batch = [event("one", event_id="e-1"), event("two", event_id="e-2")]
    append(stores, clock, *batch)

    # When the same batch is appended again
    append(stores, clock, *batch)

    # Then the session still holds each event once
    assert listed(stores, clock) == ["one", "two"]


def test_events_expire_after_the_default_ttl_of_90_days(stores, clock) -> None:
    # Given a tenant that never set a configuration
    # When an event is appended
    [appended] = append(stores, clock, event("Hi"))

    # Then it expires 90 days later
    assert appended.expire_time == clock.now() + timedelta(days=90)
    assert stores.sessions.events(TENANT, SESSION)[0].expire_time == clock.now() + timedelta(days=90)


def test_events_expire_after_the_tenants_configured_ttl(stores, clock) -> None:
    # Given a tenant whose session events live one hour
    put_config(stores.configs, clock, TENANT, TenantConfig(ttl=TtlConfig(session_event_ttl_seconds=3600)))

    # When an event is appended
    [appended] = append(stores, clock, event("Hi"))

    # Then it expires one hour later, and another tenant's event keeps the default
    assert appended.expire_time == clock.now() + timedelta(hours=1)
    [other] = append(stores, clock, event("Hi"), tenant=OTHER_TENANT)
    assert other.expire_time == clock.now() + timedelta(days=90)


def test_events_never_expire_when_the_tenant_turned_the_ttl_off(stores, clock) -> None:
    # Given a tenant whose session events never expire
    put_config(stores.configs, clock, TENANT, TenantConfig(ttl=TtlConfig(session_event_ttl_seconds=None)))

    # When an event is appended and ten years pass
    [appended] = append(stores, clock, event("Hi"))
    clock.advance(days=3650)

    # Then it has no expiry and is still listed
    assert appended.expire_time is None
    assert listed(stores, clock) == ["Hi"]


def test_the_expiry_counts_from_the_append_not_from_the_event_timestamp(stores, clock) -> None:
    # Given an event that happened 30 days ago
    # When it is appended now
    [appended] = append(stores, clock, event("old news", timestamp=clock.now() - timedelta(days=30)))

    # Then it expires 90 days from now
    assert appended.expire_time == clock.now() + timedelta(days=90)


def test_an_openai_style_message_is_stored_as_the_event_it_stands_for(stores, clock) -> None:
    # Given a message with text content and one with a list of text parts
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "I moved to Porto.", "event_id": "m-1"},
        {"role": "assistant", "content": [{"type": "text", "text": "Nice"}, {"type": "text", "text": "city!"}]},
    ]

    # When they are appended
    returned = append(stores, clock, *messages)

    # Then each is stored as an event of one text part (the parts joined by a newline), with its id kept
    stored = stores.sessions.events(TENANT, SESSION)
    assert stored == returned
    assert [(e.content.role, [p.text for p in e.content.parts]) for e in stored] == [
        ("user", ["I moved to Porto."]),
        ("assistant", ["Nice\ncity!"]),
    ]
    assert stored[0].event_id == "m-1"
    # ... and re-sending the message with its id stores nothing new
    append(stores, clock, messages[0])
    assert len(stores.sessions.events(TENANT, SESSION)) == 2


# --- list ---------------------------------------------------------------------------------------------------


def test_list_returns_events_oldest_first_by_timestamp_then_arrival(stores, clock) -> None:
    # Given events appended out of timestamp order, two of them at the same time
    now = clock.now()
    append(stores, clock, event("third", timestamp=now), event("first", timestamp=now - timedelta(minutes=2)))
    append(stores, clock, event("fourth", timestamp=now), event("second", timestamp=now - timedelta(minutes=1)))

    # When the session is listed
    # Then they come by timestamp, ties in the order they arrived
    assert listed(stores, clock) == ["first", "second", "third", "fourth"]


def test_list_keeps_the_last_limit_events(stores, clock) -> None:
    # Given five events one minute apart
    for i in range(5):
        append(stores, clock, event(f"e{i}"))
        clock.advance(minutes=1)

    # When the last two are asked for
    # Then the two most recent come back, oldest first
    assert listed(stores, clock, limit=2) == ["e3", "e4"]
    assert listed(stores, clock, limit=10) == ["e0", "e1", "e2", "e3", "e4"]


def test_list_keeps_one_role(stores, clock) -> None:
    # Given a conversation of user, assistant and tool turns ("model" is read as "assistant")
    append(
        stores,
        clock,
        event("question", role="user"),
        event("answer", role="assistant"),
        event("lookup", role="tool"),
        event("more", role="model"),
    )

    # When only the assistant's events are asked for
    # Then only they come back, in order
    assert listed(stores, clock, role="assistant") == ["answer", "more"]
    assert listed(stores, clock, role="system") == []


def test_list_keeps_a_time_window_that_includes_its_start_and_excludes_its_end(stores, clock) -> None:
    # Given events at 10:00, 10:01, 10:02 and 10:03
    base = clock.now().replace(hour=10, minute=0, second=0)
    append(stores, clock, *(event(f"at {i}", timestamp=base + timedelta(minutes=i)) for i in range(4)))

    # When the window [10:01, 10:03) is asked for, and each bound alone
    # Then the events at its start and inside it come back, not the one at its end
    assert listed(stores, clock, start_time=base + timedelta(minutes=1), end_time=base + timedelta(minutes=3)) == [
        "at 1",
        "at 2",
    ]
    assert listed(stores, clock, start_time=base + timedelta(minutes=2)) == ["at 2", "at 3"]
    assert listed(stores, clock, end_time=base + timedelta(minutes=1)) == ["at 0"]


def test_limit_applies_after_the_role_and_time_filters(stores, clock) -> None:
    # Given alternating user and assistant events one minute apart
    base = clock.now()
    append(
        stores,
        clock,
        *(
            event(f"{role} {i}", role=role, timestamp=base + timedelta(minutes=i))
            for i, role in enumerate(["user", "assistant"] * 3)
        ),
    )

    # When the last two user events before minute 5 are asked for
    texts = listed(stores, clock, role="user", end_time=base + timedelta(minutes=5), limit=2)

    # Then the filters ran first, then the limit kept the most recent of what was left
    assert texts == ["user 2", "user 4"]


def test_expired_events_are_never_listed(stores, clock) -> None:
    # Given a tenant whose events live one hour, an event appended now and one appended 30 minutes later
    put_config(stores.configs, clock, TENANT, TenantConfig(ttl=TtlConfig(session_event_ttl_seconds=3600)))
    append(stores, clock, event("early"))
    clock.advance(minutes=30)
    append(stores, clock, event("late"))

    # When the first is one second from its expiry, then exactly at it
    clock.advance(minutes=30, seconds=-1)
    before = listed(stores, clock)
    clock.advance(seconds=1)
    at_expiry = listed(stores, clock)

    # Then it is listed until its expiry time and not from then on (the store still holds it)
    assert before == ["early", "late"]
    assert at_expiry == ["late"]
    assert len(stores.sessions.events(TENANT, SESSION)) == 2


def test_a_session_whose_events_all_expired_lists_no_events(stores, clock) -> None:
    # Given a session whose only event has expired but is not deleted yet
    append(stores, clock, event("Hi"))
    clock.advance(days=91)

    # When it is listed
    # Then no event comes back (the session still exists in the store: not "not found")
    assert listed(stores, clock) == []


def test_listing_an_unknown_session_is_not_found(stores, clock) -> None:
    # Given a session of another tenant with the same id
    append(stores, clock, event("Hi"), tenant=OTHER_TENANT)

    # When this tenant lists that session id, or an id never used
    # Then neither exists for this tenant
    assert_not_found(stores, clock, TENANT, SESSION)
    assert_not_found(stores, clock, OTHER_TENANT, "never-used")


def test_list_page_follows_its_tokens_page_after_page(stores, clock) -> None:
    # Given five events one minute apart
    for i in range(5):
        append(stores, clock, event(f"e{i}"))
        clock.advance(minutes=1)

    # When they are listed two a page, and the last three two a page
    # Then the pages hold them oldest first, the last page's token is None
    assert pages(stores, clock, EventWindow(), 2) == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert pages(stores, clock, EventWindow(last=3), 2) == [["e2", "e3"], ["e4"]]
    assert pages(stores, clock, EventWindow(), 5) == [["e0", "e1", "e2", "e3", "e4"]]


def test_list_page_stops_before_its_byte_budget_but_holds_one_event(stores, clock) -> None:
    # Given three events
    append(stores, clock, event("a"), event("b"), event("c"))

    # When they are listed with a budget smaller than any event
    first, token = list_page(stores.sessions, clock, TENANT, SESSION, EventWindow(), max_bytes=1)

    # Then the page holds one event and a token to the rest
    assert texts(first) == ["a"] and token is not None
    rest, end = list_page(stores.sessions, clock, TENANT, SESSION, EventWindow(), page_token=token)
    assert texts(rest) == ["b", "c"] and end is None


def test_a_page_token_of_another_session_is_invalid(stores, clock) -> None:
    # Given a token of session 1's first page
    append(stores, clock, event("a"), event("b"))
    append(stores, clock, event("x"), event("y"), session="session-2")
    _, token = list_page(stores.sessions, clock, TENANT, SESSION, EventWindow(), 1)
    assert token is not None

    # When it is used to list session 2, or by another tenant
    # Then it is refused
    with pytest.raises(InvalidInput):
        list_page(stores.sessions, clock, TENANT, "session-2", EventWindow(), 1, token)
    with pytest.raises(InvalidInput):
        list_page(stores.sessions, clock, OTHER_TENANT, SESSION, EventWindow(), 1, token)


def test_sessions_are_separate(stores, clock) -> None:
    # Given events in two sessions of one tenant and in the same session id of another tenant
    append(stores, clock, event("in one", event_id="e-1"))
    append(stores, clock, event("in two", event_id="e-1"), session="session-2")
    append(stores, clock, event("elsewhere", event_id="e-1"), tenant=OTHER_TENANT)

    # When each is listed
    # Then each holds only its own event (the same event id is new in each)
    assert listed(stores, clock) == ["in one"]
    assert listed(stores, clock, session="session-2") == ["in two"]
    assert listed(stores, clock, tenant=OTHER_TENANT) == ["elsewhere"]


# --- delete -------------------------------------------------------------------------------------------------


def test_delete_removes_every_event_and_counts_them(stores, clock) -> None:
    # Given a session of three events, another session and another tenant's session of the same id
    append(stores, clock, event("a"), event("b"), event("c"))
    append(stores, clock, event("kept"), session="session-2")
    append(stores, clock, event("theirs"), tenant=OTHER_TENANT)

    # When the session is deleted
    deleted = delete_session(stores.sessions, TENANT, SESSION)

    # Then three events were deleted, the session is gone, and the others are untouched
    assert deleted == 3
    assert_not_found(stores, clock)
    assert listed(stores, clock, session="session-2") == ["kept"]
    assert listed(stores, clock, tenant=OTHER_TENANT) == ["theirs"]


def test_deleting_an_unknown_or_already_deleted_session_is_not_found(stores, clock) -> None:
    # Given a session deleted once
    append(stores, clock, event("a"))
    delete_session(stores.sessions, TENANT, SESSION)

    # When it is deleted again, or a session that never existed is deleted
    # Then neither exists
    with pytest.raises(NotFound):
        delete_session(stores.sessions, TENANT, SESSION)
    with pytest.raises(NotFound):
        delete_session(stores.sessions, TENANT, "never-used")


def test_a_deleted_session_can_be_started_again_with_the_same_event_ids(stores, clock) -> None:
    # Given a session that held e-1 and was deleted
    append(stores, clock, event("before", event_id="e-1"))
    delete_session(stores.sessions, TENANT, SESSION)

    # When e-1 is appended again
    append(stores, clock, event("after", event_id="e-1"))

    # Then it is stored anew
    assert listed(stores, clock) == ["after"]


# --- truncate -----------------------------------------------------------------------------------------------


def test_truncate_keeps_the_last_live_events_and_deletes_the_rest_expired_ones_included(stores, clock) -> None:
    # Given a tenant whose events live one hour: an event that has expired, then four live ones
    put_config(stores.configs, clock, TENANT, TenantConfig(ttl=TtlConfig(session_event_ttl_seconds=3600)))
    append(stores, clock, event("expired"))
    clock.advance(minutes=50)
    append(stores, clock, *(event(f"live {i}") for i in range(4)))
    clock.advance(minutes=20)

    # When the session is truncated to its last two events
    deleted = truncate_session(stores.sessions, clock, TENANT, SESSION, keep_last=2)

    # Then the expired event and the two older live ones are deleted, the last two are kept
    assert deleted == 3
    assert [e.content.parts[0].text for e in stores.sessions.events(TENANT, SESSION)] == ["live 2", "live 3"]
    # ... and truncating again deletes nothing more
    assert truncate_session(stores.sessions, clock, TENANT, SESSION, keep_last=2) == 0


def test_truncating_to_zero_deletes_the_session(stores, clock) -> None:
    # Given a session of two events
    append(stores, clock, event("a"), event("b"))

    # When it is truncated to none
    # Then both are deleted and the session is gone
    assert truncate_session(stores.sessions, clock, TENANT, SESSION, keep_last=0) == 2
    assert_not_found(stores, clock)


def test_truncating_an_unknown_session_is_not_found(stores, clock) -> None:
    # Given another tenant's session of that id
    append(stores, clock, event("a"), tenant=OTHER_TENANT)

    # When this tenant truncates it, Then it does not exist, and the other tenant's is untouched
    with pytest.raises(NotFound):
        truncate_session(stores.sessions, clock, TENANT, SESSION, keep_last=0)
    assert listed(stores, clock, tenant=OTHER_TENANT) == ["a"]


# --- as the workflow's conversation -------------------------------------------------------------------------


def test_events_become_the_conversation_with_their_ids_roles_and_text(stores, clock) -> None:
    # Given a session of a user and an assistant turn, the user's in two text parts
    two_parts = {"event_id": "e-1", "content": {"role": "user", "parts": [{"text": "I moved"}, {"text": "to Porto."}]}}
    append(stores, clock, two_parts, event("Congratulations!", role="assistant", event_id="e-2"))

    # When the events are turned into the conversation generation reads
    conversation = as_conversation(list_events(stores.sessions, clock, TENANT, SESSION))

    # Then each event is one turn, its id kept, its parts' text joined by a newline
    assert [(turn.event_id, turn.role, turn.text) for turn in conversation] == [
        ("e-1", "user", "I moved\nto Porto."),
        ("e-2", "assistant", "Congratulations!"),
    ]
