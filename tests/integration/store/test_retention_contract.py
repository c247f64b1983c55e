"""``RetentionRepository``: what has expired, told apart by kind, and deleted — the same on the fakes and
on DynamoDB."""

from __future__ import annotations

from collections import Counter

from engram.models.memory import Action
from engram.ports import Change

from tests.integration.store.builders import SCOPE, created, event, later, memory, new_id, revision


def _expiring_items(stores, tenant) -> dict[str, object]:
    """A memory and a session event expiring after 60 s, a revision after 120 s, and items that never expire."""
    short = memory(tenant, "The user is in a meeting.", expire_time=later(60))
    kept = memory(tenant, "The user likes tea.")
    stores.memories.apply_changes(tenant, [created(short), created(kept)])
    before = stores.memories.get(tenant, kept.id)
    after = before.model_copy(update={"fact": "The user likes green tea.", "revision_id": new_id()})
    change = Change(Action.UPDATED, after, before, revision(after, Action.UPDATED, expire_time=later(120)))
    stores.memories.apply_changes(tenant, [change])
    stores.sessions.append(tenant, "s-1", [event("e1", "old", later(0), later(60)), event("e2", "kept", later(0))])
    return {"short": short, "kept": kept, "revision": change.revision}


def test_expired_items_are_found_by_kind_and_deleted(stores, tenant) -> None:
    # Given a memory and a session event that expired at +60 s and a revision that expires at +120 s
    items = _expiring_items(stores, tenant)

    # When retention looks at +90 s
    expired = stores.retention.expired(later(90), 100)

    # Then it finds the memory and the session event (not what expires later, nor what never expires)
    assert Counter(item.kind for item in expired) == {"memory": 1, "session_event": 1}
    # When they are deleted
    stores.retention.delete(expired)

    # Then they are gone, and everything else is still there
    assert stores.memories.get(tenant, items["short"].id) is None
    assert stores.memories.get(tenant, items["kept"].id) is not None
    assert [e.event_id for e in stores.sessions.events(tenant, "s-1")] == ["e2"]
    assert stores.retention.expired(later(90), 100) == []
    # And at +150 s the revision has expired too; deleting it keeps the memory's other revisions
    [late] = stores.retention.expired(later(150), 100)
    assert late.kind == "revision"
    stores.retention.delete([late])
    assert [r.action for r in stores.memories.revisions(tenant, items["kept"].id)] == [Action.CREATED]


def test_expired_is_bounded_by_its_limit_and_deleting_twice_is_harmless(stores, tenant) -> None:
    # Given five memories that expired
    news = [memory(tenant, f"Fact {i}.", expire_time=later(i)) for i in range(5)]
    stores.memories.apply_changes(tenant, [created(m) for m in news])

    # When retention takes two, deletes them, and deletes them again
    first = stores.retention.expired(later(3600), 2)
    stores.retention.delete(first)
    stores.retention.delete(first)

    # Then two are gone, and the other three come next
    assert len(first) == 2
    rest = stores.retention.expired(later(3600), 100)
    assert len(rest) == 3 and {item.kind for item in rest} == {"memory"}
    stores.retention.delete(rest)
    assert list(stores.memories.scan(tenant)) == []


def test_a_revision_without_expiry_never_expires(stores, tenant) -> None:
    # Given a memory and its revision without expiry, When retention looks far ahead, Then nothing expired
    new = memory(tenant, scope=SCOPE)
    stores.memories.apply_changes(tenant, [created(new)])
    assert revision(new, Action.CREATED).expire_time is None
    assert stores.retention.expired(later(10**8), 100) == []
