"""Time and identifiers. ``Clock`` is injectable so tests control time (TTL, retention)."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def new_id() -> str:
    """A time-ordered, URL-safe id: 12 hex digits of milliseconds since the epoch + 16 random hex digits.

    Lexicographic order equals creation order (to the millisecond), which keeps revision and list
    sort keys simple.
    """
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def isoformat(ts: datetime) -> str:
    """RFC 3339 with milliseconds and ``Z``: ``2026-11-22T05:04:29.123Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
