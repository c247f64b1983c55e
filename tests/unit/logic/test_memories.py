"""Direct memory use cases (``engram.logic.memories``): create, get and retrieve, on the in-memory fakes."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta
from typing import Any

import pytest
from engram import ports
from engram.clock import new_id
from engram.errors import NotFound
from engram.logic.memories import create_memories, delete_memory, get_memory, retrieve
from engram.models.api import RetrieveRequest
from engram.models.memory import Action, NewMemory, Revision, Source, StoredMemory
from engram.ports import Change

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
SCOPE = {"user_id": "u-1"}
FACTS = [
    "The user lives in Lisbon.",
    "The user likes jazz.",
    "The user is allergic to peanuts.",
    "The user has a dog named Rex.",
]


def new(text: str, scope: dict[str, str] = SCOPE, **fields: Any) -> NewMemory:
    return NewMemory(scope=scope, fact=text, **fields)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def put_memory(
    stores: Any,
    embedder: Any,
    clock: Any,
    text: str,
    *,
    tenant: str = TENANT,
    scope: dict[str, str] = SCOPE,
    expire_time: datetime | None = None,
) -> StoredMemory:
    """Store a memory with fields the use cases cannot set yet (an expiry)."""
    now = clock.now()
    memory = StoredMemory(
        id=new_id(),
        tenant_id=tenant,
        scope=scope,
        fact=text,
        create_time=now,
        update_time=now,
        expire_time=expire_time,
        revision_id=new_id(),
        source=Source(),
        embedding=embedder.embed([text])[0],
        embedding_model=embedder.model_id,
    )
    revision = Revision(id=memory.revision_id, memory_id=memory.id, action=Action.CREATED, fact=text, create_time=now)
    stores.memories.apply_changes(tenant, [Change(Action.CREATED, memory, None, revision)])
    return stores.memories.get(tenant, memory.id)


def query(text: str, scope: dict[str, str] = SCOPE, **fields: Any) -> RetrieveRequest:
    return RetrieveRequest.model_validate({"scope": scope, "query": text, **fields})


# --- create_memories -----------------------------------------------------------------------------------


def test_a_batch_is_embedded_in_one_call_and_each_memory_gets_a_revision(stores, index, embedder, clock) -> None:
    # Given three new memories
    batch = [new(FACTS[0], topics=["USER_PERSONAL_INFO"], metadata={"app": "x"}), new(FACTS[1]), new(FACTS[2])]

    # When they are created
    created = create_memories(stores.memories, stores.configs, embedder, clock, TENANT, batch)

    # Then one embedding call covers all facts, and each memory is stored, indexed and has a CREATED revision
    assert embedder.calls == [FACTS[:3]]
    assert [m.fact for m in created] == FACTS[:3]
    assert len({m.id for m in created}) == 3
    assert created[0].topics == ["USER_PERSONAL_INFO"] and created[0].metadata == {"app": "x"}
    for memory in created:
        stored = stores.memories.get(TENANT, memory.id)
        assert stored.public() == memory
        assert stored.create_time == clock.now()
        assert stored.embedding == embedder.embed([memory.fact])[0]
        assert stored.embedding_model == embedder.model_id
        [revision] = stores.memories.revisions(TENANT, memory.id)
        assert (revision.id, revision.action, revision.fact) == (memory.revision_id, Action.CREATED, memory.fact)
    assert set(index.revisions(TENANT, [m.id for m in created])) == {m.id for m in created}


def test_a_batch_of_100_is_written_all_at_once_and_more_in_groups_of_100(stores, embedder, clock) -> None:
    # Given 120 new memories (the API takes at most 100 in one batch; internal callers may pass more)
    batch = [new(f"The user owns book number {i}.") for i in range(120)]

    # When they are created
    created = create_memories(stores.memories, stores.configs, embedder, clock, TENANT, batch)

    # Then they are embedded in one call and written all or nothing per group of 100, all stored
    assert embedder.call_count == 1
    assert [len(t) for t in stores.memories.transactions] == [100, 20]
    assert len(created) == 120
    assert all(stores.memories.get(TENANT, m.id) is not None for m in created)


def test_created_memories_keep_the_given_provenance(stores, embedder, clock) -> None:
    # Given a memory with the ids of the events it came from
    # When it is created
    [memory] = create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0], source={"event_ids": ["e1", "e2"]})]
    )

    # Then its source names them, without an operation
    assert memory.source.event_ids == ["e1", "e2"]
    assert memory.source.operation_id is None


# --- get_memory ------------------------------------------------------------------------------------------


def test_get_memory_returns_the_tenants_memory(stores, embedder, clock) -> None:
    # Given a memory
    [memory] = create_memories(stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0])])

    # When it is read by its tenant
    # Then it comes back as created
    assert get_memory(stores.memories, clock, TENANT, memory.id) == memory


def test_get_memory_of_another_tenant_is_not_found(stores, embedder, clock) -> None:
    # Given another tenant's memory
    [memory] = create_memories(stores.memories, stores.configs, embedder, clock, OTHER_TENANT, [new(FACTS[0])])

    # When this tenant asks for it, Then it does not exist
    with pytest.raises(NotFound):
        get_memory(stores.memories, clock, TENANT, memory.id)


def test_get_memory_of_a_missing_id_is_not_found(stores, clock) -> None:
    # Given no memory
    # When one is asked for, Then it does not exist
    with pytest.raises(NotFound):
        get_memory(stores.memories, clock, TENANT, "0000")


def test_get_memory_is_not_found_once_it_has_expired(stores, embedder, clock) -> None:
    # Given a memory that expires in one hour
    memory = put_memory(stores, embedder, clock, FACTS[0], expire_time=clock.now() + timedelta(hours=1))
    assert get_memory(stores.memories, clock, TENANT, memory.id).id == memory.id

    # When the hour has passed (the store still holds it: TTL deletion is late)
    clock.advance(hours=1)

    # Then it is not found
    with pytest.raises(NotFound):
        get_memory(stores.memories, clock, TENANT, memory.id)


# --- retrieve: similarity search ----------------------------------------------------------------------


def test_retrieve_returns_the_top_k_by_score(stores, index, embedder, clock) -> None:
    # Given four memories
    create_memories(stores.memories, stores.configs, embedder, clock, TENANT, [new(f) for f in FACTS])
    embedder.reset()

    # When the scope is searched densely for the two nearest to a question about where the user lives
    request = query("Where does the user live? Lisbon", top_k=2, mode="dense")
    response = retrieve(stores.memories, index, embedder, clock, TENANT, request)

    # Then two come back, the Lisbon memory first, by descending cosine similarity
    assert len(response.memories) == 2
    assert response.memories[0].memory.fact == "The user lives in Lisbon."
    scores = [m.score for m in response.memories]
    assert scores == sorted(scores, reverse=True)
    [vector] = embedder.embed(["Where does the user live? Lisbon"])
    for scored in response.memories:
        stored = stores.memories.get(TENANT, scored.memory.id)
        assert scored.score == pytest.approx(cosine(vector, stored.embedding), abs=1e-5)
    # ... with one embedding call and one index query
    assert embedder.calls[0] == ["Where does the user live? Lisbon"]
    assert len(index.queries) == 1 and index.queries[0].k == 2
    assert response.next_page_token is None


def test_retrieve_hybrid_by_default_sends_the_query_text_and_vector_to_one_index_query(
    stores, index, embedder, clock
) -> None:
    # Given memories
    create_memories(stores.memories, stores.configs, embedder, clock, TENANT, [new(f) for f in FACTS])
    embedder.reset()

    # When the scope is searched without naming a mode
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query("jazz", top_k=3))

    # Then one hybrid query carries both the words and the embedding, and the jazz memory ranks first
    [sent] = index.queries
    assert (sent.mode, sent.text, sent.k) == ("hybrid", "jazz", 3)
    assert sent.vector == embedder.embed(["jazz"])[0]
    assert response.memories[0].memory.fact == "The user likes jazz."
    assert all(0 <= m.score <= 1 for m in response.memories)


def test_retrieve_lexical_makes_no_embedding_call(stores, index, embedder, clock) -> None:
    # Given memories
    create_memories(stores.memories, stores.configs, embedder, clock, TENANT, [new(f) for f in FACTS])
    embedder.reset()

    # When the scope is searched by words only
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query("peanuts", mode="lexical"))

    # Then nothing is embedded and the memory with that word is found
    assert embedder.call_count == 0
    assert [m.memory.fact for m in response.memories] == ["The user is allergic to peanuts."]


def test_retrieve_with_a_query_applies_the_metadata_filter(stores, index, embedder, clock) -> None:
    # Given the same fact with two different metadata values
    [pt, _] = create_memories(
        stores.memories,
        stores.configs,
        embedder,
        clock,
        TENANT,
        [new(FACTS[0], metadata={"lang": "pt"}), new(FACTS[0], metadata={"lang": "en"})],
    )

    # When the scope is searched with a filter on the metadata
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query(FACTS[0], filter={"lang": "pt"}))

    # Then only the matching memory comes back
    assert [m.memory.id for m in response.memories] == [pt.id]


def test_retrieve_never_returns_memories_of_another_scope_or_tenant(stores, index, embedder, clock) -> None:
    # Given the same fact in this scope, a wider scope and another tenant
    [mine] = create_memories(stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0])])
    create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0], scope={**SCOPE, "app": "x"})]
    )
    create_memories(stores.memories, stores.configs, embedder, clock, OTHER_TENANT, [new(FACTS[0])])

    # When this scope is searched
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query(FACTS[0], top_k=10))

    # Then only this scope's memory is returned
    assert [m.memory.id for m in response.memories] == [mine.id]


def test_retrieve_matches_a_scope_whatever_its_key_order(stores, index, embedder, clock) -> None:
    # Given a memory of a two-key scope
    [memory] = create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0], scope={"a": "1", "b": "2"})]
    )

    # When it is searched with the keys in the other order
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query(FACTS[0], scope={"b": "2", "a": "1"}))

    # Then it is found
    assert [m.memory.id for m in response.memories] == [memory.id]


def test_retrieve_drops_expired_memories(stores, index, embedder, clock) -> None:
    # Given a memory that has expired in the store while the index still holds it without an expiry (the
    # index filters expiry itself, so only a copy that lags behind the table can rank it), and a live one
    expired = put_memory(stores, embedder, clock, FACTS[0])
    stored = stores.memories.items[(TENANT, expired.id)]
    stores.memories.items[(TENANT, expired.id)] = stored.model_copy(
        update={"expire_time": clock.now() + timedelta(minutes=1)}
    )
    live = put_memory(stores, embedder, clock, FACTS[1])
    clock.advance(minutes=2)

    # When the scope is searched
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query(FACTS[0]))

    # Then the index ranked the expired memory, but only the live memory is returned
    assert expired.id in [hit.memory_id for hit in index.search(index.queries[-1])]
    assert [m.memory.id for m in response.memories] == [live.id]


def test_retrieve_skips_a_memory_deleted_from_the_store_but_still_in_the_index(stores, index, embedder, clock) -> None:
    # Given two memories, one deleted while the index lags behind the stream
    [gone, kept] = create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0]), new(FACTS[1])]
    )
    index.lag = True
    delete_memory(stores.memories, stores.configs, clock, TENANT, gone.id)
    assert gone.id in index.revisions(TENANT, [gone.id])

    # When the scope is searched for the deleted fact
    response = retrieve(stores.memories, index, embedder, clock, TENANT, query(FACTS[0]))

    # Then the deleted memory is not served
    assert [m.memory.id for m in response.memories] == [kept.id]


def test_retrieve_with_topics_keeps_memories_with_one_of_them(stores, index, embedder, clock) -> None:
    # Given memories with different topics
    personal, preference, _ = create_memories(
        stores.memories,
        stores.configs,
        embedder,
        clock,
        TENANT,
        [
            new(FACTS[0], topics=["USER_PERSONAL_INFO"]),
            new(FACTS[1], topics=["USER_PREFERENCES", "CUSTOM"]),
            new(FACTS[2]),
        ],
    )

    # When the scope is searched for two of the topics
    response = retrieve(
        stores.memories, index, embedder, clock, TENANT, query(FACTS[2], topics=["USER_PERSONAL_INFO", "CUSTOM"])
    )

    # Then only memories with one of those topics come back
    assert {m.memory.id for m in response.memories} == {personal.id, preference.id}


# --- retrieve: list mode -----------------------------------------------------------------------------


def test_list_mode_pages_newest_first(stores, index, embedder, clock) -> None:
    # Given five memories created one minute apart
    ids = []
    for i in range(5):
        [memory] = create_memories(
            stores.memories, stores.configs, embedder, clock, TENANT, [new(f"The user owns book number {i}.")]
        )
        ids.append(memory.id)
        clock.advance(minutes=1)
    embedder.reset()

    # When the scope is listed two at a time, following the page tokens
    pages: list[list[str]] = []
    token = None
    while True:
        request = RetrieveRequest(scope=SCOPE, page_size=2, page_token=token)
        response = retrieve(stores.memories, index, embedder, clock, TENANT, request)
        pages.append([m.memory.id for m in response.memories])
        assert all(m.score is None for m in response.memories)
        token = response.next_page_token
        if token is None:
            break
        assert len(pages) < 10

    # Then the memories come newest first, two per page, without an embedding call or an index query
    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    assert embedder.call_count == 0
    assert index.queries == []


def test_list_mode_filters_topics_and_drops_expired_memories(stores, index, embedder, clock) -> None:
    # Given a personal memory, a preference and an expired personal memory
    [personal] = create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0], topics=["USER_PERSONAL_INFO"])]
    )
    create_memories(
        stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[1], topics=["USER_PREFERENCES"])]
    )
    expired = put_memory(stores, embedder, clock, FACTS[2], expire_time=clock.now() + timedelta(seconds=1))
    stores.memories.items[(TENANT, expired.id)] = expired.model_copy(update={"topics": ["USER_PERSONAL_INFO"]})
    clock.advance(seconds=2)

    # When the scope is listed for personal information
    response = retrieve(
        stores.memories, index, embedder, clock, TENANT, RetrieveRequest(scope=SCOPE, topics=["USER_PERSONAL_INFO"])
    )

    # Then only the live personal memory is listed
    assert [m.memory for m in response.memories] == [personal]


def test_list_mode_never_lists_another_tenant_or_scope(stores, index, embedder, clock) -> None:
    # Given memories of another tenant and another scope
    create_memories(stores.memories, stores.configs, embedder, clock, OTHER_TENANT, [new(FACTS[0])])
    create_memories(stores.memories, stores.configs, embedder, clock, TENANT, [new(FACTS[0], scope={"user_id": "u-2"})])

    # When this scope is listed
    response = retrieve(stores.memories, index, embedder, clock, TENANT, RetrieveRequest(scope=SCOPE))

    # Then nothing is listed
    assert response.memories == []
    assert response.next_page_token is None


# --- the fakes themselves --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "fake"),
    [
        ("MemoryRepository", "FakeMemories"),
        ("OperationRepository", "FakeOperations"),
        ("SessionRepository", "FakeSessions"),
        ("ApiKeyRepository", "FakeApiKeys"),
        ("LeaseRepository", "FakeLeases"),
        ("ConfigRepository", "FakeConfigs"),
        ("RetentionRepository", "FakeRetention"),
        ("VectorIndex", "FakeIndex"),
        ("LLM", "ScriptedLLM"),
        ("Embedder", "CountingEmbedder"),
    ],
)
def test_each_fake_has_every_method_of_its_port_with_the_same_parameters(fakes, port: str, fake: str) -> None:
    # Given a port and the fake these tests use for it
    protocol = getattr(ports, port)
    cls = getattr(fakes, fake)

    # Then the fake has each of the port's methods, taking the same parameters (a port that grew shows here)
    for name, method in vars(protocol).items():
        if name.startswith("_") or not callable(method):
            continue
        assert hasattr(cls, name), f"{fake} lacks {port}.{name}"
        expected = list(inspect.signature(method).parameters)
        assert list(inspect.signature(getattr(cls, name)).parameters) == expected, f"{fake}.{name}"
