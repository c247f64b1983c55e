"""``engram.clock.new_id``: time-ordered ids, strictly increasing within a process."""

from __future__ import annotations

import re
import threading
import time

from engram import clock


def test_ids_made_within_a_millisecond_keep_their_order():
    # Given a burst of ids, many of them within one millisecond
    before = int(time.time() * 1000)
    ids = [clock.new_id() for _ in range(20_000)]
    after = int(time.time() * 1000)
    # Then each is later than the one before it, all distinct, in the documented shape
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{28}", i) for i in ids)
    # and their time part is the wall clock's (milliseconds since the epoch)
    assert before <= int(ids[0][:12], 16) <= int(ids[-1][:12], 16) <= after
    # (the burst really shared milliseconds: otherwise the check above proves nothing)
    assert len({i[:12] for i in ids}) < len(ids)


def test_ids_stay_ordered_when_the_clock_steps_back(monkeypatch):
    # Given an id made now, then a clock one second behind it
    first = clock.new_id()
    real = time.time
    monkeypatch.setattr(clock.time, "time", lambda: real() - 1.0)
    # When more ids are made
    later = [clock.new_id() for _ in range(3)]
    # Then they still sort after the first
    assert [first, *later] == sorted([first, *later]) and len({first, *later}) == 4


def test_ids_made_by_threads_at_once_are_distinct():
    # Given four threads making ids at once
    made: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(clock.new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no id repeats, and each thread's ids are in order
    assert len({i for out in made for i in out}) == 20_000
    assert all(out == sorted(out) for out in made)
