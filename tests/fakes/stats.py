"""``FakeStats``: the ``StatsRepository`` counters, derived from what the fake repositories record of each
write (the memory transactions, the operations created, each usage added), counted the way the DynamoDB
adapter's counters count them (``engram.adapters.dynamodb.counters.tallies``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engram.adapters.dynamodb.counters import day_of, tallies
from engram.models.scope import scope_hash
from engram.ports import DayCounters, StatsCounters

if TYPE_CHECKING:
    from tests.fakes.store import FakeMemories, FakeOperations


class FakeStats:
    def __init__(self, memories: FakeMemories, operations: FakeOperations) -> None:
        self.memories = memories
        self.operations = operations

    def read(self, tenant_id: str, scope_key: str | None, days: Sequence[str]) -> StatsCounters:
        counters = StatsCounters(per_day={day: DayCounters() for day in days})
        for changes in [*self.memories.transactions, *self.memories.removals]:
            first = changes[0].after or changes[0].before if changes else None
            if first is None or first.tenant_id != tenant_id:
                continue
            tally = tallies(changes).get(scope_key)
            if tally is None:
                continue
            counters.total += tally.total
            for topic, n in tally.topics.items():
                counters.topics[topic] = counters.topics.get(topic, 0) + n
            day = counters.per_day.get(day_of(max(c.revision.create_time for c in changes)))
            for name, n in tally.flow.items():
                if day is not None:
                    setattr(day, name, getattr(day, name) + n)
        counters.topics = {topic: n for topic, n in counters.topics.items() if n}
        self._operations(counters, tenant_id, scope_key)
        return counters

    def _operations(self, counters: StatsCounters, tenant_id: str, scope_key: str | None) -> None:
        for (tenant, _), record in self.operations.records.items():
            day = counters.per_day.get(day_of(record.operation.create_time))
            if tenant == tenant_id and day is not None and scope_key in (None, scope_hash(record.scope)):
                day.operations += 1
        for tenant, operation_id, usage, now in self.operations.usage_log:
            day = counters.per_day.get(day_of(now))
            record = self.operations.records.get((tenant, operation_id))
            if tenant != tenant_id or day is None or record is None:
                continue
            if scope_key in (None, scope_hash(record.scope)):
                for name, n in usage.model_dump().items():
                    setattr(day, name, getattr(day, name) + n)
