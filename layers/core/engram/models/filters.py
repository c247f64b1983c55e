"""The ``filter`` language of retrieve, list and purge, parsed once into a small AST that
adapters translate (DynamoDB condition, OpenSearch bool query) and that ``matches`` evaluates in Python.

Grammar (a JSON object)::

    filter   := {clause, clause, ...}                  all clauses must hold ($and)
    clause   := "$and": [filter, ...] | "$or": [filter, ...] | "$not": filter
              | field: value                            equality
              | field: {op: value, ...}                 op in $eq $ne $gt $gte $lt $lte $in $nin $contains
    field    := "create_time" | "update_time"           the memory's times (RFC 3339 strings)
              | "metadata.<key>" | "<key>"              a metadata key
    value    := string | number | boolean               ($in / $nin: a list of them, at most 100;
                                                         $contains: a string)

Examples: ``{"source": "chat"}``, ``{"priority": {"$gte": 2}}``,
``{"$or": [{"lang": "en"}, {"lang": {"$in": ["pt", "es"]}}], "create_time": {"$gte": "2026-01-01T00:00:00Z"}}``,
``{"tags": {"$in": ["python", "aws"]}}``, ``{"participants": {"$contains": "alice"}}``.

Comparisons between different types are false (never an error); ``$ne`` / ``$nin`` hold for a memory
without that key. A metadata value may be a list of strings (``{"tags": ["python", "aws"]}``) or null:

- ``$in`` holds for a list-valued key when any element is one of the given values; ``$nin`` when none is.
- ``$contains`` holds when the key's value is a list holding that string (never for a plain string: it
  is not a substring test).
- A list equals no single value: ``$eq`` and the ranges are false on it, ``$ne`` true.
- null is a value of its own type: it matches no filter value (``$ne`` / ``$nin`` hold), and null is not
  a filter value.

Limits: depth 6, 50 comparisons. Errors: ``InvalidInput`` (422) naming the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union

from engram.errors import InvalidInput
from engram.models.limits import check_metadata_key, check_number

Scalar = str | int | float | bool
TIME_FIELDS = ("create_time", "update_time")
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains")
MAX_DEPTH = 6
MAX_COMPARISONS = 50
MAX_LIST = 100


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``field`` is ``create_time``, ``update_time`` or ``metadata.<key>``; ``value``
    is a scalar, a tuple of them for ``$in`` / ``$nin``, a string for ``$contains``."""

    field: str
    op: Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains"]
    value: Any

    @property
    def is_time(self) -> bool:
        return self.field in TIME_FIELDS

    @property
    def metadata_key(self) -> str:
        return self.field.removeprefix("metadata.")


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[Comparison, And, Or, Not]  # noqa: UP007 - a forward-referenced union


def parse(raw: dict[str, Any] | None) -> Node | None:
    """Parse a filter object; None or ``{}`` means no filter. Raises ``InvalidInput``."""
    if raw is None or raw == {}:
        return None
    counter = [0]
    return _parse_object(raw, 1, counter)


def _parse_object(raw: Any, depth: int, counter: list[int]) -> Node:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput("a filter must be a non-empty JSON object")
    if depth > MAX_DEPTH:
        raise InvalidInput(f"filter is nested deeper than {MAX_DEPTH} levels")
    clauses: list[Node] = []
    for key, value in raw.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise InvalidInput(f"{key} takes a non-empty list of filters")
            items = tuple(_parse_object(v, depth + 1, counter) for v in value)
            clauses.append(And(items) if key == "$and" else Or(items))
        elif key == "$not":
            clauses.append(Not(_parse_object(value, depth + 1, counter)))
        elif key.startswith("$"):
            raise InvalidInput(f"unknown filter operator {key!r}")
        else:
            clauses.extend(_parse_field(key, value, counter))
    return clauses[0] if len(clauses) == 1 else And(tuple(clauses))


def _field_name(key: str) -> str:
    if key in TIME_FIELDS:
        return key
    name = key.removeprefix("metadata.")
    try:  # the metadata key grammar (engram.models.limits): no '[' or ']', which DynamoDB paths read as indexes
        check_metadata_key(name, "filter")
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    return f"metadata.{name}"


