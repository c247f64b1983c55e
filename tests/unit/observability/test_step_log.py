"""``step_log``: one structured log line per workflow step, with its outcome, counts and duration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from engram.errors import ConfigurationError, IndexNotReady, IndexUnavailable
from engram.observability import step_log

LogLines = Callable[[], list[dict[str, Any]]]
PERSONAL = "The user's sister Ana lives in Lisbon"


def test_a_step_that_ends_normally_logs_one_info_line(log_lines: LogLines) -> None:
    # Given a step that counts what it did
    # When it ends normally
    with step_log("extract", "t-1", "op-1") as record:
        record.add(facts=2, tokens_in=700)
        record.add(facts=1)
        record.counts["events"] = 12

    # Then exactly one INFO line carries the step's identity, outcome, counts and duration
    [line] = log_lines()
    assert line["level"] == "INFO"
    assert line["message"] == "workflow step"
    assert line["service"] == "engram"
    assert {k: line[k] for k in ("operation_id", "tenant_id", "step", "outcome")} == {
        "operation_id": "op-1",
        "tenant_id": "t-1",
        "step": "extract",
        "outcome": "ok",
    }
    assert line["counts"] == {"facts": 3, "tokens_in": 700, "events": 12}
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "error_type" not in line


def test_the_step_may_name_its_own_outcome(log_lines: LogLines) -> None:
    with step_log("consolidate", "t-1", "op-1") as record:
        record.outcome = "skipped"

    [line] = log_lines()
    assert (line["level"], line["outcome"], line["counts"]) == ("INFO", "skipped", {})


def test_the_duration_is_the_time_the_step_took(log_lines: LogLines, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a clock that advances 1.25 s between the start and the end of the step
    ticks = iter([100.0])
    monkeypatch.setattr("engram.observability.time.perf_counter", lambda: next(ticks, 101.25))

    with step_log("finalize", "t-1", "op-1"):
        pass

    assert log_lines()[0]["duration_ms"] == 1250.0


def test_a_retryable_error_is_logged_as_a_warning_with_its_type_and_re_raised(log_lines: LogLines) -> None:
    # Given a step failing with a transient error raised from a lower-level one, with personal text
    error = IndexUnavailable(f"OpenSearch answered 503 for {PERSONAL}")

    # When it leaves the step
    with pytest.raises(IndexUnavailable) as raised, step_log("load_source", "t-1", "op-9") as record:
        record.add(events=4)
        try:
            raise TimeoutError(PERSONAL)
        except TimeoutError as cause:
            raise error from cause

    # Then the very same exception propagates, and one WARNING line names its type, not its text
    assert raised.value is error
    [line] = log_lines()
    assert line["level"] == "WARNING"
    assert (line["step"], line["operation_id"], line["tenant_id"]) == ("load_source", "op-9", "t-1")
    assert line["outcome"] == line["error_type"] == "IndexUnavailable"
    assert line["cause_type"] == "TimeoutError"
    assert line["counts"] == {"events": 4}
    assert "duration_ms" in line
    assert "error_frames" not in line
    assert "Lisbon" not in str(line)


def test_the_read_your_writes_barrier_is_a_warning_too(log_lines: LogLines) -> None:
    with pytest.raises(IndexNotReady), step_log("finalize", "t-1", "op-1"):
        raise IndexNotReady()

    assert [(line["level"], line["outcome"]) for line in log_lines()] == [("WARNING", "IndexNotReady")]


@pytest.mark.parametrize("error", [ConfigurationError(PERSONAL), KeyError(PERSONAL), ValueError(PERSONAL)])
def test_any_other_error_is_logged_as_an_error_with_frames_but_no_message(
    log_lines: LogLines, error: Exception
) -> None:
    def failing_helper() -> None:
        raise error

    with pytest.raises(type(error)) as raised, step_log("consolidate", "t-2", "op-2"):
        failing_helper()

    assert raised.value is error
    [line] = log_lines()
    assert line["level"] == "ERROR"
    assert line["outcome"] == line["error_type"] == type(error).__name__
    assert "cause_type" not in line
    assert line["error_frames"][-1].startswith("test_step_log.py:")
    assert line["error_frames"][-1].endswith(" failing_helper")
    assert len(line["error_frames"]) <= 5
    # no message, no stack trace text: only the class name and file:line function frames
    assert "Lisbon" not in str(line)
    assert "exception" not in line and "stack_trace" not in line


def test_a_step_of_an_unknown_tenant_still_logs_without_the_field(log_lines: LogLines) -> None:
    with step_log("record_failure", None, "op-3"):
        pass

    [line] = log_lines()
    assert "tenant_id" not in line
    assert (line["operation_id"], line["outcome"]) == ("op-3", "ok")
