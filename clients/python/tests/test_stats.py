"""``client.stats`` (sync and async): against the local stack, and the query it sends (MockTransport)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from engram_client import AsyncEngram, Engram, Stats, ValidationError

from .test_transport import Script, sync_client


def test_stats_count_the_scope_and_the_tenant(client: Engram) -> None:
    # Given two memories of a new scope
    scope = {"user_id": f"stats-{uuid.uuid4().hex[:10]}"}
    client.memories.batch(
        [
            {"scope": scope, "fact": "Tea.", "topics": ["USER_PREFERENCES"], "metadata": {"lang": "en"}},
            {"scope": scope, "fact": "Café.", "metadata": {"lang": "pt"}},
        ]
    )

    # When its stats are read, grouped by a metadata key, and the tenant's
    stats = client.stats(scope, days=3, group_by="metadata.lang")
    tenant = client.stats(days=1)

    # Then they count both, by topic and group, with today's writes last
    assert isinstance(stats, Stats) and stats.total == 2 and stats.by_topic == {"USER_PREFERENCES": 1}
    assert stats.by_group == {"en": 1, "pt": 1}
    assert len(stats.per_day) == 3 and stats.per_day[-1].created == 2
    assert tenant.total >= 2 and tenant.scope is None
    with pytest.raises(ValidationError):
        client.stats(days=0)


def test_async_stats(stack) -> None:
    async def run() -> Stats:
        async with AsyncEngram(stack.url, stack.api_key) as engram:
            return await engram.stats({"user_id": f"none-{uuid.uuid4().hex[:8]}"}, days=2)

    stats = asyncio.run(run())
    assert stats.total == 0 and [d.created for d in stats.per_day] == [0, 0]


def test_stats_send_the_scope_as_compact_json() -> None:
    answer = {"days": 30, "total": 0, "by_topic": {}, "per_day": [], "usage_per_day": [], "prices": {}}
    script = Script(httpx.Response(200, json=answer))
    sync_client(script).stats({"user_id": "u-1"}, group_by="topic")
    [request] = script.requests
    assert request.url.path == "/v1/stats"
    assert json.loads(request.url.params["scope"]) == {"user_id": "u-1"}
    assert dict(request.url.params) == {"scope": '{"user_id":"u-1"}', "group_by": "topic"}
