"""Tracing: ``traced``/``annotate`` and the lazy ``tracer`` — nothing when tracing is off, one annotated
subsegment per call when it is on, and the handler decorator with Powertools' behaviour."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from engram import observability
from engram.observability import LazyTracer, annotate, traced, tracing_enabled

from .conftest import FakeProvider


class ExplodingProvider:
    """A provider that fails the test if anything asks it for anything."""

    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Any:
        raise AssertionError("tracing is off, yet a subsegment was opened")

    def put_annotation(self, key: str, value: Any) -> None:
        raise AssertionError("tracing is off, yet an annotation was made")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"tracing is off, yet the provider was asked for {name!r}")


@traced("adapter.call", fixed="yes")
def adapter_call(items: list[str], *, label: str = "x") -> str:
    annotate(items=len(items), absent=None)
    return f"{label}:{len(items)}"


# --- when tracing is on (the Powertools rule) ---------------------------------------------------------

ENV_VALUES = {
    "POWERTOOLS_TRACE_DISABLED": [None, "true", "FALSE", "1", "0"],
    "LAMBDA_TASK_ROOT": [None, "/var/task"],
    "AWS_SAM_LOCAL": [None, "true"],
}


@pytest.mark.parametrize("values", list(itertools.product(*ENV_VALUES.values())))
def test_tracing_is_on_exactly_when_powertools_would_trace(
    values: tuple[str | None, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    for name, value in zip(ENV_VALUES, values, strict=True):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    assert tracing_enabled() is not bool(Tracer._is_tracer_disabled())


def test_the_decision_is_taken_on_first_use_not_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    lazy = LazyTracer("engram")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)

    assert lazy.enabled is True
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert lazy.enabled is True  # kept for the life of the process


def test_generators_and_coroutines_cannot_be_traced() -> None:
    def pages() -> Iterator[int]:
        yield 1

    async def later() -> None:
        return None

    for function in (pages, later):
        with pytest.raises(TypeError, match="needs a plain function"):
            traced("adapter.pages")(function)


# --- tracing off ------------------------------------------------------------------------------------


def test_off_traced_calls_run_unchanged_and_touch_no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    lazy = LazyTracer("engram", enabled=False, provider=ExplodingProvider())
    monkeypatch.setattr(observability, "tracer", lazy)

    assert adapter_call(["a", "b"], label="y") == "y:2"
    with lazy.span("direct", n=1):
        annotate(n=2)
    assert adapter_call.__name__ == "adapter_call"
    assert lazy._tracer is None  # no Powertools Tracer, so no X-Ray SDK


def test_off_errors_pass_through_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability, "tracer", LazyTracer("engram", enabled=False))
    error = ValueError("boom")

    @traced("adapter.fails")
    def fails() -> None:
        raise error

    with pytest.raises(ValueError) as raised:
        fails()
    assert raised.value is error


def test_off_the_handler_decorator_calls_the_handler_itself() -> None:
    lazy = LazyTracer("engram", enabled=False, provider=ExplodingProvider())

    @lazy.capture_lambda_handler(capture_response=False)
    def handler(event: dict, context: object) -> dict:
        return {"echo": event["n"]}

    assert handler({"n": 3}, None) == {"echo": 3}
    assert handler.__name__ == "handler"
    assert lazy._tracer is None


# --- tracing on ----------------------------------------------------------------------------------


def test_on_a_traced_call_runs_in_one_annotated_subsegment(tracing_on: FakeProvider) -> None:
    assert adapter_call(["a", "b", "c"]) == "x:3"

    [subsegment] = tracing_on.subsegments
    assert subsegment.name == "adapter.call"
    assert subsegment.annotations == {"fixed": "yes", "items": 3}  # None values are left out
    assert not subsegment.fault


def test_on_annotate_goes_to_the_innermost_subsegment(tracing_on: FakeProvider) -> None:
    @traced("outer")
    def outer() -> None:
        annotate(level="outer")
        adapter_call(["a"])
        annotate(after=True)

    outer()

    assert [s.name for s in tracing_on.subsegments] == ["outer", "adapter.call"]
    assert tracing_on.named("outer").annotations == {"level": "outer", "after": True}
    assert tracing_on.named("adapter.call").annotations == {"fixed": "yes", "items": 1}


def test_on_a_failing_call_records_the_error_type_not_its_message(tracing_on: FakeProvider) -> None:
    error = KeyError("The user's sister lives in Lisbon")

    @traced("adapter.fails", attempt=1)
    def fails() -> None:
        raise error

    with pytest.raises(KeyError) as raised:
        fails()

    assert raised.value is error
    subsegment = tracing_on.named("adapter.fails")
    assert subsegment.annotations == {"attempt": 1, "error_type": "KeyError"}
    assert subsegment.fault
    assert subsegment.exceptions == []  # the provider never saw the exception (nor its message)


def test_on_without_an_open_segment_the_call_runs_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a provider that, like the X-Ray recorder without a segment, opens no subsegment
    class NoSegmentProvider(FakeProvider):
        @contextlib.contextmanager
        def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[None]:
            yield None

    provider = NoSegmentProvider()
    monkeypatch.setattr(observability, "tracer", LazyTracer("engram", enabled=True, provider=provider))
    error = RuntimeError("boom")

    @traced("adapter.fails")
    def fails() -> None:
        raise error

    # Then calls still run and errors still propagate
    assert adapter_call(["a"]) == "x:1"
    with pytest.raises(RuntimeError) as raised:
        fails()
    assert raised.value is error
    assert provider.subsegments == []


@pytest.fixture
def fresh_powertools_tracer() -> Iterator[None]:
    """Powertools keeps Tracer settings in class state; start and end the test without any."""
    Tracer._reset_config()
    yield
    Tracer._reset_config()


def test_on_the_handler_runs_in_the_powertools_handler_subsegment(fresh_powertools_tracer: None) -> None:
    provider = FakeProvider()
    lazy = LazyTracer("engram", enabled=True, provider=provider)

    @lazy.capture_lambda_handler(capture_response=False)
    def handler(event: dict, context: object) -> dict:
        return {"fact": "The user lives in Lisbon."}

    assert lazy._tracer is None  # decorating builds nothing ...
    assert handler({}, None) == {"fact": "The user lives in Lisbon."}
    assert lazy._tracer is not None  # ... the first invocation does
    assert provider.patched == ["all"]  # Powertools patched the supported libraries, as before

    subsegment = provider.named("## handler")
    assert set(subsegment.annotations) == {"ColdStart", "Service"}
    assert subsegment.annotations["Service"] == "engram"
    assert subsegment.metadata == {}  # capture_response=False: the answer is not in the trace

    handler({}, None)
    assert len(provider.subsegments) == 2 and provider.patched == ["all"]


def test_on_the_handler_decorator_also_works_without_arguments(fresh_powertools_tracer: None) -> None:
    provider = FakeProvider()
    lazy = LazyTracer("engram", enabled=True, provider=provider)

    @lazy.capture_lambda_handler
    def handler(event: dict, context: object) -> str:
        return "done"

    assert handler({}, None) == "done"
    assert provider.named("## handler").metadata == {"engram/handler response": "done"}


# --- with the real X-Ray SDK (in memory: segments go to a list, never to a socket) ----------------


class ListEmitter:
    """An X-Ray emitter that keeps the serialized entities instead of sending them to the daemon."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str) -> None:
        raise AssertionError("no daemon address should be configured")


