"""Usage analytics counters (``GET /v1/stats``), kept on write in the same DynamoDB transaction as the
write they count, so a count is never ahead of or behind what is stored by a committed write.

Two partitions get counted for every write: the scope's (``T#<tenant>#STATS#<scope_hash>``) and the
tenant's (``...#STATS#ALL``); each holds ``STATS_SHARDS`` shards of two kinds of item (``StatsItem``):

- ``TOTAL#<shard>``: memories stored (``n``) and per topic (``t:<topic>``, ``topic_attribute``), a stock: +1 when a memory is
  created or moved in, -1 when it is deleted or moved out (archived), topics following updates;
- ``D#<yyyy-mm-dd>#<shard>``: what happened that UTC day: memories ``created``, ``updated`` (an archive
  counts as an update in the scope moved to) and ``deleted``, ``operations`` started, and their usage
  (``llm_calls``, ``input_tokens``, ``output_tokens``, ``embedding_calls``). Kept ``DAY_ITEM_DAYS``.

A transaction adds to one shard (chosen from its first memory or operation id), so concurrent writes of
one scope meet on the same item only one time in ``STATS_SHARDS`` (two transactions on one item
conflict: ``StoreConflict``, retried by the caller). Counted: ``MemoryRepository.apply_changes`` and
``create_all``, ``OperationRepository.create`` and ``add_usage``, and the deletions of the retention job
and of a forget (``add_deletion_counters``: -1 stored and per topic, +1 ``deleted`` that day, in the
transaction that deletes the memories). Not counted: a memory DynamoDB's TTL deletes before the
retention job does (the memory's ``ttl`` is later than its expiry by ``TTL_GRACE``, so this happens only
when the job has not run for that long), and an expired memory is in ``n`` until the job deletes it
(reads hide it from its expiry on).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action as UpdateAction
from pynamodb.transactions import TransactWrite

from engram.adapters.dynamodb.items import MemoryItem, StatsItem
from engram.errors import RetryableError
from engram.models.memory import Action
from engram.models.operation import Usage
from engram.models.scope import scope_hash
from engram.ports import Change, DayCounters, StatsCounters

STATS_SHARDS = 4
#: Days a day item is kept (its ``ttl``); a stats request reads at most ``MAX_STATS_DAYS`` of them.
DAY_ITEM_DAYS = 400
TOPIC_PREFIX = "t:"
#: Characters of a topic written percent-encoded in its counter's attribute name: PynamoDB reads ``[n]`` in
#: a path as a list index and refuses other brackets, and ``%`` so that the encoding reads back.
_TOPIC_ESCAPES = {"%": "%25", "[": "%5B", "]": "%5D"}
_TOPIC_ESCAPED = re.compile("|".join(re.escape(code) for code in _TOPIC_ESCAPES.values()))
DAY_FIELDS = (
    "created",
    "updated",
    "deleted",
    "operations",
    "llm_calls",
    "input_tokens",
    "output_tokens",
    "embedding_calls",
)
#: Keys one BatchGetItem request takes; requests for unprocessed keys before giving up.
BATCH_GET_KEYS = 100
BATCH_GET_ATTEMPTS = 6


@dataclass
class Tally:
    """What one write changes in one partition: the stock (``total``, ``topics``) and the day's flow."""

    total: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    flow: Counter[str] = field(default_factory=Counter)

    def stock_actions(self) -> list[UpdateAction]:
        actions: list[UpdateAction] = [Path(["n"]).add(self.total)] if self.total else []
        return actions + [Path([topic_attribute(t)]).add(n) for t, n in sorted(self.topics.items()) if n]

    def flow_actions(self) -> list[UpdateAction]:
        return [Path([name]).add(n) for name, n in sorted(self.flow.items()) if n]


def topic_attribute(topic: str) -> str:
    """The attribute of a ``TOTAL`` item that counts ``topic``: ``TOPIC_PREFIX`` and the topic, with ``%``,
    ``[`` and ``]`` percent-encoded (``a[1]`` → ``t:a%5B1%5D``). ``topic_of_attribute`` reads it back."""
    return TOPIC_PREFIX + "".join(_TOPIC_ESCAPES.get(char, char) for char in topic)


