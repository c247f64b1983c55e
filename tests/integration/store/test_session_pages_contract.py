"""``SessionRepository.page``: a session's events in pages, oldest first, bounded by count and by bytes —
the same on the fake and on DynamoDB (where a page is a ``GSI4`` query with ``Limit``/``ExclusiveStartKey``)."""

from __future__ import annotations

import pytest
from engram.errors import InvalidInput
from engram.models.limits import wire_size
from engram.models.session import SessionEvent
from engram.ports import EventWindow

from tests.integration.store.builders import event, later


def _ids(events: list[SessionEvent]) -> list[str]:
    return [e.event_id for e in events]


def _all_pages(stores, tenant, window: EventWindow, page_size: int, max_bytes: int | None = None) -> list[list[str]]:
    pages, token = [], None
    while True:
        events, token = stores.sessions.page(tenant, "s-1", window, page_size, token, max_bytes)
        pages.append(_ids(events))
        if token is None:
            return pages


def test_pages_follow_each_other_oldest_first_without_an_empty_last_page(stores, tenant) -> None:
    # Given seven events appended out of time order
    stores.sessions.append(tenant, "s-1", [event(f"e{i}", f"turn {i}", later(i)) for i in (3, 1, 6, 0, 5, 2, 4)])

    # When they are listed three at a time
    pages = _all_pages(stores, tenant, EventWindow(), 3)

    # Then the pages hold them in time order, the last one is not empty, and one page of 7 has no token
    assert pages == [["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]
    assert stores.sessions.page(tenant, "s-1", EventWindow(), 7) == (stores.sessions.events(tenant, "s-1"), None)


def test_a_window_keeps_role_time_range_liveness_and_the_last_events(stores, tenant) -> None:
    # Given user and assistant turns at +0..+9 s, one user turn expiring at +4.5 s
    turns = [event(f"e{i}", f"turn {i}", later(i)) for i in range(10)]
    for turn in turns[1::2]:
        turn.content.role = "assistant"
    turns[4].expire_time = later(4.5)
    stores.sessions.append(tenant, "s-1", turns)

    # When windows are listed two at a time
    users = EventWindow(role="user")
    in_range = EventWindow(start_time=later(2), end_time=later(7))
    live_users = EventWindow(role="user", now=later(5))
    last_three = EventWindow(role="user", now=later(5), last=3)

    # Then each keeps what it names ([start, end): +7 s is out), across pages
    assert _all_pages(stores, tenant, users, 2) == [["e0", "e2"], ["e4", "e6"], ["e8"]]
    assert _all_pages(stores, tenant, in_range, 2) == [["e2", "e3"], ["e4", "e5"], ["e6"]]
    assert _all_pages(stores, tenant, live_users, 10) == [["e0", "e2", "e6", "e8"]]
    assert _all_pages(stores, tenant, last_three, 2) == [["e2", "e6"], ["e8"]]
    assert _all_pages(stores, tenant, EventWindow(last=20), 50) == [[f"e{i}" for i in range(10)]]
    assert _all_pages(stores, tenant, EventWindow(start_time=later(5), end_time=later(2)), 5) == [[]]


def test_a_page_stops_before_its_byte_budget_but_always_holds_one_event(stores, tenant) -> None:
    # Given four events of about 10 KB each
    stores.sessions.append(tenant, "s-1", [event(f"e{i}", "x" * 10_000, later(i)) for i in range(4)])
    size = wire_size(stores.sessions.events(tenant, "s-1")[0].model_dump(mode="json"))

    # When pages may take the size of two and a half events, or less than one
    two = _all_pages(stores, tenant, EventWindow(), 100, max_bytes=int(size * 2.5))
    one = _all_pages(stores, tenant, EventWindow(), 100, max_bytes=10)

    # Then pages hold two events, or one each (never none)
    assert two == [["e0", "e1"], ["e2", "e3"]]
    assert one == [["e0"], ["e1"], ["e2"], ["e3"]]


def test_a_token_is_only_good_for_its_own_session(stores, tenant) -> None:
    # Given two sessions and a token of the first
    stores.sessions.append(tenant, "s-1", [event(f"e{i}", "turn", later(i)) for i in range(3)])
    stores.sessions.append(tenant, "s-2", [event("x", "turn", later(0))])
    _, token = stores.sessions.page(tenant, "s-1", EventWindow(), 1)

    # When it is used for the other session, another tenant, or garbled, Then it is refused
    for args in ((tenant, "s-2"), (f"{tenant}-other", "s-1")):
        with pytest.raises(InvalidInput):
            stores.sessions.page(*args, EventWindow(), 1, token)
    with pytest.raises(InvalidInput):
        stores.sessions.page(tenant, "s-1", EventWindow(), 1, "not-a-token")
    # and an unknown session is one empty page
    assert stores.sessions.page(tenant, "unknown", EventWindow(), 10) == ([], None)
