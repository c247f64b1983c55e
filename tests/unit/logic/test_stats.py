"""Usage analytics (``engram.logic.stats``) on the in-memory fakes: totals, topics, groups, days, usage
and its estimated cost, and the 4xx of bad parameters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from engram.clock import new_id
from engram.errors import InvalidInput
from engram.logic.memories import create_memories, delete_memory
from engram.logic.stats import get_stats, parse_scope
from engram.models.lifecycle import PriceTable
from engram.models.memory import NewMemory
from engram.models.operation import Operation, OperationStatus, Usage

TENANT = "tenant-a"
SCOPE = {"user_id": "u-1"}
PRICES = PriceTable()


def _create(stores: Any, embedder: Any, clock: Any, fact: str, scope: dict[str, str] = SCOPE, **fields: Any):
    [memory] = create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [NewMemory(scope=scope, fact=fact, **fields)]
    )
    return memory


def _stats(stores: Any, clock: Any, scope: dict[str, str] | None = SCOPE, **options: Any):
    return get_stats(stores.stats, stores.memories, clock, PRICES, TENANT, scope, **options)


def test_totals_topics_and_days_of_a_scope(stores, embedder, clock):
    # Given two memories yesterday (one deleted today) and one today, and one of another scope
    _create(stores, embedder, clock, "Tea.", topics=["USER_PREFERENCES"])
    gone = _create(stores, embedder, clock, "Rex.", topics=["USER_PERSONAL_INFO", "USER_PREFERENCES"])
    clock.advance(days=1)
    delete_memory(stores.memories, stores.configs, clock, TENANT, gone.id)
    _create(stores, embedder, clock, "Jazz.", topics=["USER_PREFERENCES"])
    _create(stores, embedder, clock, "Other.", scope={"user_id": "u-2"})

    # When the scope's stats of the last 3 days are read, grouped by topic
    stats = _stats(stores, clock, days=3, group_by="topic")

    # Then they count what the scope holds and what happened each day, oldest first
    assert stats.total == 2 and stats.by_topic == {"USER_PREFERENCES": 2} and stats.by_group == stats.by_topic
    today = clock.now().date()
    assert [d.date for d in stats.per_day] == [today - timedelta(days=2), today - timedelta(days=1), today]
    assert [(d.created, d.updated, d.deleted) for d in stats.per_day] == [(0, 0, 0), (2, 0, 0), (1, 0, 1)]
    assert _stats(stores, clock, scope=None, days=1).total == 3


def test_usage_per_day_and_its_estimated_cost(stores, clock):
    # Given an operation of the scope with usage
    operation = Operation(id=new_id(), status=OperationStatus.RUNNING, create_time=clock.now(), update_time=clock.now())
    stores.operations.create(TENANT, operation, SCOPE, {})
    usage = Usage(llm_calls=2, input_tokens=1_000_000, output_tokens=100_000, embedding_calls=10)
    stores.operations.add_usage(TENANT, operation.id, usage, clock.now())

    # When the stats are read, then today's usage is there with its cost at the price table
    [day] = _stats(stores, clock, days=1).usage_per_day
    assert (day.operations, day.llm_calls, day.input_tokens, day.output_tokens, day.embedding_calls) == (
        1,
        2,
        1_000_000,
        100_000,
        10,
    )
    # 1M input × $0.15/M + 0.1M output × $0.60/M + 10 calls × 500 tokens × $0.02/M
    assert day.estimated_cost_usd == pytest.approx(0.15 + 0.06 + 0.0001)


def test_grouping_by_a_metadata_key_counts_the_top_values(stores, embedder, clock):
    _create(stores, embedder, clock, "A.", metadata={"lang": "en", "tags": ["x", "y"]})
    _create(stores, embedder, clock, "B.", metadata={"lang": "en", "tags": ["x"]})
    _create(stores, embedder, clock, "C.", metadata={"lang": "pt", "priority": 2})
    assert _stats(stores, clock, group_by="metadata.lang").by_group == {"en": 2, "pt": 1}
    assert _stats(stores, clock, group_by="metadata.tags").by_group == {"x": 2, "y": 1}
    assert _stats(stores, clock, group_by="metadata.priority").by_group == {"2": 1}


def test_grouping_reads_at_most_a_bounded_number_of_memories(stores, embedder, clock, monkeypatch):
    monkeypatch.setattr("engram.logic.stats.MAX_GROUP_MEMORIES", 2)
    for fact in ("A.", "B.", "C."):
        _create(stores, embedder, clock, fact, metadata={"lang": "en"})
    stats = _stats(stores, clock, group_by="metadata.lang")
    assert stats.by_group == {"en": 2} and stats.by_group_complete is False


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 367}, "days"),
        ({"group_by": "lang"}, "group_by"),
        ({"group_by": "metadata."}, "group_by"),
        ({"group_by": "metadata.lang", "scope": None}, "group_by"),
    ],
)
def test_bad_parameters_name_the_field(stores, clock, options, field):
    with pytest.raises(InvalidInput, match=field):
        _stats(stores, clock, **options)


@pytest.mark.parametrize("text", ["not json", "[1]", '{"user_id": 1}', "{}"])
def test_a_bad_scope_names_the_field(text):
    with pytest.raises(InvalidInput, match="scope"):
        parse_scope(text)


def test_a_scope_parses_to_its_canonical_form():
    assert parse_scope('{"b": "2", "a": "1"}') == {"a": "1", "b": "2"} and parse_scope(None) is None
