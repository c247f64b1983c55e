"""``StatsRepository``: the usage counters the memory and operation repositories keep on write, read the
same on the fake and on DynamoDB (``engram.adapters.dynamodb.counters``)."""

from __future__ import annotations

from datetime import timedelta

from engram.models.operation import Usage
from engram.models.scope import scope_hash
from engram.ports import DayCounters

from tests.integration.store.builders import SCOPE, T0, created, deleted, memory, operation, updated

OTHER_SCOPE = {"user_id": "u-2", "app": "contract"}
DAY = T0.date().isoformat()
NEXT_DAY = (T0 + timedelta(days=1)).date().isoformat()


def test_writes_count_per_scope_per_tenant_and_per_day(stores, tenant) -> None:
    # Given three memories created in one write (two in SCOPE); the next day one updated to new topics,
    # then deleted, and one moved to OTHER_SCOPE
    tea, jazz = memory(tenant, "Tea."), memory(tenant, "Jazz.")
    rex = memory(tenant, "Rex.", scope=OTHER_SCOPE, topics=["USER_PREFERENCES"])
    stores.memories.apply_changes(tenant, [created(tea), created(jazz), created(rex)])
    tea, jazz = stores.memories.get(tenant, tea.id), stores.memories.get(tenant, jazz.id)
    later = T0 + timedelta(days=1)
    stores.memories.apply_changes(tenant, [updated(tea, topics=["USER_PREFERENCES"], update_time=later)])
    stores.memories.apply_changes(tenant, [deleted(stores.memories.get(tenant, tea.id))])
    stores.memories.apply_changes(tenant, [updated(jazz, scope=OTHER_SCOPE, update_time=later)])

    # When the counters are read for SCOPE, OTHER_SCOPE and the tenant
    days = [DAY, NEXT_DAY]
    scope = stores.stats.read(tenant, scope_hash(SCOPE), days)
    other = stores.stats.read(tenant, scope_hash(OTHER_SCOPE), days)
    everything = stores.stats.read(tenant, None, days)

    # Then SCOPE holds nothing any more, OTHER_SCOPE two memories, and each day counts what happened
    assert (scope.total, scope.topics) == (0, {})
    assert scope.per_day == {DAY: DayCounters(created=2), NEXT_DAY: DayCounters(updated=1, deleted=1)}
    assert (other.total, other.topics) == (2, {"USER_PREFERENCES": 1, "USER_PERSONAL_INFO": 1})
    assert other.per_day == {DAY: DayCounters(created=1), NEXT_DAY: DayCounters(updated=1)}
    assert (everything.total, everything.topics) == (2, {"USER_PREFERENCES": 1, "USER_PERSONAL_INFO": 1})
    assert everything.per_day == {
        DAY: DayCounters(created=3),
        NEXT_DAY: DayCounters(updated=2, deleted=1),
    }


def test_a_batch_create_is_counted(stores, tenant) -> None:
    changes = [created(memory(tenant, f"Fact {i}.")) for i in range(3)]
    stores.memories.create_all(tenant, changes)
    counters = stores.stats.read(tenant, scope_hash(SCOPE), [DAY])
    assert (counters.total, counters.per_day[DAY].created) == (3, 3)


def test_operations_and_their_usage_are_counted_by_day(stores, tenant) -> None:
    # Given an operation of SCOPE and usage added to it the next day
    op = operation()
    stores.operations.create(tenant, op, SCOPE, {"scope": SCOPE})
    usage = Usage(llm_calls=2, input_tokens=1000, output_tokens=200, embedding_calls=1)
    stores.operations.add_usage(tenant, op.id, usage, T0 + timedelta(days=1))
    stores.operations.add_usage(tenant, op.id, Usage(), T0 + timedelta(days=1))  # zero: nothing

    # When SCOPE's, another scope's and the tenant's counters are read
    days = [DAY, NEXT_DAY]
    scope = stores.stats.read(tenant, scope_hash(SCOPE), days)
    other = stores.stats.read(tenant, scope_hash(OTHER_SCOPE), days)
    everything = stores.stats.read(tenant, None, days)

    # Then the operation counts on its day, its usage on the day it was added
    expected = {
        DAY: DayCounters(operations=1),
        NEXT_DAY: DayCounters(llm_calls=2, input_tokens=1000, output_tokens=200, embedding_calls=1),
    }
    assert scope.per_day == expected and everything.per_day == expected
    assert other.per_day == {DAY: DayCounters(), NEXT_DAY: DayCounters()}


def test_another_tenant_reads_zeros(stores, tenant) -> None:
    stores.memories.apply_changes(tenant, [created(memory(tenant))])
    counters = stores.stats.read(f"{tenant}-other", None, [DAY])
    assert (counters.total, counters.topics, counters.per_day) == (0, {}, {DAY: DayCounters()})


def test_any_topic_is_counted_under_its_own_name(stores, tenant) -> None:
    # Given memories whose topics hold brackets (a list index to a document path), percent signs, dots and
    # what looks like an escape
    topics = ["[iv", "a[1]", "x]", "50%", "x%5B", "a.b", "plain"]
    changes = [created(memory(tenant, f"Fact {i}.", topics=[topic])) for i, topic in enumerate(topics)]
    # When they are created and then one is deleted
    stores.memories.create_all(tenant, changes)
    gone = stores.memories.get(tenant, changes[1].revision.memory_id)
    assert gone is not None
    stores.memories.apply_changes(tenant, [deleted(gone)])
    # Then each topic is counted under its own name
    counters = stores.stats.read(tenant, scope_hash(SCOPE), [DAY])
    assert counters.topics == {topic: 1 for topic in topics if topic != "a[1]"}
    assert counters.total == len(topics) - 1


def test_a_topic_attribute_reads_back_as_its_topic() -> None:
    from engram.adapters.dynamodb.counters import TOPIC_PREFIX, topic_attribute, topic_of_attribute

    for topic in ["[iv", "a[1]", "50%", "x%5B", "%25", "a.b", "", "日本"]:
        name = topic_attribute(topic)
        assert "[" not in name and "]" not in name
        assert topic_of_attribute(name) == topic
    assert topic_of_attribute(TOPIC_PREFIX + "50%") == "50%"  # written before the encoding: as it is
