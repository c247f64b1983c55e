"""Scheduled retention: hard-delete what has expired (memories, revisions, session events).

DynamoDB's own TTL may take days to delete an item, and expired memories must never be served, so reads
already hide them (``expire_time`` is checked on every read); this job removes them for real, from the
table and, through the stream, from the index. It works in bounded batches: each run deletes at most
``max_items`` items, so it is resumable (the next run continues) and idempotent (deleting an absent
item does nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from engram.ports import Clock, MemoryStore


@dataclass
class RetentionResult:
    """What one run deleted, by kind, and whether more expired items remain (``more``)."""

    memories: int = 0
    revisions: int = 0
    session_events: int = 0
    other: int = 0
    more: bool = False
    batches: int = 0

    @property
    def deleted(self) -> int:
        return self.memories + self.revisions + self.session_events + self.other


def run_retention(store: MemoryStore, clock: Clock, max_items: int = 5000, batch_size: int = 500) -> RetentionResult:
    """Delete up to ``max_items`` expired items, ``batch_size`` at a time."""
    result = RetentionResult()
    now = clock.now()
    while result.deleted < max_items:
        keys = store.expired_keys(now, min(batch_size, max_items - result.deleted))
        if not keys:
            return result
        store.delete_keys(keys)
        result.batches += 1
        for _pk, sk in keys:
            if sk == "M":
                result.memories += 1
            elif sk.startswith("R#"):
                result.revisions += 1
            elif sk.startswith("E#"):
                result.session_events += 1
            else:
                result.other += 1
    result.more = bool(store.expired_keys(now, 1))
    return result
