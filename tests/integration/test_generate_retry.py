"""A generate request that fails after its operation started, retried with the same ``Idempotency-Key``,
returns that operation: one generation of the conversation, not two."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from engram import wiring
from engram.errors import RetryableError
from engram.logic import generation


class RecordingStarter:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.started: list[str] = []

    def start(self, tenant_id: str, operation_id: str) -> None:
        self.started.append(operation_id)
        self.inner.start(tenant_id, operation_id)


def test_a_retry_after_a_failure_past_the_start_returns_the_same_operation(api, scope, monkeypatch: pytest.MonkeyPatch):
    starter = RecordingStarter(wiring.dependencies().workflow)
    monkeypatch.setattr(wiring.dependencies(), "workflow", starter)
    real_wait = generation.wait_for_operation
    failures = [RetryableError("scripted: the API function failed after starting the workflow")]

    def wait_failing_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(generation, "wait_for_operation", wait_failing_once)
    body = {"scope": scope, "messages": [{"role": "user", "content": "I live in Lisbon."}], "wait_seconds": 10}
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}

    # Given a first attempt that started its generation, then failed (the idempotency record is forgotten)
    status, _ = api.request("POST", "/v1/memories/generate", body, headers=headers)
    assert status == 503 and len(starter.started) == 1

    # When the request is retried with the same key
    status, operation = api.request("POST", "/v1/memories/generate", body, headers=headers)

    # Then it answers with the first attempt's operation: no second generation was started
    assert status in (200, 202), operation
    assert operation["id"] == starter.started[0]
    assert set(starter.started) == {operation["id"]}
    assert api.wait(operation["id"])["status"] == "SUCCEEDED"
