"""``client.memories`` and ``client.operations`` against the local stack, sync and async."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from engram_client import (
    AsyncEngram,
    AuthenticationError,
    Engram,
    NotFoundError,
    Operation,
    RetryPolicy,
    ValidationError,
)

CONVERSATION = [
    {"role": "user", "content": "I live in Lisbon and I am allergic to peanuts."},
    {"role": "assistant", "content": "Noted!"},
]


def test_create_get_update_delete(client: Engram, scope: dict[str, str]) -> None:
    created = client.memories.create(scope, "The user likes tea.", topics=["USER_PREFERENCES"], metadata={"n": 1})
    assert (created.scope, created.fact, created.metadata) == (scope, "The user likes tea.", {"n": 1})
    assert client.memories.get(created.id) == created
    updated = client.memories.update(created.id, fact="The user likes green tea.", metadata={"n": 2}, ttl_seconds=3600)
    assert (updated.fact, updated.metadata) == ("The user likes green tea.", {"n": 2})
    assert updated.expire_time is not None
    assert updated.expire_time - datetime.now(timezone.utc) < timedelta(seconds=3601)
    assert client.memories.update(created.id, topics=[]).expire_time == updated.expire_time  # NOT_GIVEN keeps it
    assert client.memories.update(created.id, ttl_seconds=None).expire_time is None
    client.memories.delete(created.id)
    with pytest.raises(NotFoundError) as raised:
        client.memories.get(created.id)
    assert (raised.value.status, raised.value.code) == (404, "NOT_FOUND")


def test_revisions_and_rollback(client: Engram, scope: dict[str, str]) -> None:
    memory = client.memories.create(scope, "The user lives in Lisbon.")
    client.memories.update(memory.id, fact="The user lives in Porto.")
    client.memories.delete(memory.id)
    revisions = client.memories.revisions(memory.id).revisions
    assert [r.action for r in revisions] == ["DELETED", "UPDATED", "CREATED"]
    assert revisions[1].previous_fact == "The user lives in Lisbon."
    restored = client.memories.rollback(memory.id, revisions[-1].id, revision_labels={"why": "test"})
    assert restored is not None and (restored.id, restored.fact) == (memory.id, "The user lives in Lisbon.")
    assert client.memories.get(memory.id).fact == "The user lives in Lisbon."


def test_revisions_follow_every_page(client: Engram, scope: dict[str, str]) -> None:
    # Given a memory with three revisions
    memory = client.memories.create(scope, "The user lives in Lisbon.")
    client.memories.update(memory.id, fact="The user lives in Porto.")
    client.memories.update(memory.id, fact="The user lives in Faro.")
    # When one page of two is read, and then all with one per page
    page = client.memories.revisions_page(memory.id, page_size=2)
    every = client.memories.revisions(memory.id, page_size=1)
    # Then the page has a token, and the whole listing has the three, newest first, without one
    assert len(page.revisions) == 2 and page.next_page_token
    assert [r.fact for r in every.revisions] == ["The user lives in Faro.", "The user lives in Porto.", memory.fact]
    assert every.next_page_token is None
    rest = client.memories.revisions_page(memory.id, page_size=2, page_token=page.next_page_token)
    assert [r.id for r in page.revisions + rest.revisions] == [r.id for r in every.revisions]


def test_batch_list_pages_retrieve_purge(client: Engram, scope: dict[str, str], eventually: Any) -> None:
    facts = [f"The user owns {n} bicycles." for n in range(5)]
    items: list[dict[str, Any]] = [{"scope": scope, "fact": f, "metadata": {"n": i}} for i, f in enumerate(facts)]
    created = client.memories.batch(items).memories
    assert [s.memory.fact for s in created] == facts and all(s.score is None for s in created)
    pages = list(client.memories.list(scope, page_size=2).pages())
    assert [len(page.memories) for page in pages] == [2, 2, 1] and pages[-1].next_page_token is None
    assert {m.fact for m in client.memories.list(scope, page_size=2)} == set(facts)
    assert [m.metadata["n"] for m in client.memories.list(scope, filter={"n": {"$gte": 3}})] in ([3, 4], [4, 3])

    def searched() -> None:
        hits = client.memories.retrieve(scope, "How many bicycles?", top_k=3, mode="lexical").memories
        assert len(hits) == 3 and all(h.score is not None for h in hits)
        assert [h.memory.fact for h in client.memories.retrieve(scope, "bicycles", filter={"n": 2}).memories] == [
            facts[2]
        ]

    eventually(searched)
    assert client.memories.purge(scope=scope).purge_count == 5  # dry run
    assert client.memories.purge(scope=scope, filter={"n": {"$lt": 2}}, force=True).purge_count == 2
    assert len(list(client.memories.list(scope))) == 3


def test_wait_until_searchable(client: Engram, scope: dict[str, str]) -> None:
    created = [
        s.memory
        for s in client.memories.batch([{"scope": scope, "fact": f"The user met {n}."} for n in "xyz"]).memories
    ]
    assert client.memories.wait_until_searchable(created, timeout=15) is True
    found = client.memories.retrieve(scope, "met", top_k=5, mode="lexical").memories
    assert {hit.memory.id for hit in found} == {memory.id for memory in created}


def test_generate_and_wait(client: Engram, scope: dict[str, str]) -> None:
    operation = client.memories.generate(scope, messages=CONVERSATION, metadata={"source": "chat"})
    assert isinstance(operation, Operation)
    finished = client.operations.wait(operation, timeout=60)
    assert finished.status == "SUCCEEDED" and finished.done
    facts = {change.memory.fact for change in finished.generated}
    assert facts == {"The user lives in Lisbon.", "The user is allergic to peanuts."}
    assert all(change.action == "CREATED" for change in finished.generated)
    assert client.operations.get(operation.id).status == "SUCCEEDED"
    assert client.operations.wait(finished) is finished  # already done: no request
    assert {m.metadata.get("source") for m in client.memories.list(scope)} == {"chat"}


def test_generate_from_facts_with_server_wait(client: Engram, scope: dict[str, str]) -> None:
    operation = client.memories.generate(scope, facts=["The user likes jazz."], wait_seconds=20)
    operation = client.operations.wait(operation, timeout=60)
    assert [c.memory.fact for c in operation.generated] == ["The user likes jazz."]


def test_errors_from_the_stack(client: Engram, stack: Any, scope: dict[str, str]) -> None:
    requests: list[httpx.Request] = []
    counting = httpx.Client(event_hooks={"request": [requests.append]})
    with Engram(stack.url, stack.api_key, http_client=counting) as engram, pytest.raises(ValidationError) as raised:
        engram.memories.create(scope, "x" * 2001)
    assert (raised.value.status, raised.value.code) == (422, "INVALID_ARGUMENT") and "fact" in raised.value.message
    assert len(requests) == 1  # a 422 is not retried
    with Engram(stack.url, "egm_wrong", retry=RetryPolicy(max_retries=0)) as wrong, pytest.raises(AuthenticationError):
        wrong.config.get()
    with pytest.raises(NotFoundError):
        client.operations.get("no-such-operation")
    counting.close()


def test_a_204_leaves_the_connection_usable(stack: Any, scope: dict[str, str]) -> None:
    """After a 204 (no body), with no retry allowed, the next calls on the kept-alive connection work."""
    with Engram(stack.url, stack.api_key, retry=RetryPolicy(max_retries=0)) as engram:
        for n in range(3):
            memory = engram.memories.create(scope, f"The user has {n} cats.")
            engram.memories.delete(memory.id)
            assert engram.config.get().ttl.revision_ttl_seconds


def test_async_memories(stack: Any, scope: dict[str, str]) -> None:
    async def main() -> None:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            memory = await client.memories.create(scope, "The user likes chess.", metadata={"k": "v"})
            assert (await client.memories.get(memory.id)).fact == "The user likes chess."
            batch = await client.memories.batch([{"scope": scope, "fact": f"The user knows {w}."} for w in "ab"])
            assert len(batch.memories) == 2
            assert len([m async for m in client.memories.list(scope, page_size=1)]) == 3
            assert len([p async for p in client.memories.list(scope, page_size=2).pages()]) == 2
            assert await client.memories.wait_until_searchable([memory], timeout=15)
            hits = (await client.memories.retrieve(scope, "chess", top_k=1)).memories
            assert hits[0].memory.id == memory.id
            updated = await client.memories.update(memory.id, fact="The user loves chess.")
            assert updated.fact == "The user loves chess."
            revisions = (await client.memories.revisions(memory.id)).revisions
            restored = await client.memories.rollback(memory.id, revisions[-1].id)
            assert restored is not None and restored.fact == "The user likes chess."
            await client.memories.delete(memory.id)
            with pytest.raises(NotFoundError):
                await client.memories.get(memory.id)
            assert (await client.memories.purge(scope=scope, force=True)).purge_count == 2

    asyncio.run(main())


def test_async_generate_and_wait(stack: Any, scope: dict[str, str]) -> None:
    async def main() -> Operation:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            operation = await client.memories.generate(scope, messages=CONVERSATION)
            assert (await client.operations.get(operation)).id == operation.id
            return await client.operations.wait(operation.id, timeout=60)

    finished = asyncio.run(main())
    assert finished.status == "SUCCEEDED" and len(finished.generated) == 2