def topic_of_attribute(name: str) -> str:
    """The topic a ``topic_attribute`` name counts (an attribute written before the encoding, without
    ``%25``, ``%5B`` or ``%5D`` in it, reads as it is)."""
    decoded = {code: char for char, code in _TOPIC_ESCAPES.items()}
    return _TOPIC_ESCAPED.sub(lambda found: decoded[found.group(0)], name[len(TOPIC_PREFIX) :])


def tallies(changes: Sequence[Change]) -> dict[str | None, Tally]:
    """Per partition (a scope's hash; None: the tenant), what ``changes`` add to its counters."""
    out: defaultdict[str | None, Tally] = defaultdict(Tally)

    def stock(scope: dict[str, str], topics: Iterable[str], sign: int) -> None:
        for key in (scope_hash(scope), None):
            out[key].total += sign
            out[key].topics.update({topic: sign for topic in set(topics)})

    for change in changes:
        if change.before is not None:
            stock(change.before.scope, change.before.topics, -1)
        if change.after is not None:
            stock(change.after.scope, change.after.topics, +1)
        counted = change.after or change.before
        assert counted is not None, "a change has a memory before or after it"
        kind = {Action.CREATED: "created", Action.DELETED: "deleted"}.get(change.action, "updated")
        for key in (scope_hash(counted.scope), None):
            out[key].flow[kind] += 1
    return dict(out)


@dataclass(frozen=True)
class Removed:
    """A memory deleted by retention or a forget, as its counters know it: its scope's hash and topics."""

    memory_id: str
    scope_key: str
    topics: tuple[str, ...]


#: What deleting a memory item needs read of it (its counters, and the version guarding the delete): not
#: its embedding.
REMOVED_ATTRIBUTES = ["PK", "SK", "tenant_id", "memory_id", "scope_hash", "topics", "expire_time", "version"]


def removed(item: MemoryItem) -> Removed:
    """A memory item (read with at least ``REMOVED_ATTRIBUTES``) as its counters know it."""
    return Removed(item.memory_id, item.scope_hash, tuple(str(topic) for topic in item.topics or ()))


def deletion_tallies(memories: Sequence[Removed]) -> dict[str | None, Tally]:
    """Per partition (a scope's hash; None: the tenant), what deleting ``memories`` adds to its counters."""
    out: defaultdict[str | None, Tally] = defaultdict(Tally)
    for memory in memories:
        for key in (memory.scope_key, None):
            out[key].total -= 1
            out[key].topics.update({topic: -1 for topic in set(memory.topics)})
            out[key].flow["deleted"] += 1
    return dict(out)


def deletion_counter_items(memories: Sequence[Removed]) -> int:
    """Counter items a transaction deleting ``memories`` updates: a TOTAL and a day item per scope, and the
    tenant's two (none without memories)."""
    return 2 * len({memory.scope_key for memory in memories}) + 2 if memories else 0


def counter_items(changes: Sequence[Change]) -> int:
    """How many counter items a transaction of ``changes`` updates (a TOTAL and a day item per partition
    whose stock or flow changes)."""
    return sum(bool(t.stock_actions()) + bool(t.flow_actions()) for t in tallies(changes).values())


def transaction_items(changes: Sequence[Change], with_result: bool) -> int:
    """Items a transaction of ``changes`` writes: a memory and a revision each, the operation result, the
    counters."""
    return 2 * len(changes) + int(with_result) + counter_items(changes)


