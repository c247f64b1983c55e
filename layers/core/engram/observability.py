"""The one Logger, Tracer and Metrics of the process (Powertools, configured by ``POWERTOOLS_*``
variables), and the two helpers every module uses with them:

- ``traced(name, **annotations)``: a decorator that runs an adapter call in an X-Ray subsegment
  ``name`` (e.g. ``opensearch.search``) with annotations; ``annotate(**values)`` adds annotations
  (e.g. result counts) to the innermost open subsegment from inside the call.
- ``step_log(step, tenant_id, operation_id)``: a context manager around one workflow step that logs
  one structured line when the step ends (outcome, counts, duration).

Tracing costs nothing when it is off. ``tracer`` is a ``LazyTracer``: it decides whether tracing is
on (``tracing_enabled``, the rule Powertools' ``Tracer`` applies) on first use, not at import, and
builds the Powertools ``Tracer`` — which imports ``aws_xray_sdk`` and patches ``botocore``,
``http.client`` and the other libraries the SDK supports (together about 1.4 times a bare
``import boto3``) — only when a traced handler or call first runs with tracing on: the cost moves from
the import to the first invocation. With tracing off, ``aws_xray_sdk`` is never imported,
``capture_lambda_handler`` calls the handler directly and ``traced`` adds less than a microsecond per
call.

Traces hold no personal data: annotations carry counts, index names, model ids, modes and generated
ids only — never conversation text, facts, queries or tenant ids; a failing traced call records the
exception's class name (annotation ``error_type``) and a fault flag, not its message.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared.functions import strtobool

from engram.errors import RetryableError

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.tracing.base import BaseProvider

P = ParamSpec("P")
R = TypeVar("R")

#: What an X-Ray annotation may hold (other types, and ``None``, are not recorded).
AnnotationValue = str | int | float | bool

logger = Logger(service="engram")
metrics = Metrics(namespace="Engram", service="engram")

#: What looks like a credential in an error text: OpenAI-style keys (also masked ones, ``sk-abc***xyz``),
#: bearer tokens, and ``api_key=...`` / ``"api_key": "..."`` pairs.
_CREDENTIALS = (
    (re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_*\-]+(?:\.[A-Za-z0-9_*\-]+)*"), "[redacted key]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=*\-]+"), "Bearer [redacted]"),
    (re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"), r"\1[redacted]"),
)
#: Characters of an error text kept in a log line.
MAX_LOGGED_ERROR_CHARS = 1000


def redact(text: str) -> str:
    """``text`` (an error message meant for operators) without anything that looks like a credential, cut
    to ``MAX_LOGGED_ERROR_CHARS``: safe to log. Resource names (ARNs) are kept; they are for operators."""
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= MAX_LOGGED_ERROR_CHARS else text[: MAX_LOGGED_ERROR_CHARS - 1] + "…"


# --- tracing ------------------------------------------------------------------------------------


class Subsegment(Protocol):
    """What ``LazyTracer.span`` records on a subsegment (an X-Ray SDK ``Subsegment`` has it)."""

    def put_annotation(self, key: str, value: AnnotationValue) -> None: ...

    def add_fault_flag(self) -> None: ...


class TracingProvider(Protocol):
    """What Engram needs of a tracing provider: the X-Ray SDK's recorder has it. (Powertools types its
    provider as ``BaseProvider``, whose subsegments have no fault flag.) ``in_subsegment`` yields
    ``None`` when there is no segment to attach to."""

    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> AbstractContextManager[Subsegment | None]: ...

    def put_annotation(self, key: str, value: AnnotationValue) -> None: ...


def tracing_enabled() -> bool:
    """Whether X-Ray tracing is on, by the rule Powertools' ``Tracer`` applies: off when
    ``POWERTOOLS_TRACE_DISABLED`` is true (``1``/``true``/``yes``/``on``, any case; an unknown word
    raises ``ValueError``, as in Powertools), off outside Lambda (``LAMBDA_TASK_ROOT`` unset) and under
    ``sam local`` (``AWS_SAM_LOCAL``) or ``chalice local`` (``AWS_CHALICE_CLI_MODE``); on otherwise."""
    if strtobool(os.getenv("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    if not os.getenv("LAMBDA_TASK_ROOT"):
        return False
    return not (os.getenv("AWS_SAM_LOCAL") or os.getenv("AWS_CHALICE_CLI_MODE"))


class LazyTracer:
    """The process's tracer: Powertools' ``Tracer``, built on first traced use, never when tracing is off.

    ``service``: the ``Service`` annotation of handler subsegments. ``enabled``: force tracing on or
    off; ``None`` (default) decides by ``tracing_enabled()`` on first use and keeps the answer for the
    life of the process. ``provider``: the tracing provider, also handed to the Powertools ``Tracer``
    (default: the X-Ray SDK's recorder, imported when first needed); tests pass a fake.
    """

    def __init__(self, service: str, *, enabled: bool | None = None, provider: TracingProvider | None = None) -> None:
        self.service = service
        self._enabled = enabled
        self._provider = provider
        self._tracer: Tracer | None = None

    @property
    def enabled(self) -> bool:
        """Whether tracing is on (decided on first access, see the class docstring)."""
        if self._enabled is None:
            self._enabled = tracing_enabled()
        return self._enabled

    @property
    def powertools(self) -> Tracer:
        """The Powertools ``Tracer``, built on first access: imports the X-Ray SDK (unless a provider
        was given) and, with tracing on, patches the libraries it supports. Accessing it at import time
        of a handler module moves that cost back into the function's init phase."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            # A given provider must also have what Powertools calls (patch_all, in_subsegment, ...).
            provider = cast("BaseProvider | None", self._provider)
            self._tracer = Tracer(service=self.service, disabled=not self.enabled, provider=provider)
        return self._tracer

    @property
    def provider(self) -> TracingProvider:
        """The tracing provider subsegments are opened with (the X-Ray recorder unless one was given)."""
        if self._provider is not None:
            return self._provider
        # Powertools types the X-Ray recorder as its BaseProvider; the recorder also has TracingProvider.
        return cast(TracingProvider, self.powertools.provider)

    def capture_lambda_handler(
        self,
        lambda_handler: Callable[..., Any] | None = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Callable[..., Any]:
        """Powertools' ``Tracer.capture_lambda_handler``, same arguments, used the same way
        (``@tracer.capture_lambda_handler(capture_response=False)``): with tracing on, the handler
        runs in subsegment ``## <handler name>`` annotated ``ColdStart`` and ``Service``; with it off,
        the handler is called directly. The choice (and the Powertools ``Tracer``) is made on the
        first invocation, not when the module is imported."""
        if lambda_handler is None:
            return functools.partial(
                self.capture_lambda_handler, capture_response=capture_response, capture_error=capture_error
            )
        handler = lambda_handler
        chosen: Callable[..., Any] | None = None

        @functools.wraps(handler)
        def decorate(event: Any, context: Any, **kwargs: Any) -> Any:
            nonlocal chosen
            if chosen is None:
                chosen = (
                    self.powertools.capture_lambda_handler(
                        handler, capture_response=capture_response, capture_error=capture_error
                    )
                    if self.enabled
                    else handler
                )
            return chosen(event, context, **kwargs)

        return decorate

    @contextlib.contextmanager
    def span(self, name: str, **annotations: AnnotationValue | None) -> Iterator[None]:
        """Run the ``with`` body in subsegment ``name`` carrying ``annotations`` (``None`` values are
        left out); nothing at all when tracing is off. An exception leaving the body is re-raised
        unchanged after the subsegment is marked: fault flag, annotation ``error_type`` = the
        exception's class name (its message, which may hold personal data, is not recorded).

        Without an open segment (e.g. tracing forced on outside Lambda) the X-Ray SDK applies its
        context-missing strategy (``AWS_XRAY_CONTEXT_MISSING``, default: log an error) and the body runs
        untraced."""
        if not self.enabled:
            yield
            return
        failure: Exception | None = None
        with self.provider.in_subsegment(name=name) as subsegment:
            if subsegment is not None:
                for key, value in annotations.items():
                    if value is not None:
                        subsegment.put_annotation(key=key, value=value)
            try:
                yield
            except Exception as error:  # recorded here, re-raised below, outside the subsegment
                failure = error
                if subsegment is not None:
                    subsegment.put_annotation(key="error_type", value=type(error).__name__)
                    subsegment.add_fault_flag()
        if failure is not None:
            raise failure

    def annotate(self, **values: AnnotationValue | None) -> None:
        """Annotate the innermost open subsegment (``None`` values are left out); nothing when tracing
        is off. Keys: letters, digits and ``_`` (X-Ray drops others)."""
        if not self.enabled:
            return
        for key, value in values.items():
            if value is not None:
                self.provider.put_annotation(key=key, value=value)


tracer = LazyTracer(service="engram")


def traced(name: str, **annotations: AnnotationValue | None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an adapter call so that, with tracing on, it runs in subsegment ``name`` (convention:
    ``<adapter>.<operation>``, e.g. ``opensearch.search``) with the fixed ``annotations``; see
    ``LazyTracer.span``. Inside the call, ``annotate(...)`` adds what is only known there (index name,
    counts). With tracing off the decorated function costs one attribute check more per call.

    Annotations must hold no personal data (no text, facts, queries, tenant ids); X-Ray indexes at most
    50 annotations per trace, so keep to a few per call. Only for plain functions: decorating a
    generator or coroutine function raises ``TypeError`` (its subsegment would end before the work it
    stands for); trace the call that fetches each page instead.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if inspect.isgeneratorfunction(function) or inspect.iscoroutinefunction(function):
            raise TypeError(f"traced({name!r}) needs a plain function; {function.__qualname__} is not one")

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            if not tracer.enabled:
                return function(*args, **kwargs)
            with tracer.span(name, **annotations):
                return function(*args, **kwargs)

        return call

    return decorate


def annotate(**values: AnnotationValue | None) -> None:
    """Annotate the innermost open subsegment (inside a ``traced`` call: that call's); ``None`` values
    are left out; nothing when tracing is off. Same rules as ``traced``'s annotations."""
    tracer.annotate(**values)


# --- workflow step log --------------------------------------------------------------------------

#: Frames (innermost last) of an unexpected error's traceback put in its step log line.
ERROR_FRAMES = 5


@dataclass
class StepRecord:
    """What a workflow step reports in its log line, filled in by the step while it runs.

    ``counts``: name → count (e.g. ``{"facts": 3, "tokens_in": 812}``), logged as they are.
    ``outcome``: ``"ok"`` unless the step sets another word (e.g. ``"skipped"``); an exception
    replaces it with the exception's class name.
    """

    counts: dict[str, int] = field(default_factory=dict)
    outcome: str = "ok"

    def add(self, **counts: int) -> None:
        """Add to counts (a missing name starts at 0): ``record.add(facts=2, tokens_in=700)``."""
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value


@contextlib.contextmanager
def step_log(step: str, tenant_id: str | None, operation_id: str | None) -> Iterator[StepRecord]:
    """Log one structured line when the workflow step ``step`` (e.g. ``extract``) of operation
    ``operation_id`` of ``tenant_id`` ends, and re-raise whatever it raised.

    Yields a ``StepRecord`` the step fills in. The line (message ``workflow step``) carries
    ``operation_id``, ``tenant_id``, ``step``, ``outcome`` (``record.outcome``, ``"ok"`` by default,
    or the class name of the exception that ended the step), ``counts`` (``record.counts``) and
    ``duration_ms`` (float, wall time of the body, 0.1 ms resolution); a ``None`` id is left out (the
    Powertools formatter drops null fields).

    Levels: INFO when the step ends normally; WARNING for a ``RetryableError`` (the state machine
    retries it), with ``error_type`` and, if the error was raised from another, ``cause_type``; ERROR
    for any other exception, with ``error_type``, ``cause_type`` and ``error_frames`` (its last
    ``ERROR_FRAMES`` traceback frames as ``file.py:line function``). Exception messages and stack
    traces are never logged: they may hold personal data.
    """
    record = StepRecord()
    started = time.perf_counter()
    fields: dict[str, Any] = {"operation_id": operation_id, "tenant_id": tenant_id, "step": step}
    try:
        yield record
    except BaseException as error:
        fields["outcome"] = fields["error_type"] = type(error).__name__
        if error.__cause__ is not None:
            fields["cause_type"] = type(error.__cause__).__name__
        if isinstance(error, RetryableError):
            logger.warning("workflow step", extra=_step_fields(fields, record, started))
        else:
            fields["error_frames"] = _frames(error)
            logger.error("workflow step", extra=_step_fields(fields, record, started))
        raise
    fields["outcome"] = record.outcome
    logger.info("workflow step", extra=_step_fields(fields, record, started))


def _step_fields(fields: dict[str, Any], record: StepRecord, started: float) -> dict[str, Any]:
    return {**fields, "counts": dict(record.counts), "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


def _frames(error: BaseException) -> list[str]:
    """The last ``ERROR_FRAMES`` frames of ``error``'s traceback, innermost last, without source text."""
    frames = traceback.extract_tb(error.__traceback__)[-ERROR_FRAMES:]
    return [f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" for frame in frames]
