"""Per-scope serialization: concurrent generations for one scope end like some serial order of them."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

CONVERSATIONS = [
    "I live in Lisbon. I like jazz.",
    "I like jazz. I work as a nurse.",
    "I work as a nurse. I live in Lisbon.",
    "I like jazz. I live in Lisbon. I have a dog named Pico.",
]


def test_concurrent_generations_on_one_scope_leave_no_duplicates(api, scope):
    # Given four generations with overlapping facts, started at the same time for one scope
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = list(
            pool.map(lambda text: api.generate(scope, messages=[{"role": "user", "content": text}]), CONVERSATIONS)
        )
    operations = [api.wait(op["id"], timeout=180) for op in started]
    # Then all succeed, and each distinct fact is stored exactly once
    assert [op["status"] for op in operations] == ["SUCCEEDED"] * 4, operations
    facts = Counter(m["memory"]["fact"] for m in api.retrieve(scope, page_size=100)["memories"])
    assert facts == Counter(
        {
            "The user lives in Lisbon.": 1,
            "The user likes jazz.": 1,
            "The user works as a nurse.": 1,
            "The user has a dog named Pico.": 1,
        }
    )
    created = Counter(
        g["memory"]["fact"] for op in operations for g in op["result"]["generated_memories"] if g["action"] == "CREATED"
    )
    assert all(count == 1 for count in created.values()), created


def test_a_dead_holders_lease_is_taken_over_after_expiry(local_stack):
    from datetime import UTC, datetime, timedelta

    from engram import wiring

    leases, now = wiring.dependencies().leases, datetime.now(UTC)
    assert leases.acquire("t-lease", "scope-1", "op-a", now, 120)
    assert not leases.acquire("t-lease", "scope-1", "op-b", now + timedelta(seconds=60), 120)
    assert leases.acquire("t-lease", "scope-1", "op-a", now + timedelta(seconds=60), 120)  # renewal
    assert leases.acquire("t-lease", "scope-1", "op-b", now + timedelta(seconds=181), 120)  # takeover
    leases.release("t-lease", "scope-1", "op-a")  # a stale holder cannot release it
    assert not leases.acquire("t-lease", "scope-1", "op-c", now + timedelta(seconds=200), 120)
    leases.release("t-lease", "scope-1", "op-b")
    assert leases.acquire("t-lease", "scope-1", "op-c", now + timedelta(seconds=200), 120)
