"""Forgetting (issue 10, item 11): ``engram.logic.forget`` on the fakes, operations that expire, and the
purge dry run counting only live memories."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engram.errors import NotFound, RetryableError
from engram.logic import forget, memories, retention
from engram.logic.config import put_config
from engram.logic.generation import start_generation
from engram.models.api import GenerateRequest, PurgeRequest, RollbackRequest
from engram.models.config import TenantConfig, TtlConfig
from engram.models.forget import ForgetRequest
from engram.models.memory import NewMemory
from engram.models.operation import OperationDocument
from engram.models.session import SessionEvent

TENANT = "t-1"
SCOPE = {"user_id": "u-1"}
OTHER = {"user_id": "u-2"}


class NoWorkflow:
    def start(self, tenant_id: str, operation_id: str) -> None:
        return None


def _create(stores, embedder, clock, scope, *facts: str, ttl: int | None = None):
    news = [NewMemory(scope=scope, fact=fact, ttl_seconds=ttl) for fact in facts]
    return memories.create_memories(stores.memories, stores.configs, embedder, clock, TENANT, news)


def _session(stores, clock, session_id: str, *texts: str) -> None:
    events = [
        SessionEvent.model_validate(
            {"event_id": f"e{i}", "timestamp": clock.now(), "content": {"role": "user", "parts": [{"text": t}]}}
        )
        for i, t in enumerate(texts)
    ]
    stores.sessions.append(TENANT, session_id, events)


def test_a_forget_deletes_the_scope_everywhere_and_its_receipt_counts_it(stores, index, embedder, clock) -> None:
    # Given two memories of the scope (one updated, one deleted), a generation of it, a session, and another scope
    kept, gone = _create(stores, embedder, clock, SCOPE, "The user lives in Lisbon.", "The user was in Porto.")
    [other] = _create(stores, embedder, clock, OTHER, "Someone else likes tea.")
    memories.delete_memory(stores.memories, stores.configs, clock, TENANT, gone.id)
    request = GenerateRequest(scope=SCOPE, messages=[{"role": "user", "content": "I moved to Lisbon."}])
    operation = start_generation(stores.operations, NoWorkflow(), clock, TENANT, request)
    _session(stores, clock, "chat-1", "I moved to Lisbon.", "Remember it.")

    # When the scope is forgotten with its session
    receipt = forget.forget(stores.forget, index, clock, TENANT, ForgetRequest(scope=SCOPE, session_ids=["chat-1"]))

    # Then the receipt counts every kind, holds no content, and is readable afterwards
    assert receipt.completed_at == clock.now()
    assert receipt.counts.model_dump() == {
        "memories": 1,
        "revisions": 3,
        "operations": 1,
        "blobs": 1,
        "session_events": 2,
        "index_documents": 1,
        "idempotency_records": 0,
    }
    assert "Lisbon" not in receipt.model_dump_json() and "u-1" not in receipt.model_dump_json()
    assert forget.get_receipt(stores.forget, TENANT, receipt.receipt_id) == receipt
    # and nothing of the scope is left: memories, history, index, operation and its request, session
    with pytest.raises(NotFound):
        memories.list_revisions(stores.memories, TENANT, gone.id)
    with pytest.raises(NotFound):
        memories.rollback(
            stores.memories, stores.configs, embedder, clock, TENANT, gone.id, RollbackRequest(revision_id="x")
        )
    assert stores.memories.get(TENANT, kept.id) is None
    assert set(index.documents) == {(TENANT, other.id)}
    assert stores.operations.get(TENANT, operation.id) is None
    assert stores.operations.get_blob(TENANT, operation.id, OperationDocument.REQUEST) is None
    assert stores.sessions.events(TENANT, "chat-1") == []
    assert stores.memories.get(TENANT, other.id) is not None


def test_a_forget_out_of_time_is_resumed_by_the_same_request(stores, index, embedder, clock) -> None:
    # Given 150 memories of the scope (two batches' worth, with their revisions)
    _create(stores, embedder, clock, SCOPE, *[f"Fact number {i}." for i in range(150)])
    request = ForgetRequest(scope=SCOPE)
    ticks = iter(range(100))

    # When a forget has time for one batch only
    partial = forget.forget(stores.forget, index, clock, TENANT, request, deadline=1, monotonic=lambda: next(ticks))

    # Then its receipt is in progress with that batch counted
    assert partial.completed_at is None and partial.counts.memories + partial.counts.revisions == 99
    # When the same request is sent again, Then it finishes the same receipt
    done = forget.forget(stores.forget, index, clock, TENANT, request)
    assert done.receipt_id == partial.receipt_id and done.completed_at is not None
    assert (done.counts.memories, done.counts.revisions, done.counts.index_documents) == (150, 150, 150)
    assert list(stores.memories.scan(TENANT)) == [] and index.documents == {}
    # and once done, the same request is a new forget (of nothing)
    again = forget.forget(stores.forget, index, clock, TENANT, request)
    assert again.receipt_id != done.receipt_id and again.counts.memories == 0


def test_a_forget_that_only_finds_deleted_items_gives_up_with_a_retryable_error(stores, index, clock) -> None:
    # Given a store that keeps listing an item already gone (an index that lags behind deletions)
    class Stale:
        def __getattr__(self, name):
            return getattr(stores.forget, name)

        def owned(self, *args):
            from engram.ports import OwnedItem

            return [OwnedItem("session_event", ("session_event", TENANT, "s", "gone"))]

    # When a forget runs, Then it stops with a retryable error instead of looping
    with pytest.raises(RetryableError):
        forget.forget(Stale(), index, clock, TENANT, ForgetRequest(scope=SCOPE))


def test_an_unknown_receipt_is_not_found(stores) -> None:
    with pytest.raises(NotFound):
        forget.get_receipt(stores.forget, TENANT, "missing")


def test_operations_expire_after_the_tenants_operation_ttl_and_retention_deletes_them(stores, clock) -> None:
    # Given a tenant whose operations live 2 hours, and a generation started now
    ttl = TtlConfig(operation_ttl_seconds=7200)
    put_config(stores.configs, clock, TENANT, TenantConfig(ttl=ttl))
    request = GenerateRequest(scope=SCOPE, messages=[{"role": "user", "content": "I moved to Lisbon."}])
    operation = start_generation(stores.operations, NoWorkflow(), clock, TENANT, request, stores.configs)
    stores.operations.put_blob(TENANT, operation.id, OperationDocument.SOURCE, [{"text": "I moved to Lisbon."}])

    # When retention runs after 1 hour and after 3 hours
    clock.advance(hours=1)
    early = retention.run_retention(stores.retention, clock)
    clock.advance(hours=2)
    late = retention.run_retention(stores.retention, clock)

    # Then the operation and its documents are deleted only once expired
    assert (early.operations, late.operations) == (0, 1)
    assert stores.operations.get(TENANT, operation.id) is None
    assert stores.operations.get_blob(TENANT, operation.id, OperationDocument.SOURCE) is None


def test_operations_expire_after_30_days_by_default(stores, clock) -> None:
    request = GenerateRequest(scope=SCOPE, facts=[{"fact": "The user likes tea."}])
    operation = start_generation(stores.operations, NoWorkflow(), clock, TENANT, request, stores.configs)
    record = stores.operations.records[(TENANT, operation.id)]
    assert record.expire_time == clock.now() + timedelta(days=30)


def test_the_purge_dry_run_counts_only_live_memories(stores, embedder, clock) -> None:
    # Given a memory expiring in a minute and one that never expires
    _create(stores, embedder, clock, SCOPE, "The user is in a meeting.", ttl=60)
    _create(stores, embedder, clock, SCOPE, "The user likes tea.")

    # When, two minutes later, a purge of the scope is counted
    clock.advance(minutes=2)
    count = memories.purge(stores.memories, stores.configs, clock, TENANT, PurgeRequest(scope=SCOPE))

    # Then only the live memory counts (the expired one is invisible to every read)
    assert count == 1
