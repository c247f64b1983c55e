"""Reindex rebuilds the index from the store alone."""

from __future__ import annotations

from engram.logic import memories
from engram.logic.reindex import reindex
from engram.models.index import IndexQuery
from engram.models.memory import NewMemory
from engram.models.scope import scope_hash


def test_reindex_restores_every_live_memory_without_embedding_calls(stores, index, embedder, clock):
    # Given three memories, one of which has expired, and an index that lost everything
    scope = {"user_id": "u1"}
    created = memories.create_memories(
        stores.memories,
        stores.configs,
        embedder,
        clock,
        "t1",
        [
            NewMemory(scope=scope, fact="The user lives in Lisbon."),
            NewMemory(scope=scope, fact="The user likes jazz."),
            NewMemory(scope=scope, fact="The user is at the dentist.", ttl_seconds=60),
        ],
    )
    clock.advance(seconds=120)
    index.documents.clear()
    calls_before = embedder.call_count
    # When reindexing
    result = reindex(stores.memories, index, clock)
    # Then the live memories are back at their revisions, with no embedding call
    assert (result.indexed, result.skipped_expired) == (2, 1)
    assert embedder.call_count == calls_before
    assert index.revisions("t1", [m.id for m in created]) == {m.id: m.revision_id for m in created[:2]}
    [vector] = embedder.embed(["Where does the user live?"])
    query = IndexQuery(
        tenant_id="t1", scope_hash=scope_hash(scope), vector=vector, embedding_model=embedder.model_id, k=1
    )
    assert index.search(query)[0].memory_id == created[0].id
