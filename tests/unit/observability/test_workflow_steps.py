"""The five GenerateMemories Task handlers (``functions/*/app.py``), run in-process on the in-memory fakes:
each returns ``StepOutput`` (the ids the next state reads, and its count), logs one structured line with
its counts, and lets its typed errors out unchanged for the state machine's Retry and Catch."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from engram import wiring
from engram.errors import IndexNotReady, LLMUnavailable, NotFound
from engram.logic.generation import ConsolidationConfig, start_generation
from engram.models.api import GenerateRequest
from engram.models.operation import OperationStatus
from engram_dev.project import project_root

from tests.fakes import CountingEmbedder, FakeIndex, FakeStores, FixedClock, ScriptedLLM, connect_stream

LogLines = Callable[[], list[dict[str, Any]]]
TENANT = "tenant-a"
STEPS = ("load_source", "extract", "consolidate", "finalize", "record_failure")


@dataclass
class LambdaContext:
    """What Powertools reads of the Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:step"
    aws_request_id: str = "request-1"


def _handler_module(step: str) -> ModuleType:
    path = project_root() / "functions" / step / "app.py"
    spec = importlib.util.spec_from_file_location(f"step_handler_{step}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HANDLERS = {step: _handler_module(step).handler for step in STEPS}


def run(step: str, event: dict[str, Any]) -> Any:
    """Invoke the ``step`` handler as Lambda would."""
    return HANDLERS[step](event, LambdaContext(function_name=step))


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The collaborators ``wiring.dependencies()`` gives the handlers during the test: the fakes."""
    stores, index = FakeStores(), FakeIndex()
    connect_stream(stores.memories, index)
    fakes = SimpleNamespace(
        **{name: getattr(stores, name) for name in ("operations", "memories", "sessions", "leases", "configs")},
        index=index,
        embedder=CountingEmbedder(),
        llm=ScriptedLLM(),
        clock=FixedClock(),
        consolidation=ConsolidationConfig(),
    )
    monkeypatch.setattr(wiring, "dependencies", lambda: fakes)
    return fakes


class NoWorkflow:
    def start(self, tenant_id: str, operation_id: str) -> None:
        return None


def started(deps: SimpleNamespace, turns: int) -> dict[str, Any]:
    """A started generation of ``turns`` user messages; returns the state machine's input for it."""
    messages = [{"role": "user", "content": f"turn {i}"} for i in range(turns)]
    request = GenerateRequest.model_validate({"scope": {"user_id": "u-1"}, "messages": messages})
    operation = start_generation(deps.operations, NoWorkflow(), deps.clock, TENANT, request)
    return {"tenant_id": TENANT, "operation_id": operation.id}


def test_every_step_returns_its_ids_and_count_and_logs_one_line_with_its_counts(
    deps: SimpleNamespace, log_lines: LogLines
) -> None:
    # Given a started generation of three turns, from which the model extracts two facts
    event = started(deps, turns=3)
    facts = ["The user lives in Lisbon.", "The user likes jazz."]
    deps.llm.queue_extract([{"fact": f, "topics": ["USER_PERSONAL_INFO"], "event_ids": ["0"]} for f in facts])

    # When the four work steps run in order, each on the previous one's output (the ASL's $.Payload)
    outputs = []
    for step in ("load_source", "extract", "consolidate", "finalize"):
        outputs.append(run(step, outputs[-1] if outputs else event))

    # Then each returned the ids and what it produced, and the operation succeeded
    assert outputs == [{**event, "count": n} for n in (3, 2, 2, 2)]
    assert deps.operations.get(TENANT, event["operation_id"]).status is OperationStatus.SUCCEEDED
    # ... and each logged exactly one line: its step, the operation, outcome and counts
    lines = log_lines()
    assert [(line["step"], line["outcome"], line["counts"]) for line in lines] == [
        ("load_source", "ok", {"events": 3}),
        ("extract", "ok", {"candidates": 2}),
        ("consolidate", "ok", {"created": 2, "updated": 0, "deleted": 0}),
        ("finalize", "ok", {"memories": 2}),
    ]
    for line in lines:
        assert (line["level"], line["message"], line["tenant_id"]) == ("INFO", "workflow step", TENANT)
        assert line["operation_id"] == event["operation_id"]
        assert isinstance(line["duration_ms"], float)
    # ... without a word of the conversation
    assert not any(fact in json.dumps(lines) for fact in facts)


def test_a_retried_step_error_leaves_the_handler_as_it_is_and_is_logged_as_a_warning(
    deps: SimpleNamespace, log_lines: LogLines
) -> None:
    # Given a consolidated generation whose memory the index has not caught up with
    event = started(deps, turns=1)
    deps.llm.queue_extract([{"fact": "The user likes jazz.", "topics": ["USER_PERSONAL_INFO"], "event_ids": []}])
    deps.index.lag = True
    for step in ("load_source", "extract", "consolidate"):
        run(step, event)

    # When Finalize runs, Then it raises the error class the ASL retries
    with pytest.raises(IndexNotReady):
        run("finalize", event)

    # ... and its one line says so, at WARNING
    line = log_lines()[-1]
    assert (line["step"], line["level"], line["outcome"], line["error_type"]) == (
        "finalize",
        "WARNING",
        "IndexNotReady",
        "IndexNotReady",
    )


def test_a_step_of_an_unknown_operation_fails_with_its_typed_error_logged_as_an_error(
    deps: SimpleNamespace, log_lines: LogLines
) -> None:
    # Given no such operation
    # When LoadSource runs for it, Then the typed error leaves the handler (the ASL catches it)
    with pytest.raises(NotFound):
        run("load_source", {"tenant_id": TENANT, "operation_id": "missing"})

    # ... and is logged once at ERROR, with its type
    [line] = log_lines()
    assert (line["step"], line["level"], line["outcome"], line["operation_id"]) == (
        "load_source",
        "ERROR",
        "NotFound",
        "missing",
    )


def test_record_failure_marks_the_operation_failed_and_returns_the_ids(
    deps: SimpleNamespace, log_lines: LogLines
) -> None:
    # Given a started generation and the error the Catch caught
    event = started(deps, turns=1)
    cause = json.dumps({"errorType": "LLMUnavailable", "errorMessage": "provider returned 503"})

    # When RecordFailure runs
    output = run("record_failure", {**event, "error": {"Error": "LLMUnavailable", "Cause": cause}})

    # Then the operation is FAILED with the error's code and generic text, the output carries the ids, and
    # the caught error's detail is logged for the operator beside the step's line
    operation = deps.operations.get(TENANT, event["operation_id"])
    assert operation.status is OperationStatus.FAILED
    assert (operation.error.code, operation.error.message) == ("LLMUnavailable", LLMUnavailable.public_text)
    assert output == {**event, "count": None}
    detail, line = log_lines()
    assert (detail["level"], detail["error_code"], detail["error"]) == (
        "WARNING",
        "LLMUnavailable",
        "provider returned 503",
    )
    assert (detail["status"], detail["operation_id"]) == ("FAILED", event["operation_id"])
    assert (line["step"], line["level"], line["outcome"], line["counts"]) == ("record_failure", "INFO", "ok", {})
