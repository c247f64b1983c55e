"""Fixtures for the observability tests: a recording tracing provider, tracing switched on with it, and
the Powertools logger's JSON output captured line by line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from engram import observability
from engram.observability import LazyTracer


@dataclass
class FakeSubsegment:
    """What the code under test recorded on one subsegment."""

    name: str
    annotations: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    exceptions: list[BaseException] = field(default_factory=list)
    fault: bool = False

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.metadata[f"{namespace}/{key}"] = value

    def add_fault_flag(self) -> None:
        self.fault = True

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.exceptions.append(exception)
        self.fault = True


class FakeProvider:
    """A tracing provider that behaves like the X-Ray recorder for what Engram uses (subsegments as
    context managers that record an escaping exception, annotations on the innermost open subsegment,
    patching) and records it all; it never sends anything."""

    def __init__(self) -> None:
        self.subsegments: list[FakeSubsegment] = []
        self.patched: list[Any] = []
        self._open: list[FakeSubsegment] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[FakeSubsegment]:
        subsegment = FakeSubsegment(name or "")
        self.subsegments.append(subsegment)
        self._open.append(subsegment)
        try:
            yield subsegment
        except Exception as error:
            subsegment.add_exception(error, [])
            raise
        finally:
            self._open.pop()

    def put_annotation(self, key: str, value: Any) -> None:
        if self._open:  # like the recorder without a trace entity: dropped
            self._open[-1].put_annotation(key, value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        if self._open:
            self._open[-1].put_metadata(key, value, namespace)

    def patch(self, modules: Any) -> None:
        self.patched.append(tuple(modules))

    def patch_all(self) -> None:
        self.patched.append("all")

    def named(self, name: str) -> FakeSubsegment:
        """The one subsegment called ``name``."""
        found = [s for s in self.subsegments if s.name == name]
        assert len(found) == 1, [s.name for s in self.subsegments]
        return found[0]


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def tracing_on(provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """Tracing switched on for ``traced``/``annotate`` (the process tracer replaced), recording into
    the returned provider."""
    monkeypatch.setattr(observability, "tracer", LazyTracer("engram", enabled=True, provider=provider))
    return provider


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the Powertools logger writes (to stdout in Lambda), at INFO and above, as dicts."""
    handler = observability.logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous_stream = handler.setStream(buffer)
    previous_level = observability.logger.log_level
    observability.logger.setLevel("INFO")
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        if previous_stream is not None:
            handler.setStream(previous_stream)
        observability.logger.setLevel(previous_level)
