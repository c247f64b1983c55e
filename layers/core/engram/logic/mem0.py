"""The mem0-compatible surface's use cases, on Engram's own logic and store (no second store, no second
pipeline): mem0 ``filters`` translated to a scope, an Engram filter and topics (``translate``); adds as
direct creates (``infer`` false) or generations; lists by page number; batch and entity deletions written
like a purge (a DELETED revision each, in atomic blocks); entities read from the memories' scopes.

Filter translation (``translate``), where ``where`` in an error is the field path (``filters.AND[1].OR``):

- ``user_id`` / ``agent_id`` / ``app_id`` / ``run_id`` at the top level or in ``AND`` (a string, or
  ``{"eq": s}``) → the scope, matched exactly. At least one is required. ``*``, any other operator, two
  values for one key, and an entity inside ``OR`` / ``NOT`` → ``InvalidInput`` (422): a search or list
  covers one scope.
- ``metadata``: ``{key: value}`` or ``{key: {op: value}}``, ``op`` in eq ne gt gte lt lte in nin →
  ``{"metadata.<key>": {"$<op>": value}}``; ``contains`` / ``icontains`` (substring) and ``*`` → 422.
- ``created_at`` / ``updated_at``: ``{gte|gt|lte|lt: value}`` → ``create_time`` / ``update_time``. A value is
  an RFC 3339 time with a zone (kept as it is), or a day ``YYYY-MM-DD`` read in UTC: ``gte`` / ``lt`` the
  day's start, ``gt`` / ``lte`` the next day's start (``lte 2026-07-31`` keeps all of July 31).
- ``AND`` → ``$and``, ``OR`` → ``$or`` and ``NOT`` (a list, or one object) → ``$not`` of their ``$and``.
- ``categories``: ``{"in": [...]}`` at the top level or in ``AND`` → topics (a memory with any of them).
- Anything else → 422 naming it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engram.errors import Conflict, InvalidInput, NotFound, StoreConflict
from engram.logic.config import expire_at, get_config
from engram.logic.generation import start_generation, wait_for_operation
from engram.logic.memories import create_memories, is_live, retrieve, revision_for, update_memory
from engram.models.api import (
    DEFAULT_RETRIEVAL_MODE,
    GenerateRequest,
    MetadataUpdateStrategy,
    RetrieveRequest,
    UpdateMemoryRequest,
)
from engram.models.config import MAX_TTL_SECONDS
from engram.models.conversation import Message
from engram.models.filters import parse as parse_filter
from engram.models.mem0 import ENTITY_KEYS
from engram.models.memory import MAX_TOPICS, Action, Memory, NewMemory, ScoredMemory, StoredMemory
from engram.models.operation import Operation
from engram.models.scope import MAX_SCOPE_VALUE_CHARS
from engram.ports import (
    Change,
    Clock,
    ConfigRepository,
    Embedder,
    MemoryRepository,
    OperationRepository,
    VectorIndex,
    WorkflowStarter,
)

M = TypeVar("M", bound=BaseModel)

_OPERATORS = {
    "eq": "$eq",
    "ne": "$ne",
    "gt": "$gt",
    "gte": "$gte",
    "lt": "$lt",
    "lte": "$lte",
    "in": "$in",
    "nin": "$nin",
}
_TIME_FIELDS = {"created_at": "create_time", "updated_at": "update_time"}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SUPPORTED = "user_id, agent_id, app_id, run_id, AND, OR, NOT, metadata, created_at, updated_at, categories"
_ONE_SCOPE = "a search or list covers one scope, matched exactly (docs/mem0.md: 'all memories of a user across agents')"


@dataclass(frozen=True)
class Mem0Query:
    """A translated mem0 request: the ``scope``, an Engram ``filter`` (the filter language of
    ``engram.models.filters``; None for none) and ``topics`` (any of them; None for no topic condition)."""

    scope: dict[str, str]
    filter: dict[str, Any] | None = None
    topics: list[str] | None = None


@dataclass
class _Parts:
    scope: dict[str, str] = field(default_factory=dict)
    clauses: list[dict[str, Any]] = field(default_factory=list)
    topics: list[str] | None = None


def translate(
    filters: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    categories: Sequence[str] | None = None,
    created: tuple[date | None, date | None] = (None, None),
) -> Mem0Query:
    """The ``Mem0Query`` of mem0 ``filters`` (see the module docstring), with a request's own ``metadata``
    (equalities), ``categories`` (topics) and ``created`` days (on or after, on or before) added to it.
    Raises ``InvalidInput`` (422) naming what cannot be honoured, and when no entity is given."""
    parts = _Parts()
    _conjunction(filters, "filters", parts)
    if categories:
        _set_topics(parts, list(categories), "categories")
    if metadata:
        parts.clauses.extend(_metadata(metadata, "metadata"))
    for op, day, where in (("gte", created[0], "start_date"), ("lte", created[1], "end_date")):
        if day is not None:
            parts.clauses.append({"create_time": dict([_time_bound(op, day.isoformat(), where)])})
    if not parts.scope:
        raise InvalidInput(
            "filters: name at least one of user_id, agent_id, app_id, run_id (the memories' scope, matched exactly)"
        )
    clauses = parts.clauses
    engram_filter = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
    parse_filter(engram_filter)  # the translation is valid Engram filter language (InvalidInput otherwise)
    return Mem0Query(scope=parts.scope, filter=engram_filter, topics=parts.topics)


def add_scope(entities: dict[str, str | None], filters: dict[str, Any] | None) -> dict[str, str]:
    """The scope an add (or a deletion by entities) names: the ``entities`` given, and those of ``filters``,
    which may hold nothing else. Raises ``InvalidInput`` on a conflict, another filter, or no entity."""
    parts = _Parts()
    for key, value in entities.items():
        if value is not None:
            _entity(key, value, key, parts.scope)
    if filters:
        _conjunction(filters, "filters", parts)
        if parts.clauses or parts.topics is not None:
            raise InvalidInput("filters: here they may only name entities (user_id, agent_id, app_id, run_id)")
    if not parts.scope:
        raise InvalidInput("name at least one of user_id, agent_id, app_id, run_id (the memories' scope)")
    return parts.scope


def _object(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict) or not node:
        raise InvalidInput(f"{where} must be a non-empty JSON object")
    return node


def _items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{where} takes a non-empty list of filters")
    return value


def _conjunction(node: Any, where: str, parts: _Parts) -> None:
    """``node`` read as an AND of its keys: entities and categories into ``parts``' scope and topics (also
    through nested ``AND``), every other key into its clauses."""
    for key, value in _object(node, where).items():
        here = f"{where}.{key}"
        if key == "AND":
            for position, item in enumerate(_items(value, here)):
                _conjunction(item, f"{here}[{position}]", parts)
        elif key in ENTITY_KEYS:
            _entity(key, value, here, parts.scope)
        elif key == "categories":
            _set_topics(parts, _categories(value, here), here)
        else:
            parts.clauses.append(_condition(key, value, here))


def _condition(key: str, value: Any, where: str) -> dict[str, Any]:
    """One key of a filter object as an Engram clause; entities and categories are refused here (inside
    OR / NOT they cannot be honoured)."""
    if key in ("AND", "OR"):
        items = [_clause(item, f"{where}[{position}]") for position, item in enumerate(_items(value, where))]
        return {"$and" if key == "AND" else "$or": items}
    if key == "NOT":
        items = value if isinstance(value, list) else [value]
        negated = [_clause(item, f"{where}[{position}]") for position, item in enumerate(_items(items, where))]
        return {"$not": negated[0] if len(negated) == 1 else {"$and": negated}}
    if key == "metadata":
        return _all(_metadata(value, where))
    if key in _TIME_FIELDS:
        return _all(_times(key, value, where))
    if key in ENTITY_KEYS or key == "categories":
        raise InvalidInput(f"{where}: {key} inside OR or NOT cannot be honoured: {_ONE_SCOPE}")
    raise InvalidInput(f"{where}: unknown filter key {key!r}; supported: {_SUPPORTED}")


def _clause(item: Any, where: str) -> dict[str, Any]:
    return _all([_condition(key, value, f"{where}.{key}") for key, value in _object(item, where).items()])


def _all(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _entity(key: str, value: Any, where: str, scope: dict[str, str]) -> None:
    if isinstance(value, dict):
        if set(value) != {"eq"}:
            operator = next(iter(value), "{}")
            raise InvalidInput(f"{where}: {operator!r} on an entity cannot be honoured: give one {key}; {_ONE_SCOPE}")
        value = value["eq"]
    if value == "*":
        raise InvalidInput(f"{where}: '*' (any {key}) cannot be honoured: name the {key}; {_ONE_SCOPE}")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_SCOPE_VALUE_CHARS:
        raise InvalidInput(f"{where}: a {key} is a string of 1-{MAX_SCOPE_VALUE_CHARS} characters")
    if scope.setdefault(key, value) != value:
        raise InvalidInput(f"{where}: {key} is given twice with different values; {_ONE_SCOPE}")


def _categories(value: Any, where: str) -> list[str]:
    wanted = value.get("in") if isinstance(value, dict) and set(value) == {"in"} else None
    if not isinstance(wanted, list) or not 1 <= len(wanted) <= MAX_TOPICS:
        raise InvalidInput(
            f"{where}: categories are Engram topics: give {{'in': [1-{MAX_TOPICS} topics]}} (any of them)"
        )
    if not all(isinstance(topic, str) and 1 <= len(topic) <= 128 for topic in wanted):
        raise InvalidInput(f"{where}: a category (topic) is a string of 1-128 characters")
    return wanted


def _set_topics(parts: _Parts, topics: list[str], where: str) -> None:
    if parts.topics is not None:
        raise InvalidInput(f"{where}: categories are given twice; Engram keeps memories with any of one list of topics")
    parts.topics = topics


def _metadata(value: Any, where: str) -> list[dict[str, Any]]:
    clauses = []
    for key, condition in _object(value, where).items():
        operators = condition if isinstance(condition, dict) else {"eq": condition}
        translated = {}
        for operator, operand in _object(operators, f"{where}.{key}").items():
            here = f"{where}.{key}.{operator}"
            if operator in ("contains", "icontains"):
                raise InvalidInput(
                    f"{here}: {operator} (a substring match) cannot be honoured: Engram compares whole values "
                    "(on a list-valued key, 'in' matches when any item is one of the values)"
                )
            if operator not in _OPERATORS:
                raise InvalidInput(f"{here}: unknown operator; supported: {', '.join(_OPERATORS)}")
            if operand == "*" or (isinstance(operand, list) and "*" in operand):
                raise InvalidInput(f"{here}: '*' (any value) cannot be honoured on metadata")
            translated[_OPERATORS[operator]] = operand
        clauses.append({f"metadata.{key}": translated})
    return clauses


def _times(key: str, value: Any, where: str) -> list[dict[str, Any]]:
    clauses = []
    for operator, operand in _object(value, where).items():
        if operator not in ("gte", "gt", "lte", "lt"):
            raise InvalidInput(f"{where}.{operator}: cannot be honoured on {key}; use gte, gt, lte or lt")
        clauses.append({_TIME_FIELDS[key]: dict([_time_bound(operator, operand, f"{where}.{operator}")])})
    return clauses


def _time_bound(operator: str, value: Any, where: str) -> tuple[str, str]:
    """An Engram comparison ``(op, RFC 3339 time)`` for a mem0 bound: a UTC day or a zoned time."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as error:
            raise InvalidInput(f"{where}: {value!r} is not a date") from error
        start, end = (f"{d.isoformat()}T00:00:00Z" for d in (day, day + timedelta(days=1)))
        return {"gte": ("$gte", start), "gt": ("$gte", end), "lte": ("$lt", end), "lt": ("$lt", start)}[operator]
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise InvalidInput(f"{where}: {value!r} is neither a day (YYYY-MM-DD) nor an RFC 3339 time") from error
        if parsed.tzinfo is None:
            raise InvalidInput(f"{where}: {value!r} needs a time zone (e.g. Z or +01:00)")
        return f"${operator}", value
    raise InvalidInput(f"{where}: give a day (YYYY-MM-DD) or an RFC 3339 time as a string")


