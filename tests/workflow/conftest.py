"""Workflow tests: the real ASL (statemachine/generate.asl.json) executed by the emulator, with the real
handlers run in-process. Faults are injected through the local Lambda runtime's ``before_invoke`` hook."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def inject(local_stack) -> Iterator[Callable[[Callable[[str, dict], None]], None]]:
    """``inject(hook)``: call ``hook(function_logical_id, event)`` before every handler runs; an exception
    it raises becomes that function's error (its class name is the ASL error name). Removed after the test."""

    def install(hook: Callable[[str, dict], None]) -> None:
        local_stack.runtime.before_invoke = hook

    yield install
    local_stack.runtime.before_invoke = None
