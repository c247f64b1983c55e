"""Time and identifiers. ``Clock`` is injectable so tests control time (TTL, retention)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


_last_id = [0, 0]  # milliseconds and counter of the last id made in this process
_id_lock = threading.Lock()


def new_id() -> str:
    """A time-ordered, URL-safe id: 12 hex digits of milliseconds since the epoch + 16 hex digits of a
    counter that starts at a random 63-bit value each millisecond.

    Lexicographic order equals creation order: across processes to the millisecond, within a process
    strictly (ULID's monotonic generation, https://github.com/ulid/spec#monotonicity: an id made in the
    same millisecond as the previous one, or while the clock stepped back, takes the previous id's time
    and its counter plus one). Revision and event sort keys rely on it: two events of one append, or an
    update and a delete of one memory, made within a millisecond keep their order.
    """
    now = int(time.time() * 1000)
    with _id_lock:
        millis, counter = _last_id
        if now > millis:
            millis, counter = now, secrets.randbits(63)
        else:
            counter += 1
            if counter >= 1 << 64:  # (about 2^63 ids in one millisecond: not in practice)
                millis, counter = millis + 1, secrets.randbits(63)
        _last_id[:] = [millis, counter]
    return f"{millis:012x}{counter:016x}"


def isoformat(ts: datetime) -> str:
    """RFC 3339 with milliseconds and ``Z``: ``2026-11-22T05:04:29.123Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
