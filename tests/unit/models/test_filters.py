"""The filter language on list-valued and null metadata: what ``parse`` accepts and what ``matches``
decides (the evaluator the fakes and the local index use; DynamoDB and OpenSearch are held to the same
answers by the store contract and the OpenSearch contract tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from engram.adapters.dynamodb.conditions import MAX_EXPRESSION_BYTES, to_condition
from engram.errors import InvalidInput
from engram.models.filters import Comparison, matches, parse

T = datetime(2026, 3, 4, tzinfo=UTC)

#: One memory's metadata per name: a list, an empty list, a plain string, a null, nothing.
MEMORIES: dict[str, dict[str, Any]] = {
    "py": {"tags": ["python", "aws"]},
    "go": {"tags": ["go"]},
    "empty": {"tags": []},
    "str": {"tags": "python"},
    "null": {"tags": None},
    "none": {},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"tags": {"$in": ["python", "rust"]}}, {"py", "str"}),
        ({"tags": {"$contains": "python"}}, {"py"}),
        ({"tags": {"$contains": "pyth"}}, set()),
        ({"tags": {"$nin": ["python"]}}, {"go", "empty", "null", "none"}),
        ({"tags": {"$ne": "python"}}, {"py", "go", "empty", "null", "none"}),
        ({"tags": "python"}, {"str"}),
        ({"tags": {"$gte": "a"}}, {"str"}),
        ({"tags": {"$in": [1, True]}}, set()),
        ({"$not": {"tags": {"$contains": "go"}}}, {"py", "empty", "str", "null", "none"}),
        ({"$or": [{"tags": {"$contains": "go"}}, {"tags": {"$contains": "aws"}}]}, {"py", "go"}),
    ],
    ids=["in-any-item", "contains", "contains-no-substring", "nin", "ne", "eq", "range", "in-other-types", "not", "or"],
)
def test_list_valued_and_null_metadata_match_as_documented(expression: dict, expected: set[str]) -> None:
    # Given memories whose "tags" is a list, an empty list, a string, null or absent
    # When the filter is evaluated on each
    node = parse(expression)
    found = {name for name, metadata in MEMORIES.items() if matches(node, metadata, T, T)}
    # Then exactly the documented ones match
    assert found == expected


def test_contains_parses_to_one_comparison_on_the_metadata_key() -> None:
    assert parse({"tags": {"$contains": "python"}}) == Comparison("metadata.tags", "$contains", "python")


@pytest.mark.parametrize(
    "expression",
    [
        {"tags": {"$contains": 1}},
        {"tags": {"$contains": ["python"]}},
        {"create_time": {"$contains": "2026"}},
        {"tags": None},
        {"tags": ["python", "aws"]},
        {"tags": {"$in": [None]}},
    ],
    ids=["contains-number", "contains-list", "contains-time", "null", "list-equality", "null-in-list"],
)
def test_filters_on_lists_and_null_that_cannot_be_answered_are_refused(expression: dict) -> None:
    # Given a filter with a value of no filter type, When it is parsed, Then InvalidInput (422) names the key
    with pytest.raises(InvalidInput, match="tags|create_time"):
        parse(expression)


def test_a_filter_too_large_for_a_dynamodb_expression_is_invalid_input_not_a_failed_query() -> None:
    # Given one $in of 100 strings (tested as a value and among list items): it fits
    to_condition(parse({"tags": {"$in": [f"value-{i}" for i in range(100)]}}))
    # When two of them are combined, Then the translation refuses it with the size and the limit
    wide = {key: {"$in": [f"value-{i}" for i in range(100)]} for key in ("a", "b")}
    with pytest.raises(InvalidInput, match=f"at most {MAX_EXPRESSION_BYTES:,}"):
        to_condition(parse(wide))