def shard_of(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % STATS_SHARDS


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def add_change_counters(
    transaction: TransactWrite, stats: type[StatsItem], tenant_id: str, changes: Sequence[Change]
) -> None:
    """Add the counter updates of ``changes`` to ``transaction`` (their day: the last revision's time)."""
    if not changes:
        return
    first = changes[0].after or changes[0].before
    assert first is not None, "a change has a memory before or after it"
    moment = max(change.revision.create_time for change in changes)
    _add_tallies(transaction, stats, tenant_id, tallies(changes), shard_of(first.id), moment)


def add_deletion_counters(
    transaction: TransactWrite,
    stats: type[StatsItem],
    tenant_id: str,
    memories: Sequence[Removed],
    moment: datetime,
) -> None:
    """Add the counter updates of deleting ``memories`` (retention, forget) at ``moment`` to ``transaction``."""
    if memories:
        shard = shard_of(memories[0].memory_id)
        _add_tallies(transaction, stats, tenant_id, deletion_tallies(memories), shard, moment)


def _add_tallies(
    transaction: TransactWrite,
    stats: type[StatsItem],
    tenant_id: str,
    tallied: dict[str | None, Tally],
    shard: int,
    moment: datetime,
) -> None:
    for key, tally in tallied.items():
        if stock := tally.stock_actions():
            transaction.update(stats(*StatsItem.total_key(tenant_id, key, shard)), actions=stock)
        if flow := tally.flow_actions():
            transaction.update(
                stats(*StatsItem.day_key(tenant_id, key, day_of(moment), shard)), actions=flow + [_ttl(moment)]
            )


def add_operation_counters(
    transaction: TransactWrite,
    stats: type[StatsItem],
    tenant_id: str,
    scope_key: str,
    operation_id: str,
    now: datetime,
    usage: Usage | None = None,
) -> None:
    """Add to the day items of the scope and the tenant: one operation (``usage`` None: it was created), or
    ``usage`` of one."""
    counts = {"operations": 1} if usage is None else usage.model_dump()
    actions = [Path([name]).add(n) for name, n in sorted(counts.items()) if n]
    if not actions:
        return
    for key in (scope_key, None):
        item = stats(*StatsItem.day_key(tenant_id, key, day_of(now), shard_of(operation_id)))
        transaction.update(item, actions=[*actions, _ttl(now)])


def _ttl(moment: datetime) -> UpdateAction:
    return StatsItem.ttl.set(moment + timedelta(days=DAY_ITEM_DAYS))


class DynamoStats:
    """See ``engram.ports.StatsRepository``: one or more ``BatchGetItem`` requests (eventually consistent)
    of ``STATS_SHARDS`` TOTAL items and ``STATS_SHARDS`` day items per day."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def read(self, tenant_id: str, scope_key: str | None, days: Sequence[str]) -> StatsCounters:
        keys = [StatsItem.total_key(tenant_id, scope_key, s) for s in range(STATS_SHARDS)]
        keys += [StatsItem.day_key(tenant_id, scope_key, day, s) for day in days for s in range(STATS_SHARDS)]
        counters = StatsCounters(per_day={day: DayCounters() for day in days})
        for item in self._get(keys):
            sort_key = item["SK"]["S"]
            numbers = {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "ttl"}
            if sort_key.startswith(StatsItem.TOTAL):
                counters.total += numbers.pop("n", 0)
                for name, n in numbers.items():
                    if name.startswith(TOPIC_PREFIX):
                        topic = topic_of_attribute(name)
                        counters.topics[topic] = counters.topics.get(topic, 0) + n
            else:
                day = counters.per_day[sort_key[len(StatsItem.DAY_PREFIX) :].rsplit("#", 1)[0]]
                for name in DAY_FIELDS:
                    setattr(day, name, getattr(day, name) + numbers.get(name, 0))
        counters.topics = {topic: n for topic, n in counters.topics.items() if n}  # a topic no memory holds now
        return counters

    def _get(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request = {
                self._table_name: {
                    "Keys": [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in keys[start : start + BATCH_GET_KEYS]]
                }
            }
            for attempt in range(BATCH_GET_ATTEMPTS):
                answer = self._client.batch_get_item(RequestItems=request)
                found += answer.get("Responses", {}).get(self._table_name, [])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))  # throttled: back off before asking for the rest
            else:
                raise RetryableError("the usage counters could not be read (throttled); retry")
        return found