def test_on_with_the_x_ray_recorder_the_segment_holds_named_annotated_subsegments(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import AWSXRayRecorder
    from aws_xray_sdk.core.context import Context

    # Given an X-Ray recorder of its own (SDK enabled), whose emitter keeps what it would send
    monkeypatch.delenv("AWS_XRAY_SDK_ENABLED", raising=False)
    request.addfinalizer(functools.partial(global_sdk_config.set_sdk_enabled, global_sdk_config.sdk_enabled()))
    global_sdk_config.set_sdk_enabled(True)
    emitter = ListEmitter()
    recorder = AWSXRayRecorder()
    recorder.configure(emitter=emitter, context=Context(), sampling=False, context_missing="LOG_ERROR")
    monkeypatch.setattr(observability, "tracer", LazyTracer("engram", enabled=True, provider=recorder))

    @traced("adapter.fails")
    def fails() -> None:
        raise LookupError("The user's sister lives in Lisbon")

    # When a traced call succeeds and another fails inside a segment
    recorder.begin_segment("engram-test", sampling=1)
    adapter_call(["a", "b"])
    with pytest.raises(LookupError):
        fails()
    recorder.end_segment()

    # Then the segment sent holds both subsegments, annotated, the failure by type only
    [segment] = emitter.sent
    subsegments = {s["name"]: s for s in segment["subsegments"]}
    assert subsegments["adapter.call"]["annotations"] == {"fixed": "yes", "items": 2}
    assert "fault" not in subsegments["adapter.call"]
    assert subsegments["adapter.fails"]["annotations"] == {"error_type": "LookupError"}
    assert subsegments["adapter.fails"]["fault"] is True
    assert "Lisbon" not in json.dumps(segment)
