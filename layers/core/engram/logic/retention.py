"""Scheduled retention: hard-delete what has expired (memories, revisions, session events, and operations
with their stored documents: the request, the loaded conversation and the candidate facts).

DynamoDB's own TTL may take days to delete an item, and expired memories must never be served, so reads
already hide them (``expire_time`` is checked on every read); this job removes them for real, from the
table and, through the stream, from the index. A memory it deletes leaves the usage counters
(``GET /v1/stats``: its scope's and tenant's ``total`` and topics, and ``deleted`` on the run's day) in
the same atomic write. It works in bounded batches: each run deletes at most
``max_items`` items, so it is resumable (the next run continues) and idempotent (deleting an absent
item does nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from engram.ports import Clock, ExpiredItem, RetentionRepository


@dataclass
class RetentionResult:
    """What one run deleted, by kind, and whether more expired items remain (``more``)."""

    memories: int = 0
    revisions: int = 0
    session_events: int = 0
    operations: int = 0
    other: int = 0
    more: bool = False
    batches: int = 0

    @property
    def deleted(self) -> int:
        """Expired items deleted (an operation counts once, whatever documents went with it)."""
        return self.memories + self.revisions + self.session_events + self.operations + self.other

    def count(self, items: list[ExpiredItem]) -> None:
        """Add ``items`` to the counts of their kinds."""
        kinds = Counter(item.kind for item in items)
        self.memories += kinds["memory"]
        self.revisions += kinds["revision"]
        self.session_events += kinds["session_event"]
        self.operations += kinds["operation"]
        self.other += kinds["other"]


def run_retention(
    retention: RetentionRepository, clock: Clock, max_items: int = 5000, batch_size: int = 500
) -> RetentionResult:
    """Delete up to ``max_items`` expired items, ``batch_size`` at a time; ``more`` tells whether any remain."""
    result = RetentionResult()
    now = clock.now()
    while result.deleted < max_items:
        items = retention.expired(now, min(batch_size, max_items - result.deleted))
        if not items:
            return result
        retention.delete(items, now)
        result.batches += 1
        result.count(items)
    result.more = bool(retention.expired(now, 1))
    return result
