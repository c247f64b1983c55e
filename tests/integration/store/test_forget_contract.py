"""``ForgetRepository`` and what forgetting needs of the other repositories (operations that expire, the
scope's revisions and operations found by scope) — the same on the fakes and on DynamoDB."""

from __future__ import annotations

from collections import Counter

import pytest
from engram.errors import NotFound
from engram.models.operation import OperationDocument
from engram.ports import FORGET_BATCH

from tests.integration.store.builders import SCOPE, T0, created, deleted, event, later, memory, operation, updated

OTHER_SCOPE = {"user_id": "u-2", "app": "contract"}
REQUEST_HASH = "0" * 32


def _scope_with_everything(stores, tenant) -> dict[str, object]:
    """In SCOPE: an operation with two documents, a memory with two revisions, a deleted memory's two
    revisions; a session of two events. In OTHER_SCOPE: one operation, one memory."""
    op, other_op = operation(), operation()
    stores.operations.create(tenant, op, SCOPE, {"messages": ["secret"]})
    stores.operations.put_blob(tenant, op.id, OperationDocument.SOURCE, [{"text": "secret"}])
    stores.operations.create(tenant, other_op, OTHER_SCOPE, {"messages": ["kept"]})
    kept, gone = memory(tenant, "The user likes tea."), memory(tenant, "The user was in Porto.")
    other = memory(tenant, "Someone else.", scope=OTHER_SCOPE)
    stores.memories.apply_changes(tenant, [created(kept), created(gone), created(other)])
    stores.memories.apply_changes(tenant, [updated(stores.memories.get(tenant, kept.id), fact="green tea")])
    stores.memories.apply_changes(tenant, [deleted(stores.memories.get(tenant, gone.id))])
    stores.sessions.append(tenant, "s-1", [event("e1", "secret", later(0)), event("e2", "more", later(1))])
    stores.sessions.append(tenant, "s-2", [event("e1", "kept", later(0))])
    return {"op": op, "other_op": other_op, "kept": kept, "gone": gone, "other": other}


def test_owned_lists_what_a_scope_owns_in_deletion_order(stores, tenant) -> None:
    # Given a scope with operations, memories, revisions and a session
    made = _scope_with_everything(stores, tenant)

    # When what it owns is listed with its session
    owned = stores.forget.owned(tenant, SCOPE, ["s-1"], 100)

    # Then: each operation after its documents, each memory after its revisions, the deleted memory's
    # revisions, then the session's events; nothing of the other scope or session
    kinds = [item.kind for item in owned]
    assert (
        kinds
        == ["blob", "blob", "operation", "revision", "revision", "memory", "revision", "revision"]
        + ["session_event"] * 2
    )
    assert [item.memory_id for item in owned if item.kind == "memory"] == [made["kept"].id]
    assert len(stores.forget.owned(tenant, SCOPE, ["s-1"], 4)) == 4
    assert stores.forget.owned(f"{tenant}-other", SCOPE, ["s-1"], 100) == []


def test_deleting_counts_on_the_receipt_and_leaves_the_rest(stores, tenant) -> None:
    # Given a scope with everything, and a forget begun for it
    made = _scope_with_everything(stores, tenant)
    receipt = stores.forget.begin(tenant, REQUEST_HASH, "a" * 32, "r1", T0)

    # When what it owns is deleted in batches of three, then the forget finishes
    while items := stores.forget.owned(tenant, SCOPE, ["s-1"], 3):
        indexed = sum(1 for item in items if item.kind == "memory")
        assert stores.forget.delete(tenant, receipt.receipt_id, items, indexed) == len(items)
    done = stores.forget.finish(tenant, receipt.receipt_id, REQUEST_HASH, later(5))

    # Then the receipt counts each kind, and only the other scope and session remain
    assert done.counts.model_dump() == {
        "memories": 1,
        "revisions": 4,
        "operations": 1,
        "blobs": 2,
        "session_events": 2,
        "index_documents": 1,
        "idempotency_records": 0,
    }
    assert (done.requested_at, done.completed_at, done.scope_hash) == (T0, later(5), "a" * 32)
    assert stores.operations.get(tenant, made["op"].id) is None
    assert stores.operations.get_blob(tenant, made["op"].id, OperationDocument.REQUEST) is None
    assert stores.operations.get(tenant, made["other_op"].id) is not None
    assert stores.memories.get(tenant, made["kept"].id) is None
    assert stores.memories.revisions(tenant, made["kept"].id) == []
    assert stores.memories.revisions(tenant, made["gone"].id) == []
    assert stores.memories.get(tenant, made["other"].id) is not None
    assert stores.sessions.events(tenant, "s-1") == []
    assert len(stores.sessions.events(tenant, "s-2")) == 1


