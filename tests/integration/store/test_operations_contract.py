"""``OperationRepository``: operations, their stored documents and their counters — the same on the fake
and on DynamoDB."""

from __future__ import annotations

import os

import pytest
from engram.errors import Conflict, NotFound, PayloadTooLarge
from engram.models.operation import OperationError, OperationStatus, Usage

from tests.integration.store.builders import SCOPE, T0, later, operation

REQUEST = {"scope": SCOPE, "messages": [{"role": "user", "content": "I live in Lisbon."}], "metadata": {"n": 1}}


def test_a_created_operation_is_running_with_its_scope_and_request(stores, tenant) -> None:
    # Given a new operation
    op = operation()

    # When it is created with its request
    stores.operations.create(tenant, op, SCOPE, REQUEST)

    # Then it reads back as created, with its scope, and its request is the document named REQ
    assert stores.operations.get(tenant, op.id) == op
    assert stores.operations.scope_of(tenant, op.id) == SCOPE
    assert stores.operations.get_blob(tenant, op.id, "REQ") == REQUEST
    assert stores.operations.get(f"{tenant}-other", op.id) is None


def test_an_operation_id_is_created_once(stores, tenant) -> None:
    # Given an operation, When it is created again, Then that conflicts and the first request stays
    op = operation()
    stores.operations.create(tenant, op, SCOPE, REQUEST)
    with pytest.raises(Conflict):
        stores.operations.create(tenant, op, SCOPE, {"other": True})
    assert stores.operations.get_blob(tenant, op.id, "REQ") == REQUEST


def test_a_request_too_large_to_store_is_refused_and_nothing_is_stored(stores, tenant) -> None:
    # Given a request of ~800 KB that compresses badly (random hex: ~50 %, over 350 KB)
    op = operation()
    big = {"scope": SCOPE, "noise": os.urandom(400_000).hex()}

    # When it is stored, Then it is refused as too large, and the operation does not exist
    with pytest.raises(PayloadTooLarge):
        stores.operations.create(tenant, op, SCOPE, big)
    assert stores.operations.get(tenant, op.id) is None


def test_unknown_operations_and_documents_are_absent(stores, tenant) -> None:
    # Given nothing stored, When it is read, Then it is absent (and its scope not found)
    assert stores.operations.get(tenant, "missing") is None
    assert stores.operations.get_blob(tenant, "missing", "REQ") is None
    with pytest.raises(NotFound):
        stores.operations.scope_of(tenant, "missing")


def test_documents_are_stored_as_json_and_replaced(stores, tenant) -> None:
    # Given an operation
    op = operation()
    stores.operations.create(tenant, op, SCOPE, REQUEST)

    # When a document with a value JSON lacks is stored, then replaced
    stores.operations.put_blob(tenant, op.id, "SOURCE", [{"at": T0, "n": (1, 2)}])
    first = stores.operations.get_blob(tenant, op.id, "SOURCE")
    stores.operations.put_blob(tenant, op.id, "SOURCE", {"replaced": True})

    # Then it read back as JSON (the time as its text, the tuple as a list), and now reads the replacement
    assert first == [{"at": str(T0), "n": [1, 2]}]
    assert stores.operations.get_blob(tenant, op.id, "SOURCE") == {"replaced": True}


def test_usage_adds_up_and_moves_the_update_time(stores, tenant) -> None:
    # Given an operation
    op = operation()
    stores.operations.create(tenant, op, SCOPE, REQUEST)

    # When usage is added twice (and a zero usage once)
    stores.operations.add_usage(tenant, op.id, Usage(llm_calls=1, input_tokens=10, output_tokens=5), later(1))
    stores.operations.add_usage(tenant, op.id, Usage(llm_calls=1, embedding_calls=2), later(2))
    stores.operations.add_usage(tenant, op.id, Usage(), later(3))

    # Then the counters are the sums, and the update time is the last non-zero addition's
    stored = stores.operations.get(tenant, op.id)
    assert stored.usage == Usage(llm_calls=2, input_tokens=10, output_tokens=5, embedding_calls=2)
    assert stored.update_time == later(2)


def test_usage_of_an_unknown_operation_is_not_found(stores, tenant) -> None:
    # Given no operation, When usage is added to it, Then it is not found (a zero usage does nothing)
    stores.operations.add_usage(tenant, "missing", Usage(), T0)  # nothing to add: nothing happens
    with pytest.raises(NotFound):
        stores.operations.add_usage(tenant, "missing", Usage(llm_calls=1), T0)


def test_an_operation_finishes_once(stores, tenant) -> None:
    # Given a running operation
    op = operation()
    stores.operations.create(tenant, op, SCOPE, REQUEST)

    # When it fails, and then a retried step tries to finish it again
    error = OperationError(code="LLMUnavailable", message="the model timed out")
    first = stores.operations.finish(tenant, op.id, OperationStatus.FAILED, later(5), error)
    second = stores.operations.finish(tenant, op.id, OperationStatus.SUCCEEDED, later(6))

    # Then only the first call finished it
    assert (first, second) == (True, False)
    stored = stores.operations.get(tenant, op.id)
    assert (stored.status, stored.error, stored.update_time) == (OperationStatus.FAILED, error, later(5))
    assert stores.operations.finish(tenant, "missing", OperationStatus.SUCCEEDED, later(7)) is False
