"""mem0 filters → Engram scope, filter and topics (``engram.logic.mem0.translate``), and the scope of an add."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from engram.errors import InvalidInput
from engram.logic.mem0 import Mem0Query, add_scope, translate, ttl_until_end_of


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"user_id": "1"}, Mem0Query(scope={"user_id": "1"})),
        ({"user_id": {"eq": "1"}, "run_id": "r"}, Mem0Query(scope={"user_id": "1", "run_id": "r"})),
        (
            {"AND": [{"user_id": "1"}, {"AND": [{"agent_id": "a"}, {"app_id": "x"}]}]},
            Mem0Query(scope={"user_id": "1", "agent_id": "a", "app_id": "x"}),
        ),
        (
            {"AND": [{"user_id": "1"}, {"metadata": {"kind": "pet", "age": {"gte": 3}}}]},
            Mem0Query(
                scope={"user_id": "1"},
                filter={"$and": [{"metadata.kind": {"$eq": "pet"}}, {"metadata.age": {"$gte": 3}}]},
            ),
        ),
        (
            {"user_id": "1", "OR": [{"metadata": {"k": {"in": ["a", "b"]}}}, {"NOT": {"metadata": {"k": "c"}}}]},
            Mem0Query(
                scope={"user_id": "1"},
                filter={"$or": [{"metadata.k": {"$in": ["a", "b"]}}, {"$not": {"metadata.k": {"$eq": "c"}}}]},
            ),
        ),
        (
            {"user_id": "1", "NOT": [{"metadata": {"a": 1}}, {"metadata": {"b": {"ne": 2}}}]},
            Mem0Query(
                scope={"user_id": "1"},
                filter={"$not": {"$and": [{"metadata.a": {"$eq": 1}}, {"metadata.b": {"$ne": 2}}]}},
            ),
        ),
        (
            {"user_id": "1", "categories": {"in": ["USER_PREFERENCES"]}},
            Mem0Query(scope={"user_id": "1"}, topics=["USER_PREFERENCES"]),
        ),
    ],
)
def test_filters_become_a_scope_an_engram_filter_and_topics(filters, expected):
    assert translate(filters) == expected


def test_days_are_utc_days_and_zoned_times_are_kept():
    # Given bounds on created_at as days and updated_at as a time
    query = translate(
        {
            "user_id": "1",
            "created_at": {"gte": "2026-07-01", "lte": "2026-07-31"},
            "updated_at": {"gt": "2026-07-05", "lt": "2026-07-10T12:00:00+02:00"},
        }
    )
    # Then a day is the whole UTC day: lte includes it, gt starts after it
    assert query.filter == {
        "$and": [
            {
                "$and": [
                    {"create_time": {"$gte": "2026-07-01T00:00:00Z"}},
                    {"create_time": {"$lt": "2026-08-01T00:00:00Z"}},
                ]
            },
            {
                "$and": [
                    {"update_time": {"$gte": "2026-07-06T00:00:00Z"}},
                    {"update_time": {"$lt": "2026-07-10T12:00:00+02:00"}},
                ]
            },
        ]
    }
    # And a request's own dates, metadata and categories join the filters
    extra = translate({"agent_id": "a"}, metadata={"k": "v"}, categories=["T"], created=(date(2026, 1, 2), None))
    assert extra == Mem0Query(
        scope={"agent_id": "a"},
        filter={"$and": [{"metadata.k": {"$eq": "v"}}, {"create_time": {"$gte": "2026-01-02T00:00:00Z"}}]},
        topics=["T"],
    )


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"metadata": {"k": "v"}}, "at least one of user_id"),
        ({"user_id": "*"}, "filters.user_id: '*'"),
        ({"user_id": {"in": ["1", "2"]}}, "'in' on an entity"),
        ({"user_id": {"ne": "1"}}, "'ne' on an entity"),
        ({"user_id": 1}, "a user_id is a string"),
        ({"AND": [{"user_id": "1"}, {"user_id": "2"}]}, "given twice"),
        ({"OR": [{"user_id": "1"}, {"user_id": "2"}]}, "filters.OR[0].user_id: user_id inside OR"),
        ({"user_id": "1", "NOT": [{"agent_id": "a"}]}, "agent_id inside OR or NOT"),
        ({"user_id": "1", "OR": [{"categories": {"in": ["T"]}}]}, "categories inside OR"),
        ({"user_id": "1", "metadata": {"k": {"icontains": "v"}}}, "icontains (a substring match)"),
        ({"user_id": "1", "metadata": {"k": {"contains": "v"}}}, "contains (a substring match)"),
        ({"user_id": "1", "metadata": {"k": {"like": "v"}}}, "filters.metadata.k.like: unknown operator"),
        ({"user_id": "1", "metadata": {"k": "*"}}, "'*' (any value)"),
        ({"user_id": "1", "metadata": {"k": {"in": ["*"]}}}, "'*' (any value)"),
        ({"user_id": "1", "metadata": {"k": None}}, "filter values are strings"),
        ({"user_id": "1", "metadata": {"bad[key]": 1}}, "not a valid metadata key"),
        ({"user_id": "1", "created_at": {"eq": "2026-01-01"}}, "filters.created_at.eq: cannot be honoured"),
        ({"user_id": "1", "created_at": {"gte": "2026-02-30"}}, "is not a date"),
        ({"user_id": "1", "created_at": {"gte": "2026-01-01T00:00:00"}}, "needs a time zone"),
        ({"user_id": "1", "created_at": {"gte": 1767225600}}, "as a string"),
        ({"user_id": "1", "categories": {"contains": "T"}}, "categories are Engram topics"),
        ({"user_id": "1", "categories": {"in": ["A"]}, "AND": [{"categories": {"in": ["B"]}}]}, "given twice"),
        ({"user_id": "1", "keywords": "x"}, "unknown filter key 'keywords'"),
        ({"user_id": "1", "OR": []}, "non-empty list"),
        ({"user_id": "1", "OR": [{}]}, "non-empty JSON object"),
        ({}, "non-empty JSON object"),
    ],
)
def test_what_cannot_be_honoured_is_refused_naming_it(filters, named):
    with pytest.raises(InvalidInput) as refused:
        translate(filters)
    assert named in refused.value.message, refused.value.message


def test_an_adds_scope_comes_from_its_entities_and_filters_that_hold_only_entities():
    assert add_scope({"user_id": "1", "agent_id": None}, None) == {"user_id": "1"}
    assert add_scope({"user_id": "1"}, {"run_id": "r"}) == {"user_id": "1", "run_id": "r"}
    for entities, filters, named in [
        ({"user_id": "1"}, {"user_id": "2"}, "given twice"),
        ({"user_id": "1"}, {"metadata": {"k": "v"}}, "may only name entities"),
        ({"user_id": None}, None, "at least one of"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            add_scope(entities, filters)
        assert named in refused.value.message


def test_an_expiration_date_is_the_end_of_that_utc_day():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert ttl_until_end_of(date(2026, 3, 1), now) == 12 * 3600
    assert ttl_until_end_of(date(2026, 3, 2), now) == 36 * 3600
    for day in (date(2026, 2, 28), date(2040, 1, 1)):
        with pytest.raises(InvalidInput, match="expiration_date"):
            ttl_until_end_of(day, now)
