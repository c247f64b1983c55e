"""A generation whose changes are stored while the index stays behind past Finalize's retries: the
operation is SUCCEEDED with ``index_pending`` (never FAILED: a client retrying a failed generation would
store its memories twice), and search finds the memories once the index catches up."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from engram import wiring
from engram.models.index import IndexDocument
from engram_dev.patches import require

MESSAGES = [{"role": "user", "content": "I live in Lisbon."}]


class HeldIndex:
    """The local index with every upsert held back until ``release()`` (the stream's changes do not reach
    it); everything else goes to the real index."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.held: list[IndexDocument] = []

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        self.held.extend(documents)

    def release(self) -> None:
        held, self.held = self.held, []
        self.inner.upsert(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's Step Functions waits at most 20 ms between a Task's retries (Finalize's IndexNotReady
    retries take about a minute otherwise); the number of attempts is the ASL's."""
    require("moto", "5.2.5", "tests/workflow/test_index_pending.py: shorter Retry waits")
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    real_sleep = time.sleep
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: real_sleep(min(seconds, 0.02))))


@pytest.fixture
def held_index(monkeypatch: pytest.MonkeyPatch, local_stack: Any) -> Iterator[HeldIndex]:
    held = HeldIndex(wiring.dependencies().index)
    monkeypatch.setattr(wiring.dependencies(), "index", held)
    yield held
    monkeypatch.undo()
    held.release()


def _entered(local_stack: Any, operation_id: str) -> list[str]:
    sfn = boto3.client("stepfunctions", endpoint_url=local_stack.emulator.endpoint_url, region_name="us-east-1")
    arn = local_stack.resources.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{operation_id}"
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"]


def _search(api: Any, scope: dict[str, str]) -> list[str]:
    return [m["memory"]["id"] for m in api.retrieve(scope, "Where does the user live?", mode="dense")["memories"]]


def test_a_generation_stored_while_the_index_lags_is_succeeded_with_the_index_pending(
    api, scope, local_stack, fast_retries, held_index
):
    # Given an index that receives nothing from the stream

    # When a generation runs to the end of Finalize's retries
    operation = api.wait(api.generate(scope, messages=MESSAGES)["id"], timeout=60)

    # Then the operation SUCCEEDED with index_pending, its result, and no error (not FAILED)
    assert operation["status"] == "SUCCEEDED", operation
    assert operation["index_pending"] is True and operation.get("error") is None
    [generated] = operation["result"]["generated_memories"]
    memory_id = generated["memory"]["id"]
    # And the workflow gave up on Finalize, then RecordFailure finished the operation
    assert _entered(local_stack, operation["id"]) == [
        "LoadSource",
        "Extract",
        "Consolidate",
        "Finalize",
        "RecordFailure",
    ]
    # And the memory is stored and served by get and list, though search does not have it yet
    assert api.get(memory_id)["fact"] == "The user lives in Lisbon."
    assert [m["memory"]["id"] for m in api.retrieve(scope)["memories"]] == [memory_id]
    assert _search(api, scope) == []

    # When the index catches up
    held_index.release()

    # Then search finds it
    assert _search(api, scope) == [memory_id]


def test_a_generation_indexed_in_time_is_succeeded_without_index_pending(api, scope):
    operation = api.wait(api.generate(scope, messages=MESSAGES)["id"], timeout=60)
    assert (operation["status"], operation["index_pending"]) == ("SUCCEEDED", False)
