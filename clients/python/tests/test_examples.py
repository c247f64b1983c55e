"""Each script of ``examples/`` runs against the local stack (as a subprocess with ENGRAM_URL and
ENGRAM_API_KEY pointing at it) and prints what it should."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_every_example_has_a_test() -> None:
    tested = {"quickstart.py", "async_quickstart.py", "memories_create.py", "mem0_memory.py", "memory_api.py"}
    tested |= {"conversation_memory.py", "persistent_memory.py", "agent_tools.py"}
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_quickstart(example_runner: Any) -> None:
    out = example_runner("quickstart.py")
    assert "created: The user plays the violin." in out and "CREATED: The user lives in Lisbon." in out
    assert "1.000  The user lives in Lisbon." in out  # the best hit of the search
    assert "deleted: 3" in out


def test_async_quickstart(example_runner: Any) -> None:
    out = example_runner("async_quickstart.py")
    assert "generated: ['The user works as a nurse.']" in out and "best: The user works as a nurse." in out


def test_memories_create(example_runner: Any) -> None:
    out = example_runner("memories_create.py")
    assert "fact: The user lives in Porto." in out and "fact: The user's favorite food is bacalhau." in out


def test_mem0_memory(example_runner: Any) -> None:
    out = example_runner("mem0_memory.py")
    assert "ADD The user lives in Faro." in out and "search: The user lives in Faro." in out
    assert "history: UPDATE The user lives in Faro. -> The user lives in Braga." in out
    assert "'deleted': 2" in out


def test_memory_api(example_runner: Any) -> None:
    out = example_runner("memory_api.py")
    assert "count: 3 recent: 2" in out and "ops: 2 release: 1" in out
    expected = "{'type': 'process', 'timestamp': 1, 'tags': ['ops', 'release'], 'reviewed': True}"
    assert f"search: Deploys happen on Tuesdays. {expected}" in out
    assert "deleted: 3" in out


def test_conversation_memory(example_runner: Any) -> None:
    out = example_runner("conversation_memory.py")
    assert "user said: ['My order has not arrived.']" in out
    assert "last two: [{'role': 'user', 'content': 'My order has not arrived.'}" in out
    assert "restored: 3 messages" in out


def test_persistent_memory(example_runner: Any) -> None:
    out = example_runner("persistent_memory.py")
    assert "context:\n- The user lives in Coimbra." in out
    assert 'recalled: ["The user\'s cat is called Miso."]' in out


def test_agent_tools(example_runner: Any, chat_server: Any) -> None:
    pytest.importorskip("openai")
    out = example_runner("agent_tools.py", {"OPENAI_BASE_URL": chat_server.base_url, "OPENAI_API_KEY": "test"})
    assert "tool call: save_to_memory" in out and "tool call: recall_from_memory" in out
    assert "assistant: I remember: My sister lives in Valencia." in out
