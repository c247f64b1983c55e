"""Usage analytics (``GET /v1/stats``): what a scope or a tenant stores and what its generations cost, read
from counters the repositories keep on write (``StatsRepository``), never from the tenant's memories.

What a request costs in DynamoDB reads, with ``d`` = ``days`` and ``S`` = 4 shards
(``engram.adapters.dynamodb.counters.STATS_SHARDS``):

- the counters: ``S × (d + 1)`` small items (the scope's or tenant's TOTAL shards, and S per day) in
  ``⌈S × (d + 1) / 100⌉`` eventually consistent ``BatchGetItem`` requests; each item is under 4 KB (a
  TOTAL item holds one number per topic), so ``0.5 × S × (d + 1)`` read units: 62 for 30 days, 734 for 366;
- ``group_by=topic``: nothing more (the topic counters are the groups);
- ``group_by=metadata.<key>`` (a scope is required): one more query of the scope's memories, newest
  first, of at most ``MAX_GROUP_MEMORIES`` memories. A memory item holds its embedding (about 6 KB at 1,536
  dimensions), so this is about ``0.9 × n`` read units for ``n`` memories read (up to about 900); the values
  are counted only over those (``by_group_complete`` false when the scope holds more).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from engram.errors import InvalidInput
from engram.logic.memories import is_live
from engram.models.lifecycle import MAX_GROUPS, MAX_STATS_DAYS, DayCounts, DayUsage, PriceTable, StatsResponse
from engram.models.scope import Scope, scope_hash
from engram.ports import Clock, MemoryRepository, StatsRepository

#: Memories a ``group_by=metadata.<key>`` request reads at most (newest first).
MAX_GROUP_MEMORIES = 1000
METADATA_PREFIX = "metadata."
MAX_GROUP_KEY_CHARS = 64


def parse_scope(text: str | None) -> dict[str, str] | None:
    """The ``scope`` query parameter: a JSON object (``{"user_id":"u-1"}``), or None when absent. Raises
    ``InvalidInput`` naming ``scope`` when it is not a valid scope."""
    if text is None:
        return None
    try:
        return TypeAdapter(Scope).validate_python(json.loads(text))
    except (ValueError, ValidationError) as error:
        detail = error.errors()[0]["msg"] if isinstance(error, ValidationError) else "not valid JSON"
        raise InvalidInput(f'scope: give a JSON object of strings, e.g. {{"user_id":"u-1"}} ({detail})') from error


def _group_key(group_by: str | None, scope: dict[str, str] | None) -> str | None:
    """The metadata key of ``group_by`` (None for ``topic`` or no grouping). Raises ``InvalidInput``."""
    if group_by is None or group_by == "topic":
        return None
    key = group_by.removeprefix(METADATA_PREFIX)
    if not group_by.startswith(METADATA_PREFIX) or not 1 <= len(key) <= MAX_GROUP_KEY_CHARS:
        raise InvalidInput(f"group_by: 'topic' or 'metadata.<key>' (a key of 1-{MAX_GROUP_KEY_CHARS} characters)")
    if scope is None:
        raise InvalidInput("group_by: grouping by a metadata key needs a scope")
    return key


def get_stats(
    stats: StatsRepository,
    memories: MemoryRepository,
    clock: Clock,
    prices: PriceTable,
    tenant_id: str,
    scope: dict[str, str] | None,
    days: int = 30,
    group_by: str | None = None,
) -> StatsResponse:
    """The stats of ``scope`` (None: the whole tenant) over the last ``days`` UTC days (1-366, today
    included), grouped by ``group_by`` (``topic`` or ``metadata.<key>``; None: no ``by_group``). Costs as the
    module docstring says. Raises ``InvalidInput`` naming ``days`` or ``group_by``."""
    if not 1 <= days <= MAX_STATS_DAYS:
        raise InvalidInput(f"days: 1-{MAX_STATS_DAYS}")
    key = _group_key(group_by, scope)
    today = clock.now().astimezone(UTC).date()
    dates = [today - timedelta(days=back) for back in reversed(range(days))]
    counters = stats.read(tenant_id, scope_hash(scope) if scope is not None else None, [d.isoformat() for d in dates])
    by_topic = dict(sorted(((t, n) for t, n in counters.topics.items() if n), key=lambda item: (-item[1], item[0])))
    by_group, complete = dict(list(by_topic.items())[:MAX_GROUPS]) if group_by == "topic" else {}, True
    if key is not None and scope is not None:
        by_group, complete = _metadata_groups(memories, clock, tenant_id, scope, key)
    return StatsResponse(
        scope=scope,
        days=days,
        total=counters.total,
        by_topic=by_topic,
        group_by=group_by,
        by_group=by_group,
        by_group_complete=complete,
        per_day=[_day(d, counters.per_day[d.isoformat()]) for d in dates],
        usage_per_day=[_usage(d, counters.per_day[d.isoformat()], prices) for d in dates],
        prices=prices,
    )


def _day(day: date, counted: Any) -> DayCounts:
    return DayCounts(date=day, created=counted.created, updated=counted.updated, deleted=counted.deleted)


def _usage(day: date, counted: Any, prices: PriceTable) -> DayUsage:
    return DayUsage(
        date=day,
        operations=counted.operations,
        llm_calls=counted.llm_calls,
        input_tokens=counted.input_tokens,
        output_tokens=counted.output_tokens,
        embedding_calls=counted.embedding_calls,
        estimated_cost_usd=prices.cost(counted.input_tokens, counted.output_tokens, counted.embedding_calls),
    )


def _metadata_groups(
    memories: MemoryRepository, clock: Clock, tenant_id: str, scope: dict[str, str], key: str
) -> tuple[dict[str, int], bool]:
    """The top ``MAX_GROUPS`` values of ``metadata[key]`` over the scope's live memories (each item of a
    list value counts; strings as they are, other values as JSON), read newest first up to
    ``MAX_GROUP_MEMORIES``; and whether every memory was read."""
    counted: Counter[str] = Counter()
    for read, memory in enumerate(memories.matching(tenant_id, scope)):
        if read == MAX_GROUP_MEMORIES:
            return _top(counted), False
        value = memory.metadata.get(key)
        if value is None or not is_live(memory, clock):
            continue
        for item in value if isinstance(value, list) else [value]:
            counted[item if isinstance(item, str) else json.dumps(item)] += 1
    return _top(counted), True


def _top(counted: Counter[str]) -> dict[str, int]:
    return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:MAX_GROUPS])
