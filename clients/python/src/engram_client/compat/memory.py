"""``Memory``: the interface of mem0's open-source ``Memory`` (add, search, get_all, get, update, delete,
delete_all, history), over one Engram client.

``user_id``, ``agent_id`` and ``run_id`` are scope keys; a scope is matched exactly, so memories added
with ``user_id="alice"`` are found with ``user_id="alice"`` and not with ``user_id="alice", agent_id="x"``.
Results are ``{"results": [{"id", "memory", "metadata", "user_id", "agent_id", "run_id", "created_at",
"updated_at"}]}`` (``score`` on search, ``event`` on add).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

from engram_client.client import Engram
from engram_client.compat._common import MessagesInput, as_messages, chunks, generate_messages, iso, scope_of, text_of
from engram_client.errors import NotFoundError
from engram_client.models import Memory as EngramMemory
from engram_client.models import MetadataValue, Revision

EVENTS = {"CREATED": "ADD", "UPDATED": "UPDATE", "DELETED": "DELETE"}
MAX_BATCH = 100


def as_item(memory: EngramMemory, **extra: Any) -> dict[str, Any]:
    """A memory in the result shape: ``{"id", "memory", "metadata", "user_id", "agent_id", "run_id",
    "created_at", "updated_at"}`` plus ``extra`` (``score``, ``event``)."""
    return {
        "id": memory.id,
        "memory": memory.fact,
        "metadata": dict(memory.metadata),
        "user_id": memory.scope.get("user_id"),
        "agent_id": memory.scope.get("agent_id"),
        "run_id": memory.scope.get("run_id"),
        "created_at": iso(memory.create_time),
        "updated_at": iso(memory.update_time),
        **extra,
    }


def as_history_entry(revision: Revision) -> dict[str, Any]:
    deleted = revision.action == "DELETED"
    return {
        "id": revision.id,
        "memory_id": revision.memory_id,
        "old_memory": revision.fact if deleted else revision.previous_fact,
        "new_memory": None if deleted else revision.fact,
        "event": EVENTS.get(revision.action, revision.action),
        "created_at": iso(revision.create_time),
        "is_deleted": deleted,
    }


class Memory:
    """mem0-style memory over one ``Engram`` client (``client``, default one from ``ENGRAM_URL`` /
    ``ENGRAM_API_KEY``). ``timeout``: seconds to wait for a generation (``add`` with ``infer=True``)."""

    def __init__(self, client: Engram | None = None, *, timeout: float = 120.0) -> None:
        self._owns_client = client is None
        self.client = client or Engram()
        self.timeout = timeout

    def add(
        self,
        messages: MessagesInput,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        infer: bool = True,
    ) -> dict[str, Any]:
        """Remember a conversation. ``messages``: a string (one user message), a message dict or a list.

        ``infer=True``: facts are extracted and consolidated with the scope's memories
        (``POST /v1/memories/generate``, then ``GET /v1/operations/{id}`` until done); each result has
        ``event`` ADD, UPDATE or DELETE. ``infer=False``: each non-system message's text is stored as a
        memory as is (``POST /v1/memories/batch``, 100 per request); events are ADD. ``metadata`` goes on
        every memory. Raises ``ValueError`` without any of the three ids, ``OperationFailedError``,
        ``OperationTimeoutError``, ``ValidationError``.
        """
        scope = scope_of(user_id=user_id, agent_id=agent_id, run_id=run_id)
        if infer:
            return {"results": self._generate(scope, generate_messages(messages), metadata)}
        return {"results": self._store(scope, as_messages(messages), metadata)}

    def _generate(
        self,
        scope: dict[str, str],
        messages: str | list[dict[str, Any]],
        metadata: Mapping[str, MetadataValue] | None,
    ) -> list[dict[str, Any]]:
        operation = self.client.memories.generate(scope, messages=messages, metadata=metadata)
        operation = self.client.operations.wait(operation, self.timeout).raise_for_status()
        return [
            as_item(change.memory, event=EVENTS.get(change.action, change.action)) for change in operation.generated
        ]

    def _store(
        self, scope: dict[str, str], messages: list[dict[str, Any]], metadata: Mapping[str, MetadataValue] | None
    ) -> list[dict[str, Any]]:
        texts = [text_of(m.get("content")).strip() for m in messages if m.get("role") != "system"]
        news = [{"scope": scope, "fact": text, "metadata": dict(metadata or {})} for text in texts if text]
        results: list[dict[str, Any]] = []
        for chunk in chunks(news, MAX_BATCH):
            created = self.client.memories.batch(chunk).memories
            results += [as_item(scored.memory, event="ADD") for scored in created]
        return results

    def search(
        self,
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``limit`` (1-100) memories of the scope closest to ``query``, best first, each with its
        ``score`` (hybrid, in [0, 1]): ``POST /v1/memories/retrieve``. ``filters``: Engram's filter
        language on metadata (``{"key": value}``, ``$eq $ne $gt $gte $lt $lte $in $nin $contains $and $or
        $not``; ``$in`` matches any item of a list-valued key, ``$contains`` one item)."""
        scope = scope_of(user_id=user_id, agent_id=agent_id, run_id=run_id)
        found = self.client.memories.retrieve(scope, query, top_k=limit, filter=filters)
        return {"results": [as_item(hit.memory, score=hit.score) for hit in found.memories]}

    def get_all(
        self,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Up to ``limit`` memories of the scope, newest first (``POST /v1/memories/retrieve`` without a
        query, page after page)."""
        scope = scope_of(user_id=user_id, agent_id=agent_id, run_id=run_id)
        pager = self.client.memories.list(scope, filter=filters, page_size=max(1, min(limit, 100)))
        return {"results": [as_item(memory) for memory in islice(pager, limit)]}

    def get(self, memory_id: str) -> dict[str, Any] | None:
        """One memory (``GET /v1/memories/{id}``), or None when it does not exist."""
        try:
            return as_item(self.client.memories.get(memory_id))
        except NotFoundError:
            return None

    def update(self, memory_id: str, data: str) -> dict[str, Any]:
        """Replace a memory's text (``PATCH /v1/memories/{id}`` with ``fact``; re-embedded, a revision
        written). Raises ``NotFoundError``."""
        memory = self.client.memories.update(memory_id, fact=data)
        return {"message": "Memory updated successfully!", **as_item(memory)}

    def delete(self, memory_id: str) -> dict[str, Any]:
        """Delete a memory (``DELETE /v1/memories/{id}``). Raises ``NotFoundError``."""
        self.client.memories.delete(memory_id)
        return {"message": "Memory deleted successfully!"}

    def delete_all(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Delete every memory of the scope (``POST /v1/memories/purge`` with ``force``); ``deleted``
        is how many.

        As mem0's ``delete_all``: the memories go, their history stays (``history`` still shows each one,
        ending with a DELETE, for the tenant's revision TTL). To erase a user completely — memories,
        history, stored conversations, index entries, session events — use ``client.forget(scope,
        session_ids)`` (``POST /v1/forget``), which has no mem0 counterpart."""
        scope = scope_of(user_id=user_id, agent_id=agent_id, run_id=run_id)
        count = self.client.memories.purge(scope=scope, force=True).purge_count
        return {"message": "Memories deleted successfully!", "deleted": count}

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        """The memory's changes, oldest first: ``{"id", "memory_id", "old_memory", "new_memory", "event"
        (ADD/UPDATE/DELETE), "created_at", "is_deleted"}`` (``GET /v1/memories/{id}/revisions``).
        Raises ``NotFoundError``."""
        revisions = self.client.memories.revisions(memory_id).revisions
        return [as_history_entry(revision) for revision in reversed(revisions)]

    def close(self) -> None:
        """Close the client if this instance made it."""
        if self._owns_client:
            self.client.close()
