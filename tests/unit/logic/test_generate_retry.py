"""A retried generate request (same ``Idempotency-Key`` and body) never starts a second generation of the
same conversation: the operation id derives from the request (``engram.logic.generation.start_generation``)."""

from __future__ import annotations

from typing import Any

from engram.logic.generation import start_generation
from engram.logic.generation.operations import attempt_ids
from engram.models.api import GenerateRequest
from engram.models.operation import OperationError, OperationStatus

TENANT = "tenant-a"
BODY = {"scope": {"user_id": "u-1"}, "messages": [{"role": "user", "content": "I live in Lisbon."}]}


class Starter:
    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, tenant_id: str, operation_id: str) -> None:
        self.started.append(operation_id)


def start(stores: Any, clock: Any, starter: Starter, key: str | None, body: dict[str, Any] = BODY) -> Any:
    request = GenerateRequest.model_validate(body)
    return start_generation(stores.operations, starter, clock, TENANT, request, request_key=key)


def test_a_retry_returns_the_operation_of_the_first_attempt_and_restarts_nothing_new(stores, clock) -> None:
    starter = Starter()
    # Given a request whose first attempt recorded and started its operation, then failed to answer
    first = start(stores, clock, starter, "generate:k-1")

    # When it is retried (a different wait_seconds is the same request)
    again = start(stores, clock, starter, "generate:k-1", {**BODY, "wait_seconds": 5})

    # Then the same operation comes back; its workflow start is repeated (idempotent), no second operation
    assert again.id == first.id and again.status is OperationStatus.RUNNING
    assert starter.started == [first.id, first.id]
    assert len(stores.operations.records) == 1


def test_another_body_key_or_no_key_is_another_operation(stores, clock) -> None:
    starter = Starter()
    first = start(stores, clock, starter, "generate:k-1")
    other_body = {**BODY, "messages": [{"role": "user", "content": "I live in Porto."}]}
    assert start(stores, clock, starter, "generate:k-1", other_body).id != first.id
    assert start(stores, clock, starter, "generate:k-2").id != first.id
    assert start(stores, clock, starter, None).id != start(stores, clock, starter, None).id


def test_after_a_failed_attempt_the_retry_runs_the_next_attempt_once(stores, clock) -> None:
    starter = Starter()
    # Given a first attempt whose generation FAILED (it stored nothing)
    first = start(stores, clock, starter, "generate:k-1")
    stores.operations.finish(
        TENANT, first.id, OperationStatus.FAILED, clock.now(), OperationError(code="X", message="x")
    )

    # When the request is retried, then retried again
    second = start(stores, clock, starter, "generate:k-1")
    third = start(stores, clock, starter, "generate:k-1")

    # Then a new operation runs (the next derived id), and the later retry returns it
    body = GenerateRequest.model_validate(BODY).model_dump(mode="json", exclude={"wait_seconds"}, exclude_none=True)
    ids = attempt_ids(TENANT, "generate:k-1", body)
    assert (first.id, second.id, third.id) == (ids[0], ids[1], ids[1])
    assert len(stores.operations.records) == 2