# --- use cases --------------------------------------------------------------------------------------


def engram_model(model: type[M], **fields: Any) -> M:
    """``model(**fields)``, with a validation error turned into ``InvalidInput`` (422) naming the field
    (so a value the mem0 models let through but Engram's own refuses is a client error, never a 500)."""
    try:
        return model(**fields)
    except ValidationError as error:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg', 'invalid')}"
            for e in error.errors()[:5]
        )
        raise InvalidInput(detail) from error


def ttl_until_end_of(day: date, now: datetime) -> int:
    """Seconds from ``now`` to the end of ``day`` (UTC), for an ``expiration_date``. Raises ``InvalidInput``
    when that is less than a minute away (or past) or more than Engram's longest TTL (10 years)."""
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    seconds = math.ceil((end - now).total_seconds())
    if not 60 <= seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"expiration_date {day.isoformat()} must be from today (UTC) to 10 years ahead")
    return seconds


def add_verbatim(
    memories: MemoryRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    scope: dict[str, str],
    messages: Sequence[Message],
    metadata: dict[str, Any],
    ttl_seconds: int | None,
) -> list[Memory]:
    """``infer: false``: each non-system message's text becomes a memory of ``scope`` (one embedding call,
    like ``POST /v1/memories/batch``)."""
    new = [
        engram_model(NewMemory, scope=scope, fact=m.text(), metadata=metadata, ttl_seconds=ttl_seconds)
        for m in messages
        if m.role != "system"
    ]
    return create_memories(memories, configs, embedder, clock, tenant_id, new)


