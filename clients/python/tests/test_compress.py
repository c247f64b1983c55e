"""``client.memories.compress`` (sync and async) and ``MemoryAPI.compress``: against the local stack
(offline model: a deterministic merge), and against ``httpx.MockTransport`` for the request it sends."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from engram_client import AsyncEngram, CompressionReport, Engram, ValidationError
from engram_client.compat.collection import MemoryAPI

from .test_transport import Script, async_client, sync_client

FACTS = ["The user likes tea.", "The user likes jazz.", "The user likes chess."]


def test_compress_summarizes_a_topic_and_rollback_undoes_it(client: Engram, scope: dict[str, str]) -> None:
    # Given three preferences
    created = client.memories.batch(
        [{"scope": scope, "fact": fact, "topics": ["USER_PREFERENCES"]} for fact in FACTS]
    ).memories
    ids = [item.memory.id for item in created]

    # When they are compressed into one and the operation is waited for
    started = client.memories.compress(scope, 1, group_by="topic")
    operation = client.operations.wait(started, timeout=60).raise_for_status()

    # Then one memory replaced them, naming them, and the report says so
    assert operation.result is not None and operation.result.compression is not None
    report = operation.result.compression
    assert (report.groups, report.groups_compressed, report.memories_before, report.memories_after) == (1, 1, 3, 1)
    [generated] = operation.result.generated_memories
    assert sorted(generated.memory.source.memory_ids) == sorted(ids)  # one batch: one create time, by id
    assert generated.memory.metadata == {"compressed": True, "original_count": 3}
    assert [m.id for m in client.memories.list(scope)] == [generated.memory.id]
    # and rolling an original back restores it
    before = next(r for r in client.memories.revisions(ids[0]).revisions if r.action != "DELETED")
    restored = client.memories.rollback(ids[0], before.id)
    assert restored is not None and restored.fact == FACTS[0]
    with pytest.raises(ValidationError):
        client.memories.compress(scope, 1, group_by="time_window")  # window_hours missing


def test_async_compress_starts_an_operation(stack, scope: dict[str, str]) -> None:
    async def run() -> CompressionReport | None:
        async with AsyncEngram(stack.url, stack.api_key) as engram:
            for fact in FACTS:
                await engram.memories.create(scope, fact)
            started = await engram.memories.compress(scope, 2, group_by="time_window", window_hours=24)
            finished = await engram.operations.wait(started, timeout=60)
            return finished.result.compression if finished.result else None

    report = asyncio.run(run())
    assert report is not None and (report.memories_before, report.memories_after) == (3, 2)


def test_memory_api_compress_waits_and_returns_the_report(client: Engram) -> None:
    notes = MemoryAPI(f"notes-{uuid.uuid4().hex[:8]}", client)
    notes.store_batch(["note one", "note two", "note three", "note four"], show_progress=False)
    report = notes.compress(2)
    assert (report.memories_before, report.memories_after) == (4, 2)
    assert notes.count() == 2 and notes.count({"compressed": {"$ne": True}}) == 0


def _operation_json(status: str = "RUNNING") -> dict:
    now = "2026-01-01T00:00:00Z"
    return {"id": "op-1", "status": status, "create_time": now, "update_time": now}


def test_compress_sends_the_body_with_a_key_and_parses_the_operation() -> None:
    script = Script(httpx.Response(202, json=_operation_json()))
    operation = sync_client(script).memories.compress(
        {"u": "1"}, 5, group_by="time_window", window_hours=24, filter={"lang": "en"}
    )
    assert operation.id == "op-1" and operation.status == "RUNNING"
    [request] = script.requests
    assert request.url.path == "/v1/memories/compress" and script.keys()[0]
    assert json.loads(request.content) == {
        "scope": {"u": "1"},
        "filter": {"lang": "en"},
        "max_memories": 5,
        "group_by": "time_window",
        "window_hours": 24,
    }


def test_async_compress_sends_the_same_body() -> None:
    script = Script(httpx.Response(202, json=_operation_json()))
    asyncio.run(async_client(script).memories.compress({"u": "1"}, 3))
    assert json.loads(script.requests[0].content) == {"scope": {"u": "1"}, "max_memories": 3, "group_by": "topic"}
