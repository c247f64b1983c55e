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
from engram.errors import InvalidInput
from engram.models.filters import And, Comparison, Node, Not, Or

#: DynamoDB refuses an expression string over 4 KB; this leaves room for the placeholders of the key
#: condition that precede the filter's in the same request.
MAX_EXPRESSION_BYTES = 4000


def to_condition(node: Node | None) -> Condition | None:
    """The filter as a PynamoDB condition (None for no filter).

    Semantics match ``engram.models.filters.matches``: values of different types compare unequal, and
    ``$ne``/``$nin`` also hold where the key is absent. A list-valued key (a DynamoDB list, ``L``)
    matches ``$in`` when ``contains()`` finds one of the given strings in it, and ``$contains`` when it
    holds the string; ``attribute_type(..., L)`` guards both, since ``contains()`` on a string attribute
    would test for a substring.

    Raises ``InvalidInput`` (422) when the expression would be longer than DynamoDB accepts (about
    4 KB: some 100 strings in ``$in`` on metadata, each being tested both ways), rather than letting the
    query fail.
    """
    if node is None:
        return None
    condition = _condition(node)
    size = len(condition.serialize({}, {}).encode())
    if size > MAX_EXPRESSION_BYTES:
        raise InvalidInput(
            f"the filter is too large: {size:,} bytes as a DynamoDB expression, at most "
            f"{MAX_EXPRESSION_BYTES:,}; use fewer values or comparisons"
        )
    return condition


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


def _list_holds(path: Any, strings: list[str]) -> Condition:
    """``path`` is a list holding at least one of ``strings``."""
    holds = functools.reduce(operator.or_, [path.contains(value) for value in strings])
    return path.is_type("L") & holds


def _comparison(node: Comparison) -> Condition:
    path: Any
    convert: Callable[[Any], Any]
    if node.is_time:
        path = MemoryItem.create_time if node.field == "create_time" else MemoryItem.update_time
        convert = _parse_time
    else:
        path = MemoryItem.metadata[node.metadata_key]
        convert = _keep
    if node.op == "$contains":
        return _list_holds(path, [node.value])
    if node.op in ("$in", "$nin"):
        values = tuple(convert(v) for v in node.value)
        found = path.is_in(*values)
        strings = [v for v in values if isinstance(v, str)]
        if not node.is_time and strings:  # list values hold strings only
            found = found | _list_holds(path, strings)
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
    compared = comparisons[node.op](path, value)
    if node.op != "$eq" and not node.is_time and not isinstance(value, bool):
        # A range on a value of another type is false in DynamoDB; saying so keeps emulators that raise on
        # such comparisons (moto: a list against a string) to the same answer.
        return path.is_type("S" if isinstance(value, str) else "N") & compared
    return compared