def add_inferred(
    operations: OperationRepository,
    workflow: WorkflowStarter,
    configs: ConfigRepository,
    clock: Clock,
    tenant_id: str,
    scope: dict[str, str],
    messages: Sequence[Message],
    metadata: dict[str, Any],
    ttl_seconds: int | None,
    wait_seconds: float,
) -> Operation:
    """``infer: true``: a generation from ``messages`` (as ``POST /v1/memories/generate``), waited for up to
    ``wait_seconds``; returns the operation as it then is."""
    request = engram_model(
        GenerateRequest, scope=scope, messages=list(messages), metadata=metadata, ttl_seconds=ttl_seconds
    )
    operation = start_generation(operations, workflow, clock, tenant_id, request, configs)
    if wait_seconds > 0:
        operation = wait_for_operation(operations, tenant_id, operation.id, wait_seconds)
    return operation


def search(
    memories: MemoryRepository,
    index: VectorIndex,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    query: Mem0Query,
    text: str,
    top_k: int,
    lexical: bool,
) -> list[ScoredMemory]:
    """The ``top_k`` best memories of ``query`` for ``text`` (Engram's retrieve: hybrid, or lexical)."""
    request = engram_model(
        RetrieveRequest,
        scope=query.scope,
        query=text,
        mode="lexical" if lexical else DEFAULT_RETRIEVAL_MODE,
        top_k=top_k,
        topics=query.topics,
        filter=query.filter,
    )
    return retrieve(memories, index, embedder, clock, tenant_id, request).memories


