"""``client.memories.archive`` (sync and async) and ``MemoryAPI.archive``: against the local stack, and
against ``httpx.MockTransport`` for a server that answers 202 (more remain)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from engram_client import ArchiveResponse, AsyncEngram, Engram, ValidationError
from engram_client.compat.collection import MemoryAPI

from .test_transport import Script, async_client, sync_client


def _scope() -> dict[str, str]:
    return {"user_id": f"archive-{uuid.uuid4().hex[:10]}"}


def test_archive_counts_then_moves_memories_to_the_archive_scope(client: Engram) -> None:
    # Given two memories, one in English
    scope = _scope()
    to_scope = {**scope, "collection": "archive"}
    created = client.memories.batch(
        [{"scope": scope, "fact": "Tea.", "metadata": {"lang": "en"}}, {"scope": scope, "fact": "Café."}]
    )
    tea = created.memories[0].memory

    # When the English one is counted, then archived
    dry = client.memories.archive(scope, to_scope, filter={"lang": "en"})
    moved = client.memories.archive(scope, to_scope, filter={"lang": "en"}, force=True)

    # Then the dry run counted it, and it moved with its id and archived metadata
    assert dry == ArchiveResponse(archive_count=1, dry_run=True, done=True)
    assert moved == ArchiveResponse(archive_count=1, dry_run=False, done=True)
    archived = client.memories.get(tea.id)
    assert archived.scope == to_scope and archived.metadata["archived"] is True
    assert client.memories.revisions(tea.id).revisions[0].action == "ARCHIVED"
    with pytest.raises(ValidationError):
        client.memories.archive(scope, scope, force=True)


def test_async_archive_moves_memories(stack) -> None:
    scope = _scope()

    async def run() -> tuple[ArchiveResponse, dict[str, str]]:
        async with AsyncEngram(stack.url, stack.api_key) as engram:
            memory = await engram.memories.create(scope, "The user likes tea.")
            result = await engram.memories.archive(scope, {**scope, "collection": "a"}, force=True)
            return result, (await engram.memories.get(memory.id)).scope

    result, moved_scope = asyncio.run(run())
    assert result.archive_count == 1 and moved_scope == {**scope, "collection": "a"}


def test_memory_api_archive_moves_texts_to_the_archive_collection(client: Engram) -> None:
    # Given a collection with two texts
    name = f"notes-{uuid.uuid4().hex[:8]}"
    notes = MemoryAPI(name, client)
    notes.store_batch(["old note", "new note"], [{"age": "old"}, {"age": "new"}], show_progress=False)

    # When the old ones are archived
    moved = notes.archive({"age": "old"})

    # Then one moved to <name>-archive and one stayed
    assert moved == 1
    assert notes.count() == 1 and MemoryAPI(f"{name}-archive", client).count() == 1


def _archive_answers() -> Script:
    more = httpx.Response(202, json={"archive_count": 25, "dry_run": False, "done": False})
    done = httpx.Response(200, json={"archive_count": 5, "dry_run": False, "done": True})
    return Script(more, done)


def test_archive_sends_the_same_request_again_while_more_remain() -> None:
    script = _archive_answers()
    result = sync_client(script).memories.archive({"u": "1"}, {"u": "2"}, force=True)
    assert result == ArchiveResponse(archive_count=30, dry_run=False, done=True)
    assert len(script.requests) == 2 and len(set(script.keys())) == 1 and script.keys()[0]
    assert json.loads(script.requests[0].content) == {"scope": {"u": "1"}, "to_scope": {"u": "2"}, "force": True}


def test_async_archive_sends_the_same_request_again_while_more_remain() -> None:
    script = _archive_answers()
    result = asyncio.run(async_client(script).memories.archive({"u": "1"}, {"u": "2"}, force=True))
    assert result == ArchiveResponse(archive_count=30, dry_run=False, done=True)
    assert len(script.requests) == 2 and len(set(script.keys())) == 1
