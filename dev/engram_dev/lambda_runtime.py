"""Runs the real Lambda handlers in-process, the way the Lambda service would call them.

``LambdaRuntime.invoke(logical_id, event)`` imports ``functions/<dir>/<module>.py`` (from the
template's ``CodeUri`` and ``Handler``) and calls the handler with a Lambda-like context.
``install_into_moto()`` answers the emulator's Lambda invocations with it (``engram_dev.patches``), so
Step Functions executions in the emulator run our handlers; an exception becomes a function error whose
``errorType`` is the exception's class name, exactly what the ASL's Retry/Catch match on.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engram_dev import patches
from engram_dev.project import functions, project_root

ACCOUNT_ID = "123456789012"


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


class FunctionError(Exception):
    """A handler raised: ``error_type`` is its class name, ``message`` its text."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class LambdaRuntime:
    """Loads each function's handler once (by logical id from ``template.yaml``) and invokes it."""

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[dict, Any], Any]] = {}
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}
        self.before_invoke: Callable[[str, dict], None] | None = None

    def handler(self, logical_id: str) -> Callable[[dict, Any], Any]:
        with self._lock:
            if logical_id not in self._handlers:
                props = functions()[logical_id]
                module_name, _, attr = props["Handler"].rpartition(".")
                path = project_root() / props["CodeUri"] / f"{module_name.replace('.', '/')}.py"
                spec = importlib.util.spec_from_file_location(f"engram_function_{logical_id}", path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                self._handlers[logical_id] = getattr(module, attr)
            return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: dict) -> Any:
        """Call the handler; raises ``FunctionError`` when it raises."""
        handler = self.handler(logical_id)
        patches.mark_cold_start_done()  # many functions share this process; none publishes metrics
        patches.per_thread_api_resolver_state()  # concurrent invocations in one process stay apart
        with self._lock:
            self.invocations[logical_id] = self.invocations.get(logical_id, 0) + 1
        timeout = int(functions()[logical_id].get("Timeout", 30))
        try:
            if self.before_invoke is not None:  # test hook: fault injection
                self.before_invoke(logical_id, event)
            return handler(event, LambdaContext(function_name=logical_id, timeout_seconds=timeout))
        except Exception as error:  # the Lambda service turns any exception into a function error
            raise FunctionError(type(error).__name__, str(error)) from error


def _to_json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, bytes | bytearray):
            return base64.b64encode(bytes(obj)).decode()
        return str(obj)

    return json.dumps(value, default=default)


def install_into_moto(runtime: LambdaRuntime, port: int) -> None:
    """Make the emulator on ``port`` run ``runtime``'s handlers for every Lambda invocation (its Step
    Functions executions' Tasks): the result as the payload, or a function error with the handler's
    ``errorType``, ``errorMessage`` and the end of its stack trace."""

    def invoke(function_name: str, body: bytes) -> tuple[bytes, bool]:
        logical_id = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        event = json.loads(body) if body else {}
        try:
            result = runtime.invoke(logical_id, event)
        except FunctionError as error:
            cause = error.__cause__
            trace = traceback.format_exception(cause) if cause else []
            payload = {"errorType": error.error_type, "errorMessage": error.message, "stackTrace": trace[-5:]}
            return _to_json(payload).encode(), True
        return _to_json(result).encode(), False

    patches.run_emulator_lambdas_in_process(port, invoke)