def list_page(
    memories: MemoryRepository, clock: Clock, tenant_id: str, query: Mem0Query, page: int, page_size: int
) -> tuple[list[Memory], int]:
    """Page ``page`` (from 1) of ``page_size`` live memories of ``query``, newest first, and how many match.

    The count is one counting query of the scope (none leaves the store); the page reads the scope's
    matching memories from the newest up to the page's last one. With topics, the whole scope is read.
    """
    node = parse_filter(query.filter)
    wanted = set(query.topics or [])
    live = (
        memory
        for memory in memories.matching(tenant_id, query.scope, node)
        if is_live(memory, clock) and (not wanted or not wanted.isdisjoint(memory.topics))
    )
    start = (page - 1) * page_size
    if wanted:
        kept = list(live)
        return [m.public() for m in kept[start : start + page_size]], len(kept)
    total = memories.count(tenant_id, query.scope, node, clock.now())
    return [m.public() for m in islice(live, start, start + page_size)], total


def update(
    memories: MemoryRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    clock: Clock,
    tenant_id: str,
    memory_id: str,
    changes: dict[str, Any],
) -> Memory:
    """Engram's update with mem0's fields: ``text`` → fact, ``metadata`` replaces the memory's, and
    ``ttl_seconds`` (when present; None removes the expiry)."""
    fields: dict[str, Any] = {}
    if changes.get("text") is not None:
        fields["fact"] = changes["text"]
    if changes.get("metadata") is not None:
        fields |= {"metadata": changes["metadata"], "metadata_merge_strategy": MetadataUpdateStrategy.OVERWRITE}
    if "ttl_seconds" in changes:
        fields["ttl_seconds"] = changes["ttl_seconds"]
    request = engram_model(UpdateMemoryRequest, revision_labels={"mem0": "update"}, **fields)
    return update_memory(memories, configs, embedder, clock, tenant_id, memory_id, request)


