"""``engram local`` keeps its data in ``--data-dir``: what was written (memories, revisions, operations,
sessions, config, keys) is there after a restart, after a ``kill -9`` too (all but at most its last
fraction of a second), searchable again; ``--fresh`` starts empty.

Each stack runs as its own ``engram local`` process (a process holds one stack), on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from engram_dev.client import EngramClient
from engram_dev.emulator import free_port


@contextmanager
def engram_local(data_dir: Path, *options: str, kill: bool = False) -> Iterator[EngramClient]:
    """A running ``engram local`` on ``data_dir``; stopped with SIGTERM (or SIGKILL with ``kill``) after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "ENGRAM_", "MOTO_"))}
    env.update(ENGRAM_PROVIDER="offline", ENGRAM_DEVELOPMENT="true")
    process = subprocess.Popen(
        [sys.executable, "-m", "engram_dev.cli", "local", "--port", str(port), "--data-dir", str(data_dir), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        key = _api_key(process)
        yield EngramClient(f"http://127.0.0.1:{port}", key, timeout=60)
    finally:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=60)


def _api_key(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        found = re.search(r"API key: (\S+)", line)
        if found:
            return found.group(1)
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"engram local printed no API key (exit code {process.poll()})")


def _write_everything(api: EngramClient, scope: dict[str, str]) -> dict[str, Any]:
    """One of each kind of data; returns what to look for afterwards."""
    memory = api.create(scope, "The user keeps bees on the roof")
    status, patched = api.request(
        "PATCH", f"/v1/memories/{memory['id']}", {"fact": "The user keeps bees in the garden"}
    )
    assert status == 200, patched
    operation = api.generate(scope, messages=[{"role": "user", "content": "I live in Porto."}])
    operation = api.wait(operation["id"], timeout=120)
    assert operation["status"] == "SUCCEEDED", operation
    status, _ = api.request("POST", "/v1/sessions/s-1/events", {"events": [{"role": "user", "content": "hello"}]})
    assert status == 201
    status, config = api.request("PUT", "/v1/config", {"managed_topics": []})
    assert status == 200, config
    return {"memory": patched, "operation": operation, "config": config}


def _read_everything(api: EngramClient, scope: dict[str, str], written: dict[str, Any]) -> None:
    memory = written["memory"]
    assert api.get(memory["id"])["fact"] == "The user keeps bees in the garden"
    revisions = api._ok("GET", f"/v1/memories/{memory['id']}/revisions")["revisions"]
    assert [r["action"] for r in revisions] == ["UPDATED", "CREATED"]
    assert api.operation(written["operation"]["id"])["status"] == "SUCCEEDED"
    events = api._ok("GET", "/v1/sessions/s-1/events")["events"]
    assert len(events) == 1
    assert api._ok("GET", "/v1/config") == written["config"]
    # the index is derived from the table again: search finds the memory
    found = api.retrieve(scope, "bees garden", top_k=5)["memories"]
    assert memory["id"] in [m["memory"]["id"] for m in found]


@pytest.mark.parametrize("stop", ["sigterm", "kill -9"])
def test_data_survives_a_restart(tmp_path: Path, stop: str) -> None:
    # Given a local stack on a data directory, with one of each kind of data written
    scope = {"user_id": f"u-{uuid.uuid4().hex[:8]}"}
    with engram_local(tmp_path / "data", kill=stop == "kill -9") as api:
        written = _write_everything(api, scope)
        first_key = api.api_key
        if stop == "kill -9":
            time.sleep(1.0)  # at most the last fraction of a second before the kill may be lost
    # When a new stack starts on the same directory
    with engram_local(tmp_path / "data") as api:
        # Then the same key works, and everything is there
        assert api.api_key == first_key
        _read_everything(api, scope, written)


def test_fresh_starts_empty(tmp_path: Path) -> None:
    scope = {"user_id": "u-fresh"}
    with engram_local(tmp_path / "data") as api:
        memory = api.create(scope, "The user plays the cello")
    with engram_local(tmp_path / "data", "--fresh") as api:
        assert api.request("GET", f"/v1/memories/{memory['id']}")[0] == 404
        assert api.retrieve(scope, page_size=10)["memories"] == []


def test_a_second_stack_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    # Given a running stack on a data directory
    with engram_local(tmp_path / "data") as api:
        api.create({"user_id": "u-lock"}, "The user paints")
        # When another one starts on it (even with --fresh), then it refuses, and the first is untouched
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "ENGRAM_", "MOTO_"))}
        second = subprocess.run(
            [sys.executable, "-m", "engram_dev.cli", "local", "--port", str(free_port()), "--fresh"]
            + ["--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, "ENGRAM_PROVIDER": "offline", "ENGRAM_DEVELOPMENT": "true"},
        )
        assert second.returncode != 0
        assert "error:" in second.stderr and "in use by another running local stack" in second.stderr
        assert "Traceback" not in second.stderr
        assert api.retrieve({"user_id": "u-lock"}, page_size=10)["memories"]
