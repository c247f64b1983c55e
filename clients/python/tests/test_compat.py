"""The five facades of ``engram_client.compat`` against the local stack (what today's API supports)."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import uuid
from typing import Any

import httpx
import pytest

from engram_client import AsyncEngram, Engram, Message, NotFoundError, ValidationError
from engram_client.compat import ConversationMemory, Memories, Memory, MemoryAPI, PersistentMemory

RESULT_KEYS = {"id", "memory", "metadata", "user_id", "agent_id", "run_id", "created_at", "updated_at"}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- 1. Memories.create -------------------------------------------------------------------------


def test_memories_create_returns_the_generated_facts(client: Engram, scope: dict[str, str]) -> None:
    facts = Memories(client, scope=scope).create(
        messages=[{"role": "user", "content": "I live in Lisbon. My favorite color is green."}]
    )
    assert sorted(facts) == ["The user lives in Lisbon.", "The user's favorite color is green."]
    assert {m.fact for m in client.memories.list(scope)} == set(facts)


def test_memories_create_on_the_class_uses_the_environment(monkeypatch: pytest.MonkeyPatch, stack: Any) -> None:
    monkeypatch.setenv("ENGRAM_URL", stack.url)
    monkeypatch.setenv("ENGRAM_API_KEY", stack.api_key)
    monkeypatch.setattr(Memories, "_default", None)
    facts = Memories.create(messages=[{"role": "user", "content": "I am allergic to shellfish."}])
    assert facts == ["The user is allergic to shellfish."]
    assert Memories.default().scope == {"user_id": "default"}
    Memories.default().client.memories.purge(scope={"user_id": "default"}, force=True)
    Memories.default().close()


def test_memories_create_sends_temperature_and_max_tokens_only_when_given() -> None:
    """The request shape: a string goes as it is (the API reads it as one user message), the two options
    only when given."""
    bodies: list[dict[str, Any]] = []
    now = "2026-01-01T00:00:00Z"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            bodies.append(json.loads(request.content))
        done = {"id": "op", "status": "SUCCEEDED", "create_time": now, "update_time": now, "result": {}}
        return httpx.Response(200, json=done)

    engram = Engram("http://127.0.0.1:9", "k", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    memories = Memories(engram, scope={"app": "a"})
    assert memories.create(messages="hi", temperature=0.7, max_tokens=4000) == []
    memories.create(messages=[{"role": "user", "content": "hi"}])
    memories.create(messages=Message(role="user", content="hi"))
    assert Memory(engram).add("hi", user_id="u") == {"results": []}
    messages = [{"role": "user", "content": "hi"}]
    assert bodies == [
        {"scope": {"app": "a"}, "messages": "hi", "temperature": 0.7, "max_tokens": 4000},
        {"scope": {"app": "a"}, "messages": messages},
        {"scope": {"app": "a"}, "messages": messages},
        {"scope": {"user_id": "u"}, "messages": "hi"},
    ]


def test_memories_create_passes_temperature_and_max_tokens_to_the_server(client: Engram, scope: dict[str, str]) -> None:
    # The offline extractor ignores them; the server accepts them in range and refuses them out of range
    facts = Memories(client, scope=scope).create(messages="I live in Évora.", temperature=0.7, max_tokens=4000)
    assert facts == ["The user lives in Évora."]
    with pytest.raises(ValidationError) as raised:
        Memories(client, scope=scope).create(messages="hi", temperature=2.5)
    assert "temperature" in raised.value.message
    with pytest.raises(ValidationError):
        Memories(client, scope=scope).create(messages="hi", max_tokens=0)


def test_memories_create_is_looked_up_on_the_class_without_making_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGRAM_URL", raising=False)
    monkeypatch.setattr(Memories, "_default", None)
    assert list(inspect.signature(Memories.create).parameters)[:3] == ["messages", "temperature", "max_tokens"]
    assert "Generate memories" in (Memories.create.__doc__ or "") and Memories._default is None
    with pytest.raises(ValueError, match="ENGRAM_URL"):
        Memories.create(messages="hi")  # the default client is made at call time


# --- 2. Memory (mem0 OSS style) -----------------------------------------------------------------


def test_memory_add_search_get_all_get(client: Engram) -> None:
    memory, user = Memory(client), uid("alice")
    added = memory.add("I live in Porto.", user_id=user, metadata={"channel": "chat"})["results"]
    assert [(r["memory"], r["event"]) for r in added] == [("The user lives in Porto.", "ADD")]
    assert RESULT_KEYS | {"event"} == set(added[0]) and added[0]["user_id"] == user
    assert added[0]["metadata"] == {"channel": "chat"}
    memory.add({"role": "user", "content": "I work as a teacher."}, user_id=user)
    memory.add([{"role": "system", "content": "be nice"}, {"role": "user", "content": "I like rowing."}], user_id=user)
    found = memory.search("Where does the user live?", user_id=user, limit=2)["results"]
    assert found[0]["memory"] == "The user lives in Porto." and set(found[0]) == RESULT_KEYS | {"score"}
    assert len(found) == 2
    filtered = memory.search("user", user_id=user, filters={"channel": "chat"})["results"]
    assert [r["memory"] for r in filtered] == ["The user lives in Porto."]
    everything = memory.get_all(user_id=user)["results"]
    assert len(everything) == 3 and set(everything[0]) == RESULT_KEYS
    assert len(memory.get_all(user_id=user, limit=2)["results"]) == 2
    assert memory.get(added[0]["id"])["memory"] == "The user lives in Porto."
    assert memory.get("no-such-memory") is None


def test_memory_scopes_combine_ids_and_infer_false_stores_text(client: Engram) -> None:
    memory, user, agent = Memory(client), uid("bob"), uid("agent")
    stored = memory.add(
        [{"role": "user", "content": "remember the blue door"}, {"role": "assistant", "content": "ok"}],
        user_id=user,
        agent_id=agent,
        infer=False,
    )["results"]
    assert [(r["memory"], r["event"], r["agent_id"]) for r in stored] == [
        ("remember the blue door", "ADD", agent),
        ("ok", "ADD", agent),
    ]
    assert memory.get_all(user_id=user)["results"] == []  # a scope is matched exactly
    assert len(memory.get_all(user_id=user, agent_id=agent)["results"]) == 2
    with pytest.raises(ValueError, match="user_id"):
        memory.add("hello")


def test_memory_update_history_delete_delete_all(client: Engram) -> None:
    memory, user = Memory(client), uid("carol")
    [first] = memory.add("I live in Faro.", user_id=user)["results"]
    memory.add("hello", user_id=user, infer=False)
    updated = memory.update(first["id"], "The user lives in Braga.")
    assert updated["message"] and updated["memory"] == "The user lives in Braga."
    assert memory.delete(first["id"])["message"]
    history = memory.history(first["id"])
    assert [(h["event"], h["old_memory"], h["new_memory"], h["is_deleted"]) for h in history] == [
        ("ADD", None, "The user lives in Faro.", False),
        ("UPDATE", "The user lives in Faro.", "The user lives in Braga.", False),
        ("DELETE", "The user lives in Braga.", None, True),
    ]
    assert memory.delete_all(user_id=user)["deleted"] == 1
    assert memory.get_all(user_id=user)["results"] == []
    with pytest.raises(NotFoundError):
        memory.delete(first["id"])


def test_memory_add_reports_updates(client: Engram) -> None:
    memory, user = Memory(client), uid("dan")
    memory.add("I live in Lisbon.", user_id=user)
    changes = memory.add("I live in Porto now.", user_id=user)["results"]
    assert ("UPDATE", "The user lives in Porto.") in [(r["event"], r["memory"]) for r in changes]


# --- 3. MemoryAPI(collection_name=...) ----------------------------------------------------------


def test_memory_api_store_retrieve_update_delete(client: Engram, eventually: Any) -> None:
    api = MemoryAPI(collection_name=uid("kb"), client=client)
    first = api.store("Python lists are dynamic arrays.", {"type": "knowledge", "timestamp": 100})
    progress = io.StringIO()
    ids = api.store_batch(
        ["AWS Lambda runs functions.", "The cafeteria opens at 8."],
        [{"type": "knowledge", "timestamp": 200}, {"type": "note", "timestamp": 300, "compressed": True}],
        progress_stream=progress,
    )
    assert len(ids) == 2 and "2/2" in progress.getvalue()

    def best() -> list[dict[str, Any]]:
        hits = api.retrieve("How do Python lists work?", top_k=1)
        assert [(h["id"], h["text"]) for h in hits] == [(first, "Python lists are dynamic arrays.")]
        return hits

    hits = eventually(best)
    assert {"id", "text", "metadata", "score", "created_at", "updated_at"} == set(hits[0])
    knowledge = api.retrieve("functions", top_k=5, filter={"type": "knowledge"})
    assert {h["id"] for h in knowledge} <= {first, ids[0]}
    assert [h["text"] for h in api.retrieve("", top_k=2)][0] in {
        "AWS Lambda runs functions.",
        "The cafeteria opens at 8.",
    }
    assert api.update(first, metadata={"reviewed": True}) is True
    assert client.memories.get(first).metadata == {"type": "knowledge", "timestamp": 100, "reviewed": True}
    assert api.update(first, text="Python lists are resizable arrays.") is True
    assert client.memories.get(first).fact == "Python lists are resizable arrays."
    assert api.update("no-such-id", text="x") is False
    assert api.delete(first) is True and api.delete(first) is False


def test_memory_api_count_and_delete_by_filter(client: Engram) -> None:
    api = MemoryAPI(collection_name=uid("kb"), client=client)
    texts = [f"note {n}" for n in range(6)]
    api.store_batch(texts, [{"timestamp": n, "compressed": n % 2 == 0} for n in range(6)], show_progress=False)
    assert api.count() == 6
    assert api.count({"compressed": {"$ne": True}}) == 3
    assert api.count({"timestamp": {"$gte": 4}}) == 2
    assert api.delete_by_filter({"timestamp": {"$lt": 2}}) == 2
    assert api.count() == 4
    assert api.delete_by_filter({}) == 4 and api.count() == 0


def test_memory_api_list_and_null_metadata_with_in_and_contains(client: Engram, eventually: Any) -> None:
    api = MemoryAPI(collection_name=uid("kb"), client=client)
    ids = api.store_batch(
        ["Lambda layers share code.", "Goroutines are cheap.", "Lunch is at noon."],
        [
            {"type": "knowledge", "tags": ["python", "aws"]},
            {"type": "knowledge", "tags": ["go"]},
            {"type": "note", "tags": [], "reviewer": None},
        ],
        show_progress=False,
    )
    assert client.memories.get(ids[2]).metadata == {"type": "note", "tags": [], "reviewer": None}
    typical = {"type": "knowledge", "tags": {"$in": ["python", "aws"]}}
    assert [h["id"] for h in api.retrieve("", top_k=10, filter=typical)] == [ids[0]]
    assert api.count(typical) == 1
    assert api.count({"tags": {"$contains": "go"}}) == 1 and api.count({"tags": {"$nin": ["go"]}}) == 2

    def searched() -> list[str]:
        found = [h["id"] for h in api.retrieve("code", top_k=5, filter={"tags": {"$contains": "aws"}})]
        assert found == [ids[0]]
        return found

    eventually(searched)  # the index answers the same filter as the table
    assert api.update(ids[0], metadata={"tags": ["python"], "reviewer": None}) is True
    assert client.memories.get(ids[0]).metadata == {"type": "knowledge", "tags": ["python"], "reviewer": None}
    assert api.count(typical) == 1 and api.count({"tags": {"$contains": "aws"}}) == 0


def test_memory_api_update_and_count_are_one_request_each() -> None:
    """``update`` merges on the server (one PATCH, no read first); ``count`` is one count request."""
    requests: list[tuple[str, str, Any]] = []
    now = "2026-01-01T00:00:00Z"
    memory = {"id": "m1", "scope": {"collection": "c"}, "fact": "f", "create_time": now, "update_time": now}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        requests.append((request.method, request.url.path, body))
        if request.url.path == "/v1/memories/count":
            return httpx.Response(200, json={"count": 7})
        return httpx.Response(200, json={**memory, "revision_id": "r2", "metadata": {"a": 1, "b": 2}})

    engram = Engram("http://127.0.0.1:9", "k", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    api = MemoryAPI(collection_name="c", client=engram)
    assert api.update("m1", metadata={"b": 2}) is True
    assert api.count({"tags": {"$in": ["x"]}}) == 7
    assert api.count({}) == 7
    assert requests == [
        ("PATCH", "/v1/memories/m1", {"metadata": {"b": 2}}),
        ("POST", "/v1/memories/count", {"scope": {"collection": "c"}, "filter": {"tags": {"$in": ["x"]}}}),
        ("POST", "/v1/memories/count", {"scope": {"collection": "c"}}),
    ]


def test_memory_api_lists_newest_first_across_pages(client: Engram) -> None:
    api = MemoryAPI(collection_name=uid("kb"), client=client, page_size=4)  # pages of 4: as with 100, sooner
    created = [
        m.memory for m in client.memories.batch([{"scope": api.scope, "fact": f"item {n}"} for n in range(3)]).memories
    ]
    api.store_batch([f"item {n}" for n in range(3, 10)], show_progress=False)
    listed = api.retrieve("", top_k=9)
    assert len(listed) == 9 and len({item["id"] for item in listed}) == 9
    assert all(item["score"] is None for item in listed)
    assert {item["id"] for item in api.retrieve("", top_k=50)} >= {m.id for m in created}
    assert [item["text"] for item in listed][-1] in {"item 0", "item 1", "item 2"}  # the older batch comes last
    assert api.count() == 10


# --- 4. ConversationMemory (async) --------------------------------------------------------------


def test_conversation_memory(stack: Any) -> None:
    async def main() -> None:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            conversation = ConversationMemory(client=client)
            assert await conversation.get_messages() == []
            for n, role in enumerate(["system", "user", "assistant", "user", "assistant"]):
                await conversation.add({"role": role, "content": f"{role} {n}"})
            messages = await conversation.get_messages()
            assert [m["content"] for m in messages] == ["system 0", "user 1", "assistant 2", "user 3", "assistant 4"]
            assert await conversation.get_messages(limit=2) == messages[-2:]
            assert [m["content"] for m in await conversation.get_messages_by_role("user")] == ["user 1", "user 3"]
            state = await conversation.state_dict()
            await conversation.truncate_to_size(3)
            assert await conversation.get_messages() == messages[-3:]
            copy = ConversationMemory(client=client)
            await copy.load_state_dict({"messages": state["messages"]})
            assert await copy.get_messages() == messages
            await conversation.load_state_dict(state)  # restores the five messages in its session
            assert await conversation.get_messages() == messages
            again = ConversationMemory(client=client)
            await again.load_state_dict({"session_id": state["session_id"]})
            assert await again.get_messages() == messages
            await conversation.clear()
            await copy.clear()
            assert await again.get_messages() == [] and await conversation.get_messages() == []
            await conversation.clear()  # clearing an empty conversation is fine

    asyncio.run(main())


def test_conversation_memory_appends_messages_and_truncates_on_the_server() -> None:
    """``add`` sends the message itself (OpenAI style, with a new event id); ``truncate_to_size`` is one
    truncate request, and a conversation without events is left alone."""
    requests: list[tuple[str, str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append((request.method, request.url.path, json.loads(request.content)))
        if request.url.path.endswith("/truncate"):
            return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "session s1 not found"}})
        return httpx.Response(201, json={"events": []})

    async def main() -> None:
        transport = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncEngram("http://127.0.0.1:9", "k", http_client=transport) as client:
            conversation = ConversationMemory(session_id="s1", client=client)
            await conversation.add({"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "x"})
            await conversation.truncate_to_size(3)

    asyncio.run(main())
    [(method, path, body), truncate] = requests
    [event] = body["events"]
    assert (method, path) == ("POST", "/v1/sessions/s1/events")
    assert {k: v for k, v in event.items() if k != "event_id"} == {"role": "user", "content": "hi"}
    assert event["event_id"]
    assert truncate == ("POST", "/v1/sessions/s1/truncate", {"keep_last": 3})


# --- 5. PersistentMemory (async) ----------------------------------------------------------------


def test_persistent_memory_record_and_retrieve(stack: Any) -> None:
    async def main() -> None:
        async with AsyncEngram(stack.url, stack.api_key) as client:
            memory = PersistentMemory(agent_name=uid("agent"), user_name="ana", client=client)
            assert memory.scope["user_name"] == "ana" and "session_name" not in memory.scope
            facts = await memory.record([{"role": "user", "content": "I live in Coimbra."}])
            assert facts == ["The user lives in Coimbra."]
            assert await memory.record("I am allergic to cats.") == ["The user is allergic to cats."]
            text = await memory.retrieve("Where does the user live?", limit=1)
            assert text == "- The user lives in Coimbra."

    asyncio.run(main())


def test_persistent_memory_tools(stack: Any, client: Engram) -> None:
    async def main() -> PersistentMemory:
        async with AsyncEngram(stack.url, stack.api_key) as async_client:
            memory = PersistentMemory(agent_name=uid("agent"), client=async_client)
            saved = await memory.save_to_memory("the user told us", ["The user's dog is called Rex.", "  "])
            assert saved["success"] is True and len(saved["saved"]) == 1
            recalled = await memory.recall_from_memory(["dog", "name"], limit=3)  # saved ones are searchable
            assert recalled["success"] is True
            assert recalled["memories"][0]["content"] == "The user's dog is called Rex."
            assert client.memories.get(saved["saved"][0]).metadata == {"thinking": "the user told us"}
            too_long = await memory.save_to_memory("t", ["x" * 2001])
            assert too_long["success"] is False and "INVALID_ARGUMENT" in too_long["error"]
            assert (await memory.recall_from_memory([" "]))["success"] is False
            return memory

    asyncio.run(main())