def test_items_already_gone_are_not_counted(stores, tenant) -> None:
    # Given the scope's items listed, then one memory's revisions deleted by someone else
    made = _scope_with_everything(stores, tenant)
    receipt = stores.forget.begin(tenant, REQUEST_HASH, "a" * 32, "r1", T0)
    items = stores.forget.owned(tenant, SCOPE, [], 100)
    stores.forget.delete(tenant, receipt.receipt_id, [i for i in items if i.kind == "operation"])

    # When the listed items are deleted
    deleted_count = stores.forget.delete(tenant, receipt.receipt_id, items)

    # Then the one gone already is left out, and counted once
    assert deleted_count == len(items) - 1
    counts = stores.forget.receipt(tenant, receipt.receipt_id).counts
    assert counts.operations == 1 and counts.revisions == Counter(i.kind for i in items)["revision"]
    assert stores.memories.get(tenant, made["kept"].id) is None


def test_a_forget_in_progress_is_resumed_and_a_finished_one_is_not(stores, tenant) -> None:
    # Given a forget begun
    first = stores.forget.begin(tenant, REQUEST_HASH, "a" * 32, "r1", T0)

    # When it is begun again (a retry), Then the same receipt comes back, unfinished
    again = stores.forget.begin(tenant, REQUEST_HASH, "a" * 32, "r2", later(1))
    assert again == first and again.completed_at is None
    # and once finished, the same request begins a new one
    stores.forget.finish(tenant, "r1", REQUEST_HASH, later(2))
    assert stores.forget.begin(tenant, REQUEST_HASH, "a" * 32, "r3", later(3)).receipt_id == "r3"
    assert stores.forget.receipt(tenant, "r1").completed_at == later(2)
    # Receipts are the tenant's own
    assert stores.forget.receipt(f"{tenant}-other", "r1") is None
    with pytest.raises(NotFound):
        stores.forget.finish(tenant, "missing", REQUEST_HASH, later(4))
    assert FORGET_BATCH == 99


def test_an_expired_operation_is_deleted_with_its_documents(stores, tenant) -> None:
    # Given an operation expiring at +60 s with two documents, and one that never expires
    short, kept = operation(), operation()
    stores.operations.create(tenant, short, SCOPE, {"messages": ["secret"]}, later(60))
    stores.operations.put_blob(tenant, short.id, OperationDocument.CANDIDATES, [{"fact": "secret"}])
    stores.operations.create(tenant, kept, SCOPE, {"messages": ["kept"]})

    # When retention looks at +30 s and at +90 s
    assert stores.retention.expired(later(30), 100) == []
    expired = stores.retention.expired(later(90), 100)

    # Then only the expired operation is found, and deleting it takes its documents
    assert [item.kind for item in expired] == ["operation"]
    stores.retention.delete(expired)
    assert stores.operations.get(tenant, short.id) is None
    assert stores.operations.get_blob(tenant, short.id, OperationDocument.REQUEST) is None
    assert stores.operations.get_blob(tenant, short.id, OperationDocument.CANDIDATES) is None
    assert stores.operations.get_blob(tenant, kept.id, OperationDocument.REQUEST) == {"messages": ["kept"]}
