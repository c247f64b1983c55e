"""Filters (``engram.models.filters``) as DynamoDB filter expressions on memory items, so list and purge
filter inside DynamoDB."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pynamodb.expressions.condition import Condition

from engram.adapters.dynamodb.items import MemoryItem
from engram.models.filters import And, Comparison, Node, Not, Or


def to_condition(node: Node | None) -> Condition | None:
    """The filter as a PynamoDB condition (None for no filter).

    Semantics match ``engram.models.filters.matches``: values of different types compare unequal, and
    ``$ne``/``$nin`` also hold where the key is absent.
    """
    if node is None:
        return None
    return _condition(node)


def _condition(node: Node) -> Condition:
    if isinstance(node, And):
        return functools.reduce(operator.and_, [_condition(n) for n in node.items])
    if isinstance(node, Or):
        return functools.reduce(operator.or_, [_condition(n) for n in node.items])
    if isinstance(node, Not):
        return ~_condition(node.item)
    return _comparison(node)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _keep(value: Any) -> Any:
    return value


def _comparison(node: Comparison) -> Condition:
    path: Any
    convert: Callable[[Any], Any]
    if node.is_time:
        path = MemoryItem.create_time if node.field == "create_time" else MemoryItem.update_time
        convert = _parse_time
    else:
        path = MemoryItem.metadata[node.metadata_key]
        convert = _keep
    if node.op in ("$in", "$nin"):
        values = tuple(convert(v) for v in node.value)
        found = path.is_in(*values)
        return found if node.op == "$in" else path.does_not_exist() | ~found
    value = convert(node.value)
    if node.op == "$ne":
        return path.does_not_exist() | (path != value)
    comparisons: dict[str, Callable[[Any, Any], Condition]] = {
        "$eq": operator.eq,
        "$gt": operator.gt,
        "$gte": operator.ge,
        "$lt": operator.lt,
        "$lte": operator.le,
    }
    return comparisons[node.op](path, value)