def _check_scalar(field: str, value: Any) -> Scalar:
    if isinstance(value, bool | int | float | str) and not (isinstance(value, float) and value != value):
        if field in TIME_FIELDS:
            if not isinstance(value, str):
                raise InvalidInput(f"{field} is compared with an RFC 3339 time string")
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as error:
                raise InvalidInput(f"{field}: {value!r} is not an RFC 3339 time") from error
            if parsed.tzinfo is None:
                raise InvalidInput(f"filter: {field} {value!r} needs a time zone (e.g. Z or +01:00)")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            try:  # a number DynamoDB can compare (engram.models.limits)
                check_number(value, f"filter value of {field!r}")
            except ValueError as error:
                raise InvalidInput(str(error)) from error
        return value
    raise InvalidInput(
        f"filter values are strings, numbers or booleans (field {field!r}); "
        "match list-valued keys with $in or $contains"
    )


def _parse_field(key: str, value: Any, counter: list[int]) -> list[Node]:
    field = _field_name(key)
    if not isinstance(value, dict):
        value = {"$eq": value}
    if not value:
        raise InvalidInput(f"empty operator object for {key!r}")
    out: list[Node] = []
    for op, operand in value.items():
        if op not in OPERATORS:
            raise InvalidInput(f"unknown filter operator {op!r} for {key!r}")
        counter[0] += 1
        if counter[0] > MAX_COMPARISONS:
            raise InvalidInput(f"filter has more than {MAX_COMPARISONS} comparisons")
        if op in ("$in", "$nin"):
            if not isinstance(operand, list) or not operand or len(operand) > MAX_LIST:
                raise InvalidInput(f"{op} takes a list of 1-{MAX_LIST} values ({key!r})")
            operand = tuple(_check_scalar(field, v) for v in operand)
        elif op == "$contains":
            if field in TIME_FIELDS or not isinstance(operand, str):
                raise InvalidInput(f"$contains takes a string and a metadata key ({key!r})")
        else:
            operand = _check_scalar(field, operand)
        out.append(Comparison(field, op, operand))
    return out


# --- evaluation ---------------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _comparable(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return type(a) is type(b)


def _equal(a: Any, b: Any) -> bool:
    return _comparable(a, b) and bool(a == b)


def _compare_list(op: str, items: list[Any], expected: Any) -> bool:
    """A comparison on a list-valued key: ``$in`` / ``$nin`` / ``$contains`` look at its elements; a list
    equals no scalar (``$ne`` holds, ``$eq`` and ranges do not)."""
    if op == "$contains":
        return any(_equal(item, expected) for item in items)
    if op in ("$in", "$nin"):
        found = any(_equal(item, e) for item in items for e in expected)
        return found if op == "$in" else not found
    return op == "$ne"


def _compare(op: str, actual: Any, expected: Any, present: bool) -> bool:
    if isinstance(actual, list):
        return _compare_list(op, actual, expected)
    if op == "$contains":
        return False
    if op == "$ne":
        return not present or not _comparable(actual, expected) or actual != expected
    if op == "$nin":
        return not present or all(not _comparable(actual, e) or actual != e for e in expected)
    if not present:
        return False
    if op == "$in":
        return any(_comparable(actual, e) and actual == e for e in expected)
    if not _comparable(actual, expected):
        return False
    if op == "$eq":
        return bool(actual == expected)
    if op == "$gt":
        return bool(actual > expected)
    if op == "$gte":
        return bool(actual >= expected)
    if op == "$lt":
        return bool(actual < expected)
    return bool(actual <= expected)


def matches(node: Node | None, metadata: dict[str, Any], create_time: datetime, update_time: datetime) -> bool:
    """Evaluate ``node`` against one memory's metadata and times."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(n, metadata, create_time, update_time) for n in node.items)
    if isinstance(node, Or):
        return any(matches(n, metadata, create_time, update_time) for n in node.items)
    if isinstance(node, Not):
        return not matches(node.item, metadata, create_time, update_time)
    if node.is_time:
        actual = create_time if node.field == "create_time" else update_time
        if node.op in ("$in", "$nin"):
            expected: Any = tuple(_time(v) for v in node.value)
        else:
            expected = _time(node.value)
        return _compare(node.op, actual, expected, True)
    key = node.metadata_key
    return _compare(node.op, metadata.get(key), node.value, key in metadata)
