"""``client.memories``: long-term memories (``/v1/memories...``).

Every method raises ``AuthenticationError`` (401), ``PermissionDeniedError`` (403), ``RateLimitError`` /
``ServerError`` / ``ConnectionError`` (after the retries) besides the errors it lists.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from engram_client import _routes as routes
from engram_client._http import AsyncHTTP, SyncHTTP
from engram_client._routes import NOT_GIVEN, NotGiven
from engram_client.models import (
    ArchiveResponse,
    BatchCreateResponse,
    CountResponse,
    Memory,
    MetadataValue,
    Operation,
    PurgeResponse,
    RetrieveResponse,
    Revision,
    RevisionsResponse,
)
from engram_client.pagination import AsyncMemoryPager, MemoryPager

Mode = Literal["hybrid", "dense", "lexical"]
MergeStrategy = Literal["MERGE", "OVERWRITE", "REQUIRE_EXACT_MATCH"]
UpdateStrategy = Literal["MERGE", "OVERWRITE"]
GroupBy = Literal["topic", "time_window"]
SEARCHABLE_POLL = 0.1  # seconds between searches in wait_until_searchable


def _holds(response: RetrieveResponse, memory: Memory) -> bool:
    return any(hit.memory.id == memory.id for hit in response.memories)


def _generate_options(**options: Any) -> dict[str, Any]:
    if not options.get("disable_consolidation"):
        options.pop("disable_consolidation", None)
    return routes.compact(**options)


def _list_body(
    scope: Mapping[str, str],
    filter: Mapping[str, Any] | None,
    topics: Sequence[str] | None,
    page_size: int,
    page_token: str | None,
) -> dict[str, Any]:
    return routes.compact(scope=scope, filter=filter, topics=topics, page_size=page_size, page_token=page_token)


def _search_body(
    scope: Mapping[str, str],
    query: str,
    top_k: int | None,
    mode: Mode | None,
    filter: Mapping[str, Any] | None,
    topics: Sequence[str] | None,
) -> dict[str, Any]:
    return routes.compact(scope=scope, query=query, top_k=top_k, mode=mode, filter=filter, topics=topics)


class Memories:
    """Long-term memories. A ``scope`` is a ``{str: str}`` map (1-8 keys, values 1-256 chars) matched
    exactly: ``{"user_id": "alice"}`` does not see ``{"user_id": "alice", "agent_id": "x"}``."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def generate(
        self,
        scope: Mapping[str, str],
        *,
        messages: str | Sequence[Any] | None = None,
        events: Sequence[Any] | None = None,
        session: str | Mapping[str, Any] | None = None,
        facts: Sequence[str | Mapping[str, Any]] | None = None,
        topics: Sequence[str] | None = None,
        disable_consolidation: bool = False,
        metadata: Mapping[str, MetadataValue] | None = None,
        metadata_merge_strategy: MergeStrategy | None = None,
        ttl_seconds: int | None = None,
        revision_labels: Mapping[str, str] | None = None,
        wait_seconds: float | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Start generating memories: ``POST /v1/memories/generate``.

        Give exactly one source: ``messages`` (OpenAI style ``[{"role", "content"}]``, 1-500, or a string:
        one user message), ``events``
        (Memory Bank style ``[{"content": {"role", "parts": [{"text"} | {"inline_data"}]}}]``), ``session``
        (a session id, or ``{"session_id", "start_time"?, "end_time"?}``) or ``facts`` (strings or
        ``{"fact", "topics"?}``, ≤ 40: consolidated without an extraction call).

        Options: ``topics`` (extract only these), ``disable_consolidation`` (every fact created as new),
        ``metadata`` (≤ 20 keys) with ``metadata_merge_strategy``, ``ttl_seconds`` (60 s - 10 years) for
        the memories it creates or updates, ``revision_labels`` (≤ 10), ``wait_seconds`` (0-25: the
        server waits that long and returns the finished operation if it finished in time).
        ``temperature`` (0-2) and ``max_tokens`` (1-32,768) go to the extraction call (the server's
        defaults when not given: temperature 0, the model's own limit); a ``max_tokens`` too small for the
        answer makes the operation FAILED (error code ``LLMOutputInvalid``). The offline extractor ignores them.

        Returns the ``Operation`` (``RUNNING``, or finished within ``wait_seconds``); wait for it with
        ``client.operations.wait``. Raises ``ValidationError`` (422), ``PayloadTooLargeError`` (413),
        ``ValueError`` when not exactly one source is given.
        """
        source = routes.generate_source(messages, events, session, facts)
        options = _generate_options(
            topics=topics,
            disable_consolidation=disable_consolidation,
            metadata=metadata,
            metadata_merge_strategy=metadata_merge_strategy,
            ttl_seconds=ttl_seconds,
            revision_labels=revision_labels,
            wait_seconds=wait_seconds,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        return self._http.run(routes.generate(scope, source, options, idempotency_key))

    def create(
        self,
        scope: Mapping[str, str],
        fact: str,
        *,
        topics: Sequence[str] | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        ttl_seconds: int | None = None,
        source_event_ids: Sequence[str] | None = None,
        revision_labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        """Create one memory directly, without the LLM: ``POST /v1/memories`` → 201.

        ``fact``: 1-2,000 chars; ``topics`` ≤ 10; ``metadata`` ≤ 20 keys (strings, numbers, booleans, None,
        lists of ≤ 100 strings);
        ``ttl_seconds``: 60 s - 10 years (default: the tenant's ``create_ttl_seconds``);
        ``source_event_ids``: provenance. Returns the ``Memory``. Raises ``ValidationError`` (422).
        ``get``/``list`` see it at once; ``retrieve`` a moment later (see ``wait_until_searchable``).
        """
        body = routes.new_memory(scope, fact, topics, metadata, ttl_seconds, source_event_ids, revision_labels)
        return self._http.run(routes.create_memory(body, idempotency_key))

    def batch(
        self, memories: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> BatchCreateResponse:
        """Create 1-100 memories with one embedding call: ``POST /v1/memories/batch`` → 201.

        Each item has the fields of ``create``: ``{"scope", "fact", "topics"?, "metadata"?, "ttl_seconds"?,
        "source"?: {"event_ids"}, "revision_labels"?}``. Returns them in request order
        (``.memories[i].memory``). Raises ``ValidationError`` (422, also for more than 100).
        Searchable a moment later, like ``create``.
        """
        return self._http.run(routes.batch(memories, idempotency_key))

    def get(self, memory_id: str) -> Memory:
        """One memory: ``GET /v1/memories/{id}``. Raises ``NotFoundError`` (absent, expired, another tenant's)."""
        return self._http.run(routes.get_memory(memory_id))

    def update(
        self,
        memory_id: str,
        *,
        fact: str | None = None,
        topics: Sequence[str] | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        ttl_seconds: int | None | NotGiven = NOT_GIVEN,
        revision_labels: Mapping[str, str] | None = None,
        metadata_merge_strategy: UpdateStrategy | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        """Change the given fields: ``PATCH /v1/memories/{id}``; writes an UPDATED revision.

        A new ``fact`` is re-embedded; ``topics`` replace the old ones; ``metadata`` is merged on the
        server (the keys given replace those keys, the others stay; None is stored as a value), or
        replaces the whole map with ``metadata_merge_strategy="OVERWRITE"`` (the way to remove keys);
        ``ttl_seconds``: a number sets the expiry to now + that many seconds, None removes it, NOT_GIVEN
        (default) keeps it. Returns the updated ``Memory``. Raises ``NotFoundError``, ``ConflictError`` (a
        concurrent change won: read it again), ``ValidationError`` (also when the merged metadata would
        break a limit, e.g. more than 20 keys).
        """
        body = routes.update_body(fact, topics, metadata, ttl_seconds, revision_labels, metadata_merge_strategy)
        return self._http.run(routes.update_memory(memory_id, body, idempotency_key))

    def delete(self, memory_id: str, *, idempotency_key: str | None = None) -> None:
        """Delete a memory: ``DELETE /v1/memories/{id}`` → 204; its revisions stay. Raises ``NotFoundError``."""
        self._http.run(routes.delete_memory(memory_id, idempotency_key))

    def list(
        self,
        scope: Mapping[str, str],
        *,
        filter: Mapping[str, Any] | None = None,
        topics: Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> MemoryPager:
        """The scope's memories, newest first, across pages: ``POST /v1/memories/retrieve`` without a query.

        ``filter``: ``{key: value}`` or ``{key: {"$eq|$ne|$gt|$gte|$lt|$lte|$in|$nin|$contains": v}}`` on
        metadata, ``create_time``/``update_time`` (RFC 3339), combined with ``$and``/``$or``/``$not``; on a
        list-valued key ``$in`` matches any item and ``{"$contains": "x"}`` one item. ``topics``:
        keep memories with at least one of them. ``page_size``: 1-100 per request.
        Returns a ``MemoryPager``: iterate it for ``Memory`` objects, or ``.pages()`` for each
        ``RetrieveResponse``. Requests are made while iterating; they raise ``ValidationError`` on a bad filter.
        """

        def fetch(token: str | None) -> RetrieveResponse:
            return self._http.run(routes.retrieve(_list_body(scope, filter, topics, page_size, token)))

        return MemoryPager(fetch, page_token)

    def retrieve(
        self,
        scope: Mapping[str, str],
        query: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filter: Mapping[str, Any] | None = None,
        topics: Sequence[str] | None = None,
    ) -> RetrieveResponse:
        """Similarity search in a scope: ``POST /v1/memories/retrieve`` with ``query`` (1-2,000 chars).

        ``top_k``: 1-100 (server default 10). ``mode``: ``hybrid`` (default; score in [0, 1]), ``dense``
        (cosine in [-1, 1]) or ``lexical`` (BM25, no embedding call). ``filter``/``topics`` as in ``list``,
        applied before ``top_k``. Returns ``RetrieveResponse`` with ``memories`` best first (``.memory``,
        ``.score``). It reads the index, which follows direct writes (create, batch, update, delete) a
        moment later; a finished ``generate`` is already there. Raises ``ValidationError``,
        ``ServerError`` (503 ``INDEX_UNAVAILABLE``).
        """
        return self._http.run(routes.retrieve(_search_body(scope, query, top_k, mode, filter, topics)))

    def wait_until_searchable(self, memories: Sequence[Memory], timeout: float = 10.0) -> bool:
        """Wait until ``retrieve`` can return each of these memories (e.g. just created); True if all
        are, False if ``timeout`` (seconds) ran out first.

        Search reads an index that follows the table a moment after each write (the stream), so a
        memory created directly is not searchable at once (``get`` and ``list`` see it immediately;
        ``generate`` waits for the index itself). This polls a lexical search for each fact
        (``POST /v1/memories/retrieve``, ``mode=lexical``: no embedding call) every 0.1 s. A fact made
        only of stop words is never found lexically: expect False for it.
        """
        pending = list(memories)
        deadline = time.monotonic() + timeout
        while True:
            pending = [memory for memory in pending if not self._searchable(memory)]
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(SEARCHABLE_POLL)

    def _searchable(self, memory: Memory) -> bool:
        return _holds(self.retrieve(memory.scope, memory.fact, top_k=100, mode="lexical"), memory)

    def purge(
        self,
        *,
        scope: Mapping[str, str] | None = None,
        filter: Mapping[str, Any] | None = None,
        force: bool = False,
        idempotency_key: str | None = None,
    ) -> PurgeResponse:
        """Delete (``force=True``) or count (dry run, the default) the memories of ``scope`` (or of the
        whole tenant) matching ``filter``: ``POST /v1/memories/purge``. At least one of ``scope`` and
        ``filter`` is required. Returns ``PurgeResponse.purge_count``. Raises ``ValidationError``.
        """
        body = routes.compact(scope=scope, filter=filter, force=force)
        return self._http.run(routes.purge(body, idempotency_key))

    def archive(
        self,
        scope: Mapping[str, str],
        to_scope: Mapping[str, str],
        *,
        filter: Mapping[str, Any] | None = None,
        force: bool = False,
        idempotency_key: str | None = None,
        max_requests: int = 20,
    ) -> ArchiveResponse:
        """Move (``force=True``) or count (dry run, the default) the live memories of ``scope`` matching
        ``filter`` (all without one) to ``to_scope``: ``POST /v1/memories/archive``. A moved memory keeps
        its id, revisions and provenance, gets ``metadata.archived = true`` and an ``ARCHIVED`` revision.

        While the server answers ``done: false`` (202: out of time, more remain), the request is sent again
        with the same ``Idempotency-Key``, at most ``max_requests`` times; ``archive_count`` is the sum
        over them (``done`` false if memories remain after the last: call again). Raises
        ``ValidationError`` (e.g. ``to_scope`` equal to ``scope``), ``ServerError`` (503 while a
        generation holds either scope: retried by the client's retry policy).
        """
        call = routes.archive(
            routes.compact(scope=scope, filter=filter, to_scope=to_scope, force=force),
            idempotency_key or uuid.uuid4().hex,
        )
        result = self._http.run(call)
        moved = result.archive_count
        for _ in range(max_requests - 1):
            if result.done:
                break
            result = self._http.run(call)
            moved += result.archive_count
        return ArchiveResponse(archive_count=moved, dry_run=result.dry_run, done=result.done)

    def compress(
        self,
        scope: Mapping[str, str],
        max_memories: int,
        *,
        group_by: GroupBy = "topic",
        window_hours: int | None = None,
        filter: Mapping[str, Any] | None = None,
        wait_seconds: float | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Start compressing the live memories of ``scope`` matching ``filter`` (all without one) so that
        about ``max_memories`` (1-10,000) remain: ``POST /v1/memories/compress``.

        Memories are grouped by ``group_by``: ``"topic"`` (first topic) or ``"time_window"`` (creation
        time in windows of ``window_hours``, 1-8,760, required then); each group keeps its proportional
        share (at least 1) and a group over it is summarized by the model into that many memories. The new
        memories carry ``source.memory_ids`` (the originals, deleted with a ``compressed_into`` revision:
        ``rollback`` them to undo) and ``metadata`` ``compressed: true, original_count``.

        Returns the ``Operation`` (``RUNNING``, or finished within ``wait_seconds``, 0-25); wait for it
        with ``client.operations.wait``; its ``result.compression`` is the report. Raises
        ``ValidationError`` (422) naming the field.
        """
        body = routes.compact(
            scope=scope,
            filter=filter,
            max_memories=max_memories,
            group_by=group_by,
            window_hours=window_hours,
            wait_seconds=wait_seconds,
        )
        return self._http.run(routes.compress(body, idempotency_key))

    def count(self, scope: Mapping[str, str], *, filter: Mapping[str, Any] | None = None) -> CountResponse:
        """How many live (unexpired) memories of ``scope`` match ``filter`` (as in ``list``; all without
        one): ``POST /v1/memories/count`` → ``CountResponse.count``. One request, whatever the number.
        Like ``list``, it may miss a memory written a moment ago. Raises ``ValidationError``."""
        return self._http.run(routes.count(routes.compact(scope=scope, filter=filter)))

    def revisions(self, memory_id: str, *, page_size: int | None = None) -> RevisionsResponse:
        """Every revision of a memory, newest first (also after its deletion):
        ``GET /v1/memories/{id}/revisions``, page after page (``page_size`` 1-100 each, server default 100;
        a page also ends before about 5 MB), all in one response. Raises ``NotFoundError``."""
        revisions: list[Revision] = []
        token: str | None = None
        while True:
            page = self.revisions_page(memory_id, page_size=page_size, page_token=token)
            revisions += page.revisions
            if not page.next_page_token:
                return RevisionsResponse(revisions=revisions)
            token = page.next_page_token

    def revisions_page(
        self, memory_id: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> RevisionsResponse:
        """One page of ``GET /v1/memories/{id}/revisions`` (see ``revisions``): send its
        ``next_page_token`` as ``page_token`` for the next. Raises ``NotFoundError``, and
        ``ValidationError`` for a token of another memory."""
        return self._http.run(routes.revisions(memory_id, page_size, page_token))

    def rollback(
        self,
        memory_id: str,
        revision_id: str,
        *,
        revision_labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory | None:
        """Restore a memory as it was after ``revision_id``: ``POST /v1/memories/{id}/rollback``.

        Returns the restored ``Memory`` (re-created if it had been deleted), or None when that revision
        is a deletion (the memory is deleted now; 204). Raises ``NotFoundError``, ``ValidationError``.
        """
        return self._http.run(routes.rollback(memory_id, revision_id, revision_labels, idempotency_key))


class AsyncMemories:
    """Like ``Memories``, every method awaited; same arguments, results and errors."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def generate(
        self,
        scope: Mapping[str, str],
        *,
        messages: str | Sequence[Any] | None = None,
        events: Sequence[Any] | None = None,
        session: str | Mapping[str, Any] | None = None,
        facts: Sequence[str | Mapping[str, Any]] | None = None,
        topics: Sequence[str] | None = None,
        disable_consolidation: bool = False,
        metadata: Mapping[str, MetadataValue] | None = None,
        metadata_merge_strategy: MergeStrategy | None = None,
        ttl_seconds: int | None = None,
        revision_labels: Mapping[str, str] | None = None,
        wait_seconds: float | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """``POST /v1/memories/generate`` → ``Operation``; see ``Memories.generate``."""
        source = routes.generate_source(messages, events, session, facts)
        options = _generate_options(
            topics=topics,
            disable_consolidation=disable_consolidation,
            metadata=metadata,
            metadata_merge_strategy=metadata_merge_strategy,
            ttl_seconds=ttl_seconds,
            revision_labels=revision_labels,
            wait_seconds=wait_seconds,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        return await self._http.run(routes.generate(scope, source, options, idempotency_key))

    async def create(
        self,
        scope: Mapping[str, str],
        fact: str,
        *,
        topics: Sequence[str] | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        ttl_seconds: int | None = None,
        source_event_ids: Sequence[str] | None = None,
        revision_labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        """``POST /v1/memories`` → ``Memory``; see ``Memories.create``."""
        body = routes.new_memory(scope, fact, topics, metadata, ttl_seconds, source_event_ids, revision_labels)
        return await self._http.run(routes.create_memory(body, idempotency_key))

    async def batch(
        self, memories: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> BatchCreateResponse:
        """``POST /v1/memories/batch`` → ``BatchCreateResponse``; see ``Memories.batch``."""
        return await self._http.run(routes.batch(memories, idempotency_key))

    async def get(self, memory_id: str) -> Memory:
        """``GET /v1/memories/{id}`` → ``Memory``; see ``Memories.get``."""
        return await self._http.run(routes.get_memory(memory_id))

    async def update(
        self,
        memory_id: str,
        *,
        fact: str | None = None,
        topics: Sequence[str] | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        ttl_seconds: int | None | NotGiven = NOT_GIVEN,
        revision_labels: Mapping[str, str] | None = None,
        metadata_merge_strategy: UpdateStrategy | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        """``PATCH /v1/memories/{id}`` → ``Memory``; see ``Memories.update``."""
        body = routes.update_body(fact, topics, metadata, ttl_seconds, revision_labels, metadata_merge_strategy)
        return await self._http.run(routes.update_memory(memory_id, body, idempotency_key))

    async def delete(self, memory_id: str, *, idempotency_key: str | None = None) -> None:
        """``DELETE /v1/memories/{id}``; see ``Memories.delete``."""
        await self._http.run(routes.delete_memory(memory_id, idempotency_key))

    def list(
        self,
        scope: Mapping[str, str],
        *,
        filter: Mapping[str, Any] | None = None,
        topics: Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> AsyncMemoryPager:
        """An ``AsyncMemoryPager`` (``async for memory in ...``, or ``.pages()``); see ``Memories.list``."""

        async def fetch(token: str | None) -> RetrieveResponse:
            return await self._http.run(routes.retrieve(_list_body(scope, filter, topics, page_size, token)))

        return AsyncMemoryPager(fetch, page_token)

    async def retrieve(
        self,
        scope: Mapping[str, str],
        query: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filter: Mapping[str, Any] | None = None,
        topics: Sequence[str] | None = None,
    ) -> RetrieveResponse:
        """``POST /v1/memories/retrieve`` with a query → ``RetrieveResponse``; see ``Memories.retrieve``."""
        return await self._http.run(routes.retrieve(_search_body(scope, query, top_k, mode, filter, topics)))

    async def wait_until_searchable(self, memories: Sequence[Memory], timeout: float = 10.0) -> bool:
        """Wait until ``retrieve`` can return each of these memories; see ``Memories.wait_until_searchable``."""
        pending = list(memories)
        deadline = time.monotonic() + timeout
        while True:
            pending = [memory for memory in pending if not await self._searchable(memory)]
            if not pending:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(SEARCHABLE_POLL)

    async def _searchable(self, memory: Memory) -> bool:
        return _holds(await self.retrieve(memory.scope, memory.fact, top_k=100, mode="lexical"), memory)

    async def purge(
        self,
        *,
        scope: Mapping[str, str] | None = None,
        filter: Mapping[str, Any] | None = None,
        force: bool = False,
        idempotency_key: str | None = None,
    ) -> PurgeResponse:
        """``POST /v1/memories/purge`` → ``PurgeResponse``; see ``Memories.purge``."""
        body = routes.compact(scope=scope, filter=filter, force=force)
        return await self._http.run(routes.purge(body, idempotency_key))

    async def archive(
        self,
        scope: Mapping[str, str],
        to_scope: Mapping[str, str],
        *,
        filter: Mapping[str, Any] | None = None,
        force: bool = False,
        idempotency_key: str | None = None,
        max_requests: int = 20,
    ) -> ArchiveResponse:
        """``POST /v1/memories/archive`` until done → ``ArchiveResponse``; see ``Memories.archive``."""
        call = routes.archive(
            routes.compact(scope=scope, filter=filter, to_scope=to_scope, force=force),
            idempotency_key or uuid.uuid4().hex,
        )
        result = await self._http.run(call)
        moved = result.archive_count
        for _ in range(max_requests - 1):
            if result.done:
                break
            result = await self._http.run(call)
            moved += result.archive_count
        return ArchiveResponse(archive_count=moved, dry_run=result.dry_run, done=result.done)

    async def compress(
        self,
        scope: Mapping[str, str],
        max_memories: int,
        *,
        group_by: GroupBy = "topic",
        window_hours: int | None = None,
        filter: Mapping[str, Any] | None = None,
        wait_seconds: float | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """``POST /v1/memories/compress`` → ``Operation``; see ``Memories.compress``."""
        body = routes.compact(
            scope=scope,
            filter=filter,
            max_memories=max_memories,
            group_by=group_by,
            window_hours=window_hours,
            wait_seconds=wait_seconds,
        )
        return await self._http.run(routes.compress(body, idempotency_key))

    async def count(self, scope: Mapping[str, str], *, filter: Mapping[str, Any] | None = None) -> CountResponse:
        """``POST /v1/memories/count`` → ``CountResponse``; see ``Memories.count``."""
        return await self._http.run(routes.count(routes.compact(scope=scope, filter=filter)))

    async def revisions(self, memory_id: str, *, page_size: int | None = None) -> RevisionsResponse:
        """``GET /v1/memories/{id}/revisions``, every page, → ``RevisionsResponse``; see
        ``Memories.revisions``."""
        revisions: list[Revision] = []
        token: str | None = None
        while True:
            page = await self.revisions_page(memory_id, page_size=page_size, page_token=token)
            revisions += page.revisions
            if not page.next_page_token:
                return RevisionsResponse(revisions=revisions)
            token = page.next_page_token

    async def revisions_page(
        self, memory_id: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> RevisionsResponse:
        """One page of ``GET /v1/memories/{id}/revisions``; see ``Memories.revisions_page``."""
        return await self._http.run(routes.revisions(memory_id, page_size, page_token))

    async def rollback(
        self,
        memory_id: str,
        revision_id: str,
        *,
        revision_labels: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory | None:
        """``POST /v1/memories/{id}/rollback`` → ``Memory`` or None; see ``Memories.rollback``."""
        return await self._http.run(routes.rollback(memory_id, revision_id, revision_labels, idempotency_key))
