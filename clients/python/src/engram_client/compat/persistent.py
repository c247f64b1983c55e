"""``PersistentMemory`` (async): an agent's long-term memory, with the two agent tools
``save_to_memory`` and ``recall_from_memory`` (their function-calling definitions: ``engram_client.tools``).

``agent_name``, ``user_name`` and ``session_name`` are scope keys (those given; ``agent_name="default"``
when none is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engram_client.client import AsyncEngram
from engram_client.compat._common import MessagesInput, chunks, generate_messages, generated_facts
from engram_client.errors import EngramError
from engram_client.models import Memory

MAX_BATCH = 100


def _failure(error: EngramError) -> dict[str, Any]:
    return {"success": False, "error": f"{error.code}: {error.message}"}


class PersistentMemory:
    """Long-term memory of an agent over one ``AsyncEngram`` client (default: one from ``ENGRAM_URL`` /
    ``ENGRAM_API_KEY``). ``timeout``: seconds to wait for a generation; ``searchable_timeout``: seconds
    ``save_to_memory`` waits for what it saved to be searchable (0: not at all)."""

    def __init__(
        self,
        agent_name: str | None = None,
        user_name: str | None = None,
        session_name: str | None = None,
        *,
        client: AsyncEngram | None = None,
        timeout: float = 120.0,
        searchable_timeout: float = 10.0,
    ) -> None:
        self._owns_client = client is None
        self.client = client or AsyncEngram()
        names = {"agent_name": agent_name, "user_name": user_name, "session_name": session_name}
        self.scope = {key: value for key, value in names.items() if value is not None} or {"agent_name": "default"}
        self.timeout = timeout
        self.searchable_timeout = searchable_timeout

    async def record(self, messages: MessagesInput) -> list[str]:
        """Extract and consolidate memories from a conversation (a string is one user message); returns
        the facts created or updated. ``POST /v1/memories/generate`` then ``GET /v1/operations/{id}``.
        Raises ``OperationFailedError``, ``OperationTimeoutError``, ``ValidationError``."""
        operation = await self.client.memories.generate(self.scope, messages=generate_messages(messages))
        return generated_facts(await self.client.operations.wait(operation, self.timeout))

    async def retrieve(self, query: str, limit: int = 5) -> str:
        """The ``limit`` memories most relevant to ``query`` as text, one ``- fact`` per line ("" when
        none). ``POST /v1/memories/retrieve``."""
        found = await self.client.memories.retrieve(self.scope, query, top_k=limit)
        return "\n".join(f"- {hit.memory.fact}" for hit in found.memories)

    async def save_to_memory(self, thinking: str, content: Sequence[str]) -> dict[str, Any]:
        """Tool: store each item of ``content`` as a memory, as is, with ``{"thinking": thinking}`` as
        metadata (why the agent saved it): ``POST /v1/memories/batch``, then lexical searches until the
        items are searchable (up to ``searchable_timeout``), so a recall right after finds them.
        Returns ``{"success": true, "saved": [ids]}``, or ``{"success": false, "error": "..."}`` (errors
        go back to the model)."""
        texts = [text for text in content if text.strip()]
        if not texts:
            return {"success": False, "error": "content has no non-empty item to save"}
        try:
            saved = await self._save(texts, {"thinking": thinking})
        except EngramError as error:
            return _failure(error)
        return {"success": True, "saved": [memory.id for memory in saved]}

    async def _save(self, texts: Sequence[str], metadata: dict[str, Any]) -> list[Memory]:
        items = [{"scope": self.scope, "fact": text, "metadata": metadata} for text in texts]
        saved: list[Memory] = []
        for chunk in chunks(items, MAX_BATCH):
            saved += [scored.memory for scored in (await self.client.memories.batch(chunk)).memories]
        if self.searchable_timeout > 0:
            await self.client.memories.wait_until_searchable(saved, self.searchable_timeout)
        return saved

    async def recall_from_memory(self, keywords: Sequence[str], limit: int = 5) -> dict[str, Any]:
        """Tool: the ``limit`` (1-100) memories most relevant to the keywords (joined into one query):
        ``{"success": true, "memories": [{"id", "content", "score"}]}``, best first, or ``{"success":
        false, "error": "..."}``. ``POST /v1/memories/retrieve``."""
        query = " ".join(keyword.strip() for keyword in keywords if keyword.strip())
        if not query:
            return {"success": False, "error": "give at least one keyword"}
        try:
            found = await self.client.memories.retrieve(self.scope, query, top_k=limit)
        except EngramError as error:
            return _failure(error)
        memories = [{"id": hit.memory.id, "content": hit.memory.fact, "score": hit.score} for hit in found.memories]
        return {"success": True, "memories": memories}

    async def aclose(self) -> None:
        """Close the client if this instance made it."""
        if self._owns_client:
            await self.client.aclose()
