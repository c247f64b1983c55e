"""Helpers the facades share: messages in, scopes, facts out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from engram_client.models import Operation, to_json

MessagesInput = str | Mapping[str, Any] | BaseModel | Sequence[Mapping[str, Any] | BaseModel]


def as_messages(messages: MessagesInput) -> list[dict[str, Any]]:
    """OpenAI-style messages from a string (one user message), one message dict, or a list of them:
    always a list (a string becomes ``[{"role": "user", "content": s}]``)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, (Mapping, BaseModel)):
        messages = [messages]
    return [to_json(message) if isinstance(message, BaseModel) else dict(message) for message in messages]


def generate_messages(messages: MessagesInput) -> str | list[dict[str, Any]]:
    """What generate's ``messages`` is sent as: a string as it is (the API reads it as one user
    message), anything else as ``as_messages`` gives it."""
    return messages if isinstance(messages, str) else as_messages(messages)


def text_of(content: Any) -> str:
    """A message's content as text: a string, or the texts of a list of parts joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [part.get("text") if isinstance(part, Mapping) else str(part) for part in content]
        return "\n".join(text for text in texts if text)
    return "" if content is None else str(content)


def scope_of(**keys: str | None) -> dict[str, str]:
    """The scope made of the keys that are given; ``ValueError`` when none is."""
    scope = {name: value for name, value in keys.items() if value is not None}
    if not scope:
        raise ValueError(f"give at least one of {', '.join(keys)} (they form the memory's scope)")
    return scope


def generated_facts(operation: Operation) -> list[str]:
    """The facts a finished generation created or updated (deletions left out); raises if it FAILED."""
    operation.raise_for_status()
    return [change.memory.fact for change in operation.generated if change.action != "DELETED"]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