def live_or_404(
    memories: MemoryRepository, clock: Clock, tenant_id: str, memory_ids: Iterable[str]
) -> list[StoredMemory]:
    """The live memories of ``memory_ids`` (in order, duplicates once). Raises ``NotFound`` naming the first
    one that is absent, expired or another tenant's."""
    ids = list(dict.fromkeys(memory_ids))
    found = memories.get_many(tenant_id, ids)
    for memory_id in ids:
        if memory_id not in found or not is_live(found[memory_id], clock):
            raise NotFound(f"memory {memory_id} not found")
    return [found[memory_id] for memory_id in ids]


def delete_all_of(
    memories: MemoryRepository,
    configs: ConfigRepository,
    clock: Clock,
    tenant_id: str,
    doomed: Sequence[StoredMemory],
    label: str,
) -> int:
    """Delete ``doomed`` as a purge does: a DELETED revision each (labelled ``mem0=<label>``), written in
    atomic blocks; the index follows through the stream. Returns how many. Raises ``Conflict`` when a
    concurrent change won (the blocks before it stay written)."""
    now = clock.now()
    revision_expire = expire_at(now, get_config(configs, tenant_id).ttl.revision_ttl_seconds)
    changes = [
        Change(Action.DELETED, None, m, revision_for(m, Action.DELETED, now, m.fact, {"mem0": label}, revision_expire))
        for m in doomed
    ]
    try:
        memories.apply_in_blocks(tenant_id, changes)
    except StoreConflict as error:
        raise Conflict("a memory changed concurrently; retry") from error
    return len(changes)


@dataclass
class EntitySummary:
    """An entity (a value of one of ``ENTITY_KEYS`` on live memories' scopes) and its memories."""

    key: str
    name: str
    total: int
    created: datetime
    updated: datetime


def entities(memories: MemoryRepository, clock: Clock, tenant_id: str) -> list[EntitySummary]:
    """Every entity of the tenant's live memories, the most recently changed first. Reads every memory
    of the tenant (the tenant-wide index, page after page)."""
    found: dict[tuple[str, str], EntitySummary] = {}
    for memory in memories.matching(tenant_id, None, None):
        if not is_live(memory, clock):
            continue
        for key in ENTITY_KEYS:
            if key in memory.scope:
                entry = found.setdefault(
                    (key, memory.scope[key]),
                    EntitySummary(key, memory.scope[key], 0, memory.create_time, memory.update_time),
                )
                entry.total += 1
                entry.created = min(entry.created, memory.create_time)
                entry.updated = max(entry.updated, memory.update_time)
    return sorted(found.values(), key=lambda e: (e.updated, e.key, e.name), reverse=True)


def of_entity(memories: MemoryRepository, clock: Clock, tenant_id: str, key: str, name: str) -> list[StoredMemory]:
    """Every live memory whose scope has ``key`` = ``name``, in any scope (reads every memory of the
    tenant). Raises ``NotFound`` when there is none."""
    doomed = [
        memory
        for memory in memories.matching(tenant_id, None, None)
        if memory.scope.get(key) == name and is_live(memory, clock)
    ]
    if not doomed:
        raise NotFound(f"no memory has {key} {name!r}")
    return doomed
