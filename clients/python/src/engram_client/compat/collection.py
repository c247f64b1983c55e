"""``MemoryAPI(collection_name=...)``: a collection-of-texts interface (store, store_batch, retrieve,
update, delete, delete_by_filter, archive, compress, count) over one Engram client. A collection is the scope
``{"collection": collection_name}``.

Results of ``retrieve`` are ``[{"id", "text", "metadata", "score", "created_at", "updated_at"}]``
(``score`` None when listing). Filters are Engram's filter language on metadata, e.g.
``{"type": "knowledge", "timestamp": {"$gte": cutoff}, "compressed": {"$ne": True}}``; metadata values
may be lists of strings, matched by ``{"tags": {"$in": ["python", "aws"]}}`` (any item) or
``{"tags": {"$contains": "python"}}``, and None.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any, TextIO

from engram_client.client import Engram
from engram_client.compat._common import chunks, iso
from engram_client.errors import NotFoundError
from engram_client.models import CompressionReport, Memory, MetadataValue

MAX_BATCH = 100  # memories per batch request (the API's limit)
MAX_PAGE = 100


class ProgressBar:
    """A one-line text progress bar: ``label [#####-----] done/total`` rewritten in place on ``stream``."""

    def __init__(self, total: int, label: str = "storing", stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def as_result(memory: Memory, score: float | None = None) -> dict[str, Any]:
    return {
        "id": memory.id,
        "text": memory.fact,
        "metadata": dict(memory.metadata),
        "score": score,
        "created_at": iso(memory.create_time),
        "updated_at": iso(memory.update_time),
    }


class MemoryAPI:
    """Texts with metadata in a named collection, over one ``Engram`` client (default: one from
    ``ENGRAM_URL`` / ``ENGRAM_API_KEY``). ``page_size``: memories per request when listing (1-100)."""

    def __init__(self, collection_name: str = "default", client: Engram | None = None, *, page_size: int = 100) -> None:
        self._owns_client = client is None
        self.page_size = max(1, min(page_size, MAX_PAGE))
        self.client = client or Engram()
        self.collection_name = collection_name
        self.scope = {"collection": collection_name}

    def store(self, text: str, metadata: Mapping[str, MetadataValue] | None = None) -> str:
        """Store one text (1-2,000 chars) with its metadata (≤ 20 keys); returns its id.
        ``POST /v1/memories``. Raises ``ValidationError``."""
        return self.client.memories.create(self.scope, text, metadata=metadata).id

    def store_batch(
        self,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, MetadataValue] | None] | None = None,
        batch_size: int = 100,
        show_progress: bool = True,
        progress_stream: TextIO | None = None,
    ) -> list[str]:
        """Store many texts, ``batch_size`` (1-100) per ``POST /v1/memories/batch``, with a progress bar
        on stderr (or ``progress_stream``) unless ``show_progress=False``. ``metadatas``: one per text.
        Returns the ids in order. Raises ``ValueError`` when the lengths differ, ``ValidationError``."""
        metadatas = list(metadatas) if metadatas is not None else [None] * len(texts)
        if len(metadatas) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(metadatas)} metadatas")
        items = [
            {"scope": self.scope, "fact": t, "metadata": dict(m or {})} for t, m in zip(texts, metadatas, strict=True)
        ]
        bar = ProgressBar(len(items), stream=progress_stream) if show_progress else None
        ids: list[str] = []
        for chunk in chunks(items, max(1, min(batch_size, MAX_BATCH))):
            ids += [scored.memory.id for scored in self.client.memories.batch(chunk).memories]
            if bar:
                bar.advance(len(chunk))
        if bar:
            bar.close()
        return ids

    def retrieve(self, query: str, top_k: int = 5, filter: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The ``top_k`` texts closest to ``query`` (1-100, best first, hybrid score in [0, 1]); with an
        empty query, the newest ``top_k`` (any number: pages are followed). ``POST /v1/memories/retrieve``."""
        if query.strip():
            found = self.client.memories.retrieve(self.scope, query, top_k=top_k, filter=filter)
            return [as_result(hit.memory, hit.score) for hit in found.memories]
        pager = self.client.memories.list(self.scope, filter=filter, page_size=max(1, min(top_k, self.page_size)))
        return [as_result(memory) for memory in islice(pager, top_k)]

    def update(self, id: str, text: str | None = None, metadata: Mapping[str, MetadataValue] | None = None) -> bool:
        """Change the text and/or merge ``metadata`` into the stored metadata (the keys given win, the
        others stay); False if the id does not exist. One ``PATCH /v1/memories/{id}``: the server merges
        under the memory's version, so a concurrent change is never lost (it raises ``ConflictError``).
        With neither argument, only checks that the id exists (``GET``)."""
        try:
            if text is None and metadata is None:
                return self.client.memories.get(id) is not None
            self.client.memories.update(id, fact=text, metadata=metadata)
        except NotFoundError:
            return False
        return True

    def delete(self, id: str) -> bool:
        """Delete one text (``DELETE /v1/memories/{id}``); False if it did not exist."""
        try:
            self.client.memories.delete(id)
        except NotFoundError:
            return False
        return True

    def delete_by_filter(self, filter: Mapping[str, Any]) -> int:
        """Delete the collection's texts matching ``filter`` (``{}``: all of them); returns how many.
        ``POST /v1/memories/purge`` with ``force``."""
        return self.client.memories.purge(scope=self.scope, filter=filter or None, force=True).purge_count

    def archive(self, filter: Mapping[str, Any] | None = None, to_collection: str | None = None) -> int:
        """Move the collection's texts matching ``filter`` (``{}`` or None: all) to the collection
        ``to_collection`` (default ``<collection_name>-archive``); returns how many moved. They keep their
        ids and history and get ``metadata.archived = true``; read them with
        ``MemoryAPI(to_collection)``. ``POST /v1/memories/archive`` with ``force``. Raises
        ``ValidationError`` when ``to_collection`` is this collection."""
        target = {"collection": to_collection or f"{self.collection_name}-archive"}
        return self.client.memories.archive(self.scope, target, filter=filter or None, force=True).archive_count

    def compress(
        self,
        max_texts: int,
        filter: Mapping[str, Any] | None = None,
        *,
        window_hours: int = 24,
        timeout: float = 300.0,
    ) -> CompressionReport:
        """Summarize the collection's texts matching ``filter`` (``{}`` or None: all) so that about
        ``max_texts`` remain, day by day (windows of ``window_hours`` of creation time), and wait for it
        (up to ``timeout`` seconds); returns the report (``memories_before`` / ``memories_after``...).
        The new texts have ``metadata`` ``compressed: true`` (exclude them with
        ``{"compressed": {"$ne": True}}``) and the ids they replaced in ``source.memory_ids``.
        ``POST /v1/memories/compress`` with ``group_by: time_window``. Raises ``ValidationError``,
        ``OperationFailedError`` when it failed, ``OperationTimeoutError`` after ``timeout``."""
        operation = self.client.memories.compress(
            self.scope, max_texts, group_by="time_window", window_hours=window_hours, filter=filter or None
        )
        finished = self.client.operations.wait(operation, timeout=timeout).raise_for_status()
        report = finished.result.compression if finished.result is not None else None
        return report or CompressionReport()

    def count(self, filter: Mapping[str, Any] | None = None) -> int:
        """How many live (unexpired) texts of the collection match ``filter`` (``{}`` or None: all):
        one ``POST /v1/memories/count``."""
        return self.client.memories.count(self.scope, filter=filter or None).count

    def close(self) -> None:
        """Close the client if this instance made it."""
        if self._owns_client:
            self.client.close()
