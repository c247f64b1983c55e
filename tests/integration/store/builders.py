"""Domain objects for the store contract: memories, their changes, operations and session events."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from engram.models.conversation import Content
from engram.models.memory import Action, Revision, Source, StoredMemory
from engram.models.operation import Operation, OperationStatus
from engram.models.session import SessionEvent
from engram.ports import Change

#: A fixed instant with microseconds, so time values must round-trip exactly.
T0 = datetime(2026, 3, 4, 12, 0, 0, 123456, tzinfo=UTC)
SCOPE = {"user_id": "u-1", "app": "contract"}
_sequence = itertools.count()
#: Exactly representable in float32, so the stored embedding compares equal.
EMBEDDING = [0.5, -0.25, 1.0, 0.0]


def new_id() -> str:
    """An id in the shape of ``engram.clock.new_id``, strictly increasing within the test run (so revision
    order is creation order even within one millisecond)."""
    return f"{int(time.time() * 1000):012x}{next(_sequence):016x}"


def memory(
    tenant_id: str,
    fact: str = "The user lives in Lisbon.",
    *,
    scope: dict[str, str] = SCOPE,
    create_time: datetime = T0,
    **fields: Any,
) -> StoredMemory:
    """A memory as the logic builds it before its first write (version 0)."""
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "scope": scope,
        "fact": fact,
        "topics": ["USER_PERSONAL_INFO"],
        "metadata": {"lang": "en", "priority": 2},
        "create_time": create_time,
        "update_time": create_time,
        "revision_id": new_id(),
        "source": Source(operation_id="op-1", event_ids=["e1", "e2"]),
        "embedding": EMBEDDING,
        "embedding_model": "contract-model",
        **fields,
    }
    return StoredMemory(**values)


def revision(memory: StoredMemory, action: Action, **fields: Any) -> Revision:
    values: dict[str, Any] = {
        "id": memory.revision_id if action is not Action.DELETED else new_id(),
        "memory_id": memory.id,
        "action": action,
        "fact": memory.fact,
        "scope": memory.scope,
        "topics": memory.topics,
        "metadata": memory.metadata,
        "create_time": memory.update_time,
        **fields,
    }
    return Revision(**values)


def created(memory: StoredMemory) -> Change:
    return Change(Action.CREATED, memory, None, revision(memory, Action.CREATED))


def updated(before: StoredMemory, **changes: Any) -> Change:
    after = before.model_copy(update={"revision_id": new_id(), "update_time": before.update_time, **changes})
    return Change(Action.UPDATED, after, before, revision(after, Action.UPDATED, previous_fact=before.fact))


def deleted(before: StoredMemory) -> Change:
    return Change(Action.DELETED, None, before, revision(before, Action.DELETED))


def operation(create_time: datetime = T0) -> Operation:
    return Operation(id=new_id(), status=OperationStatus.RUNNING, create_time=create_time, update_time=create_time)


def event(event_id: str, text: str, timestamp: datetime, expire_time: datetime | None = None) -> SessionEvent:
    return SessionEvent(
        event_id=event_id,
        timestamp=timestamp,
        content=Content.model_validate({"role": "user", "parts": [{"text": text}]}),
        expire_time=expire_time,
    )


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
