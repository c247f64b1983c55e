"""``engram_client.tools``: the definitions, ``handle_tool_call``, and a real ``openai`` SDK agent loop
against a scripted OpenAI-compatible chat server, with a ``PersistentMemory`` on the local stack."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from engram_client import AsyncEngram
from engram_client.compat import PersistentMemory
from engram_client.tools import RESPONSES_TOOLS, TOOLS, chat_completions_tools, handle_tool_call, responses_tools


def test_definitions_are_valid_json_schema_in_both_shapes() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    assert [tool["function"]["name"] for tool in TOOLS] == ["save_to_memory", "recall_from_memory"]
    assert [tool["name"] for tool in RESPONSES_TOOLS] == ["save_to_memory", "recall_from_memory"]
    for chat, responses in zip(TOOLS, RESPONSES_TOOLS, strict=True):
        assert chat["type"] == responses["type"] == "function"
        assert chat["function"]["parameters"] == responses["parameters"]
        jsonschema.Draft202012Validator.check_schema(responses["parameters"])
    save = jsonschema.Draft202012Validator(TOOLS[0]["function"]["parameters"])
    assert save.is_valid({"thinking": "why", "content": ["a fact"]})
    assert not save.is_valid({"content": ["a fact"]})
    json.dumps(TOOLS)
    assert chat_completions_tools() == TOOLS and chat_completions_tools() is not TOOLS
    assert responses_tools() == RESPONSES_TOOLS


class FakeMemory:
    """Records the tool calls it gets (sync methods: ``handle_tool_call`` accepts those too)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def save_to_memory(self, thinking: str, content: list[str]) -> dict[str, Any]:
        self.calls.append(("save", {"thinking": thinking, "content": content}))
        return {"success": True, "saved": ["m1"]}

    async def recall_from_memory(self, keywords: list[str], limit: int = 5) -> dict[str, Any]:
        self.calls.append(("recall", {"keywords": keywords, "limit": limit}))
        return {"success": True, "memories": []}


def chat_call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_handle_tool_call_answers_both_shapes() -> None:
    memory = FakeMemory()
    message = asyncio.run(handle_tool_call(memory, chat_call("save_to_memory", '{"thinking": "t", "content": ["x"]}')))
    assert message == {"role": "tool", "tool_call_id": "call_1", "content": '{"success": true, "saved": ["m1"]}'}
    item = {
        "type": "function_call",
        "call_id": "fc_1",
        "name": "recall_from_memory",
        "arguments": '{"keywords": ["x"]}',
    }
    output = asyncio.run(handle_tool_call(memory, item))
    assert output == {"type": "function_call_output", "call_id": "fc_1", "output": '{"success": true, "memories": []}'}
    assert memory.calls == [("save", {"thinking": "t", "content": ["x"]}), ("recall", {"keywords": ["x"], "limit": 5})]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (chat_call("forget_everything", "{}"), "unknown tool"),
        (chat_call("save_to_memory", "{not json"), "not valid JSON"),
        (chat_call("save_to_memory", "[1]"), "JSON object"),
        (chat_call("save_to_memory", '{"content": ["x"]}'), "thinking"),
    ],
)
def test_handle_tool_call_reports_problems_to_the_model(call: dict[str, Any], error: str) -> None:
    message = asyncio.run(handle_tool_call(FakeMemory(), call))
    result = json.loads(message["content"])
    assert result["success"] is False and error in result["error"]


def test_an_openai_agent_saves_then_recalls(stack: Any, chat_server: Any) -> None:
    openai = pytest.importorskip("openai")
    fact = "My sister lives in Valencia."

    async def agent() -> tuple[list[dict[str, Any]], str]:
        llm = openai.AsyncOpenAI(base_url=chat_server.base_url, api_key="test-key")
        async with AsyncEngram(stack.url, stack.api_key) as engram:
            memory = PersistentMemory(agent_name=f"agent-{uuid.uuid4().hex[:8]}", client=engram)
            messages: list[dict[str, Any]] = [{"role": "user", "content": fact}]
            for _ in range(5):
                response = await llm.chat.completions.create(model="scripted", messages=messages, tools=TOOLS)
                reply = response.choices[0].message
                messages.append(reply.model_dump(exclude_none=True))
                if not reply.tool_calls:
                    return messages, reply.content or ""
                messages += [await handle_tool_call(memory, call) for call in reply.tool_calls]
        raise AssertionError("the agent did not finish")

    messages, answer = asyncio.run(agent())
    tool_results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    saved, recalled = tool_results
    assert saved["success"] and len(saved["saved"]) == 1
    assert [m["content"] for m in recalled["memories"]] == [fact]
    assert recalled["memories"][0]["id"] == saved["saved"][0]
    assert answer == f"I remember: {fact}"
    assert chat_server.requests[0]["tools"] == TOOLS
