"""The usage counters follow the deletions of the retention job and of a forget (issue 13): the stored
total and topics go down and the day counts them as deleted, in the writes that delete — the same on the
fakes and on DynamoDB, also for more than one transaction's worth of memories."""

from __future__ import annotations

from datetime import timedelta

from engram.models.scope import scope_hash
from engram.ports import FORGET_BATCH, DayCounters

from tests.integration.store.builders import SCOPE, T0, created, later, memory

OTHER_SCOPE = {"user_id": "u-2", "app": "contract"}
DAY = T0.date().isoformat()
NEXT_DAY = (T0 + timedelta(days=1)).date().isoformat()
PREFS, INFO = "USER_PREFERENCES", "USER_PERSONAL_INFO"


def _read(stores, tenant, scope):
    return stores.stats.read(tenant, scope_hash(scope) if scope else None, [DAY, NEXT_DAY])


def test_retention_takes_expired_memories_off_the_counters_on_the_day_it_runs(stores, tenant) -> None:
    # Given in SCOPE two memories expiring at +60 s (one with two topics) and one that never expires,
    # and in OTHER_SCOPE one expiring at +60 s
    stores.memories.apply_changes(
        tenant,
        [
            created(memory(tenant, "In a meeting.", expire_time=later(60), topics=[PREFS, INFO])),
            created(memory(tenant, "Busy today.", expire_time=later(60), topics=[INFO])),
            created(memory(tenant, "Likes tea.", topics=[PREFS])),
            created(memory(tenant, "Away.", scope=OTHER_SCOPE, expire_time=later(60), topics=[INFO])),
        ],
    )
    assert (_read(stores, tenant, SCOPE).total, _read(stores, tenant, None).total) == (3, 4)

    # When retention runs the next day
    run_at = T0 + timedelta(days=1)
    expired = stores.retention.expired(run_at, 100)
    stores.retention.delete(expired, run_at)

    # Then each scope and the tenant count only what is left, and the next day counts the deletions
    scope, other, everything = (_read(stores, tenant, s) for s in (SCOPE, OTHER_SCOPE, None))
    assert (scope.total, scope.topics) == (1, {PREFS: 1})
    assert (other.total, other.topics) == (0, {})
    assert (everything.total, everything.topics) == (1, {PREFS: 1})
    assert scope.per_day == {DAY: DayCounters(created=3), NEXT_DAY: DayCounters(deleted=2)}
    assert everything.per_day[NEXT_DAY] == DayCounters(deleted=3)
    # and deleting the same items again counts nothing more
    stores.retention.delete(expired, run_at)
    assert _read(stores, tenant, None) == everything


def test_retention_of_many_scopes_at_once_is_counted_exactly(stores, tenant) -> None:
    # Given 120 expired memories over 40 scopes (more counter items than one transaction holds)
    scopes = [{"user_id": f"u-{n}"} for n in range(40)]
    news = [memory(tenant, f"Fact {i}.", scope=scopes[i % 40], expire_time=later(i)) for i in range(120)]
    for start in range(0, 120, 20):
        stores.memories.apply_changes(tenant, [created(m) for m in news[start : start + 20]])

    # When retention deletes them all in one call
    stores.retention.delete(stores.retention.expired(later(3600), 500), later(3600))

    # Then every scope and the tenant are back to zero, with 120 deletions counted
    assert all(_read(stores, tenant, s).total == 0 for s in scopes)
    everything = _read(stores, tenant, None)
    assert (everything.total, everything.topics, everything.per_day[DAY].deleted) == (0, {}, 120)


def test_a_forget_takes_the_scope_off_the_counters_in_full_batches(stores, tenant) -> None:
    # Given 60 memories of SCOPE (a memory and a revision each: more than one batch) and one of OTHER_SCOPE
    news = [memory(tenant, f"Fact {i}.", topics=[PREFS]) for i in range(60)]
    for start in range(0, 60, 20):
        stores.memories.apply_changes(tenant, [created(m) for m in news[start : start + 20]])
    stores.memories.apply_changes(tenant, [created(memory(tenant, "Someone else.", scope=OTHER_SCOPE))])
    receipt = stores.forget.begin(tenant, "0" * 32, scope_hash(SCOPE), "r1", T0)

    # When SCOPE is forgotten the next day, in full batches
    moment = T0 + timedelta(days=1)
    while items := stores.forget.owned(tenant, SCOPE, [], FORGET_BATCH):
        assert stores.forget.delete(tenant, receipt.receipt_id, items, 0, moment) == len(items)
    done = stores.forget.finish(tenant, receipt.receipt_id, "0" * 32, moment)

    # Then the receipt counts them, SCOPE holds nothing, and the tenant only the other scope's memory
    assert (done.counts.memories, done.counts.revisions) == (60, 60)
    scope, everything = _read(stores, tenant, SCOPE), _read(stores, tenant, None)
    assert (scope.total, scope.topics, scope.per_day[NEXT_DAY].deleted) == (0, {}, 60)
    assert (everything.total, everything.topics) == (1, {INFO: 1})
    assert everything.per_day == {DAY: DayCounters(created=61), NEXT_DAY: DayCounters(deleted=60)}
