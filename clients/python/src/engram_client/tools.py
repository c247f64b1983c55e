"""Memory tools for function calling: ``save_to_memory`` and ``recall_from_memory``.

- ``TOOLS``: the OpenAI Chat Completions ``tools`` list (``[{"type": "function", "function": {"name",
  "description", "parameters"}}]``, parameters as JSON Schema);
- ``RESPONSES_TOOLS``: the same for the Responses API (``[{"type": "function", "name", "description",
  "parameters"}]``);
- ``handle_tool_call(memory, tool_call)``: runs a model's tool call on a ``PersistentMemory`` (or any
  object with those two methods) and returns the message to send back.

>>> response = openai.chat.completions.create(model=..., messages=messages, tools=TOOLS)
>>> for call in response.choices[0].message.tool_calls or []:
...     messages.append(await handle_tool_call(memory, call))
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Mapping
from typing import Any

SAVE_TO_MEMORY: dict[str, Any] = {
    "name": "save_to_memory",
    "description": (
        "Save information worth remembering in later conversations (facts about the user, preferences, "
        "decisions, instructions). Each item of content is stored as one self-contained memory."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "thinking": {
                "type": "string",
                "description": "Why this is worth remembering; kept with the memories as provenance.",
            },
            "content": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 2000},
                "minItems": 1,
                "description": "The memories to save, each a short self-contained statement.",
            },
        },
        "required": ["thinking", "content"],
        "additionalProperties": False,
    },
}

RECALL_FROM_MEMORY: dict[str, Any] = {
    "name": "recall_from_memory",
    "description": "Search long-term memory for what is relevant to the given keywords; returns the best matches.",
    "parameters": {
        "type": "object",
        "properties": {
            "keywords": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "Words or short phrases describing what to recall.",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 5,
                "description": "How many memories to return at most.",
            },
        },
        "required": ["keywords"],
        "additionalProperties": False,
    },
}

DEFINITIONS = (SAVE_TO_MEMORY, RECALL_FROM_MEMORY)
ARGUMENTS = {"save_to_memory": ("thinking", "content"), "recall_from_memory": ("keywords", "limit")}


def chat_completions_tools() -> list[dict[str, Any]]:
    """A fresh copy of the Chat Completions ``tools`` list."""
    return [{"type": "function", "function": copy.deepcopy(definition)} for definition in DEFINITIONS]


def responses_tools() -> list[dict[str, Any]]:
    """A fresh copy of the Responses API ``tools`` list."""
    return [{"type": "function", **copy.deepcopy(definition)} for definition in DEFINITIONS]


TOOLS = chat_completions_tools()
RESPONSES_TOOLS = responses_tools()


def _as_dict(tool_call: Any) -> dict[str, Any]:
    """A tool call as a dict, whether a dict or an SDK object (pydantic model)."""
    if isinstance(tool_call, Mapping):
        return dict(tool_call)
    if hasattr(tool_call, "model_dump"):
        return dict(tool_call.model_dump())
    raise TypeError(f"not a tool call: {tool_call!r}")


def _parse(call: dict[str, Any]) -> tuple[str, str, str, bool]:
    """``(call id, tool name, arguments JSON, is_responses_shape)``."""
    if call.get("type") == "function_call":  # Responses API output item
        return call["call_id"], call["name"], call.get("arguments") or "{}", True
    function = call.get("function") or {}
    return call["id"], function.get("name", ""), function.get("arguments") or "{}", False


async def _run(memory: Any, name: str, arguments: str) -> dict[str, Any]:
    if name not in ARGUMENTS:
        return {"success": False, "error": f"unknown tool {name!r}"}
    try:
        given = json.loads(arguments)
    except ValueError:
        return {"success": False, "error": "the arguments are not valid JSON"}
    if not isinstance(given, dict):
        return {"success": False, "error": "the arguments must be a JSON object"}
    kwargs = {key: value for key, value in given.items() if key in ARGUMENTS[name]}
    try:
        result = getattr(memory, name)(**kwargs)
    except TypeError as error:  # a required argument is missing
        return {"success": False, "error": str(error)}
    return dict(await result if inspect.isawaitable(result) else result)


async def handle_tool_call(memory: Any, tool_call: Any) -> dict[str, Any]:
    """Run one tool call of the model on ``memory`` and return the message that answers it.

    ``tool_call``: a Chat Completions tool call (``{"id", "type": "function", "function": {"name",
    "arguments"}}``, dict or SDK object) → ``{"role": "tool", "tool_call_id", "content"}``; or a
    Responses API ``{"type": "function_call", "call_id", "name", "arguments"}`` item →
    ``{"type": "function_call_output", "call_id", "output"}``. The content/output is the tool's result
    as JSON; problems (unknown tool, bad arguments, API errors) are reported in it as ``{"success":
    false, "error"}`` so the model can react, never raised.
    """
    call_id, name, arguments, responses_shape = _parse(_as_dict(tool_call))
    output = json.dumps(await _run(memory, name, arguments))
    if responses_shape:
        return {"type": "function_call_output", "call_id": call_id, "output": output}
    return {"role": "tool", "tool_call_id": call_id, "content": output}
