"""Fixtures: the Engram local stack in a subprocess (one per session), clients on it, and a scripted
OpenAI-compatible chat server. Everything listens on 127.0.0.1; nothing touches the network.

The stack is started with the project's ``engram`` console script (next to ``sys.executable``, else on
PATH), offline: the child's environment has no OPENAI_* variable, so it uses the deterministic
rule-based extractor and hashing embedder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from engram_client import Engram, RetryPolicy

T = TypeVar("T")
STARTUP_TIMEOUT = 90.0  # seconds for `engram local` to answer
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class Stack:
    url: str
    api_key: str
    log: Path

    def env(self) -> dict[str, str]:
        """An environment for a child process that talks to this stack (and to nothing else)."""
        env = _clean_env()
        env.update(ENGRAM_URL=self.url, ENGRAM_API_KEY=self.api_key)
        return env


def _clean_env() -> dict[str, str]:
    """This process's environment without OpenAI, Engram and AWS endpoint settings."""
    dropped = ("OPENAI_", "ENGRAM_", "AWS_ENDPOINT_URL")
    return {key: value for key, value in os.environ.items() if not key.startswith(dropped)}


def _engram_command() -> str:
    """The ``engram`` console script beside this Python, else on PATH. ``ENGRAM_CLIENT_TEST_COMMAND``
    names another one (e.g. a build of another checkout) to test the client against."""
    override = os.environ.get("ENGRAM_CLIENT_TEST_COMMAND")
    if override:
        return override
    beside = Path(sys.executable).parent / "engram"
    found = str(beside) if beside.exists() else shutil.which("engram")
    if not found:
        raise RuntimeError("the `engram` console script is not installed: pip install -e . in the Engram repository")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(process: subprocess.Popen[bytes], url: str, api_key: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"engram local exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"{url}/v1/config", headers={"Authorization": f"Bearer {api_key}"}, timeout=2)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"engram local did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the stack keeps nothing worth a clean stop: its data is in memory), SIGKILL after 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """`engram local --port <free port>` with a fixed key, run in a temporary folder (its data dir).

    The folder is our own ``mkdtemp`` rather than pytest's ``tmp_path``: another pytest run on the
    machine may prune pytest's numbered temporary folders while this session still uses its own."""
    workdir = Path(tempfile.mkdtemp(prefix="engram-client-tests-"))
    port, api_key = free_port(), "egm_test_" + secrets.token_hex(16)
    env = _clean_env()
    env["ENGRAM_API_KEY"] = api_key
    log = workdir / "engram-local.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_engram_command(), "local", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, api_key, log)
        yield Stack(url=url, api_key=api_key, log=log)
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[Engram]:
    with Engram(stack.url, stack.api_key, retry=FAST_RETRY) as engram:
        yield engram


@pytest.fixture
def scope() -> dict[str, str]:
    """A fresh scope per test: tests share one stack and never see each other's memories."""
    return {"user_id": f"u-{uuid.uuid4().hex[:12]}"}


def _eventually(check: Callable[[], T], timeout: float = 15.0) -> T:
    """``check()``'s result once it stops failing an assertion (re-run every 0.1 s up to ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """Search reads the index, which follows the table through the stream: a memory created directly
    is searchable a moment later (list reads the table and sees it at once)."""
    return _eventually


# --- a scripted OpenAI-compatible chat server --------------------------------------------------


def scripted_reply(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message for a conversation: save what the user said, then recall it, then answer.

    1. last message from the user → a ``save_to_memory`` call with the user's text;
    2. after the save result → a ``recall_from_memory`` call with the user's last word as keyword;
    3. after the recall result → a final answer quoting what was recalled.
    """
    tool_results = [m for m in messages if m.get("role") == "tool"]
    user_text = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
    if not tool_results:
        arguments = {"thinking": "the user shared a durable fact", "content": [user_text]}
        return _tool_call("call_save", "save_to_memory", arguments)
    if len(tool_results) == 1:
        keyword = user_text.rstrip(".").split()[-1]
        return _tool_call("call_recall", "recall_from_memory", {"keywords": [keyword], "limit": 3})
    recalled = json.loads(tool_results[-1]["content"])
    facts = [memory["content"] for memory in recalled.get("memories", [])]
    return {"role": "assistant", "content": "I remember: " + "; ".join(facts)}


def _tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class _ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        assert isinstance(self.server, _ChatHTTPServer)
        self.server.requests.append(request)
        body = json.dumps(_completion(scripted_reply(request["messages"]))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ChatHTTPServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.requests: list[dict[str, Any]] = []


@dataclass
class ChatServer:
    base_url: str
    requests: list[dict[str, Any]]


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A loopback OpenAI-compatible ``POST /v1/chat/completions`` following ``scripted_reply``."""
    server = _ChatHTTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ChatServer(f"http://127.0.0.1:{server.server_address[1]}/v1", server.requests)
    finally:
        server.shutdown()
        server.server_close()


def run_example(name: str, stack: Stack, extra_env: dict[str, str] | None = None) -> str:
    """Run ``examples/<name>`` with ENGRAM_URL / ENGRAM_API_KEY of the stack; return its stdout."""
    env = {**stack.env(), **(extra_env or {})}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def example_runner(stack: Stack) -> Any:
    return lambda name, extra_env=None: run_example(name, stack, extra_env)
