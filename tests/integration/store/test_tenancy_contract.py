"""``SessionRepository``, ``ApiKeyRepository``, ``LeaseRepository`` and ``ConfigRepository`` — the same on
the fakes and on DynamoDB."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from engram.errors import Conflict

from tests.integration.store.builders import T0, event, later

# --- sessions ----------------------------------------------------------------------------------------


def test_appended_events_read_back_oldest_first_and_once(stores, tenant) -> None:
    # Given events appended out of time order, two with the same timestamp
    first = stores.sessions.append(
        tenant,
        "s-1",
        [event("b", "second", later(2)), event("a", "first", later(1)), event("c", "tie", later(2), later(99))],
    )

    # When the batch is sent again with one new event
    again = stores.sessions.append(tenant, "s-1", [event("a", "changed", later(1)), event("d", "new", later(0))])

    # Then each event is stored once (the first version), ordered by time then arrival
    assert (first, again) == ([True, True, True], [False, True])
    stored = stores.sessions.events(tenant, "s-1")
    assert [e.event_id for e in stored] == ["d", "a", "b", "c"]
    assert stored[1] == event("a", "first", later(1))
    assert stored[3].expire_time == later(99)
    assert stores.sessions.events(f"{tenant}-other", "s-1") == []


def test_deleting_a_session_removes_every_event(stores, tenant) -> None:
    # Given two sessions, one with more events than one batch deletes
    stores.sessions.append(tenant, "s-1", [event(str(i), f"turn {i}", later(i)) for i in range(30)])
    stores.sessions.append(tenant, "s-2", [event("x", "kept", later(0))])
    # When one is deleted, Then all its events are gone (and counted), and the other session stays
    assert stores.sessions.delete(tenant, "s-1") == 30
    assert stores.sessions.events(tenant, "s-1") == []
    assert [e.event_id for e in stores.sessions.events(tenant, "s-2")] == ["x"]
    assert stores.sessions.delete(tenant, "unknown") == 0


def test_truncating_a_session_keeps_its_last_live_events(stores, tenant) -> None:
    # Given a session of 30 events (more than one delete batch) appended out of time order, two sharing a
    # timestamp, plus an expired one among the newest; and another session
    turns = [event(f"e{i:02d}", f"turn {i}", later(i)) for i in reversed(range(30))]
    tie = event("tie", "same time as e29", later(29))
    expired = event("old", "expired", later(40), expire_time=later(50))
    stores.sessions.append(tenant, "s-1", [*turns, tie, expired])
    stores.sessions.append(tenant, "s-2", [event("x", "other", later(0))])

    # When it is truncated to its last 3 live events at a time after the expiry
    kept, deleted = stores.sessions.truncate(tenant, "s-1", 3, later(60))

    # Then the 3 newest live ones (time, then arrival) stay, the rest and the expired one are deleted
    assert (kept, deleted) == (3, 29)
    assert [e.event_id for e in stores.sessions.events(tenant, "s-1")] == ["e28", "e29", "tie"]
    # And repeating it deletes nothing; keeping more than there are keeps all; the other session is untouched
    assert stores.sessions.truncate(tenant, "s-1", 3, later(60)) == (3, 0)
    assert stores.sessions.truncate(tenant, "s-1", 10, later(60)) == (3, 0)
    assert [e.event_id for e in stores.sessions.events(tenant, "s-2")] == ["x"]
    # And keeping none empties it; an unknown session has nothing to keep or delete
    assert stores.sessions.truncate(tenant, "s-1", 0, later(60)) == (0, 3)
    assert stores.sessions.events(tenant, "s-1") == []
    assert stores.sessions.truncate(tenant, "unknown", 1, later(60)) == (0, 0)


# --- API keys ----------------------------------------------------------------------------------------


def test_a_key_resolves_to_its_tenant_until_revoked(stores, tenant) -> None:
    # Given an unknown key hash, When it is stored, stored again, then revoked, Then it resolves accordingly
    key_hash = uuid.uuid4().hex * 2
    assert stores.api_keys.get(key_hash) is None
    stores.api_keys.put(key_hash, tenant, "ci", T0)
    assert stores.api_keys.get(key_hash) == (tenant, False)
    with pytest.raises(Conflict):
        stores.api_keys.put(key_hash, "someone-else", "", T0)
    assert stores.api_keys.revoke(key_hash) is True
    record = stores.api_keys.get(key_hash)
    assert (record.tenant_id, record.revoked) == (tenant, True)
    assert stores.api_keys.revoke(uuid.uuid4().hex * 2) is False


# --- leases ------------------------------------------------------------------------------------------


def test_a_lease_has_one_holder_until_it_expires(stores, tenant) -> None:
    # Given a scope's lease taken by op-a, When others try to take it over time, Then only expiry lets them
    leases, now = stores.leases, T0.replace(microsecond=0)
    assert leases.acquire(tenant, "scope-1", "op-a", now, 120)
    assert not leases.acquire(tenant, "scope-1", "op-b", now + timedelta(seconds=60), 120)
    assert leases.acquire(tenant, "scope-1", "op-a", now + timedelta(seconds=60), 120)  # renewal, to +180 s
    assert not leases.acquire(tenant, "scope-1", "op-b", now + timedelta(seconds=180), 120)  # expires at +180 s
    assert leases.acquire(tenant, "scope-1", "op-b", now + timedelta(seconds=180, milliseconds=1), 120)  # takeover
    leases.release(tenant, "scope-1", "op-a")  # a stale holder cannot release it
    assert not leases.acquire(tenant, "scope-1", "op-c", now + timedelta(seconds=200), 120)
    leases.release(tenant, "scope-1", "op-b")
    assert leases.acquire(tenant, "scope-1", "op-c", now + timedelta(seconds=200), 120)
    assert leases.acquire(tenant, "scope-2", "op-d", now, 120)  # another scope has its own lease
    assert leases.acquire(f"{tenant}-other", "scope-1", "op-e", now, 120)  # and another tenant's


# --- tenant config -----------------------------------------------------------------------------------


def test_a_config_is_replaced_as_a_whole(stores, tenant) -> None:
    # Given no config, When one is stored, read, changed by the reader and replaced, Then reads follow writes
    assert stores.configs.get(tenant) is None
    document = {"managed_topics": ["USER_PREFERENCES"], "ttl": {"create_ttl_seconds": 3600}}
    stores.configs.put(tenant, document, T0)
    read = stores.configs.get(tenant)
    assert read == document
    read["ttl"]["create_ttl_seconds"] = 1  # a copy: changing it changes nothing stored
    stores.configs.put(f"{tenant}-other", {"managed_topics": []}, T0)
    assert stores.configs.get(tenant) == document
    stores.configs.put(tenant, {"managed_topics": []}, later(1))
    assert stores.configs.get(tenant) == {"managed_topics": []}
