"""The embedded ``VectorIndex`` of the local stack and the tests (DESIGN.md §4): exact cosine search in
memory, persisted as one JSON file under ``<data_dir>/index/``.

Not shipped in the Lambda layer (it needs ``numpy``). File format (``documents.json``)::

    {"format": 1, "documents": [{"tenant_id", "memory_id", "scope_hash", "fact", "topics",
      "embedding_model", "revision_id", "update_time", "expire_time", "embedding"}]}

``embedding`` is base64 of little-endian float32 (as in DynamoDB); times are ISO 8601.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pathlib
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engram.clock import SystemClock
from engram.errors import ConfigurationError
from engram.ports import Clock, IndexDocument, IndexHit, IndexQuery

try:  # POSIX only: serialises writers in different processes sharing one data dir.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
FILE_NAME = "documents.json"
_STALE = (-1, -1, -1)  # a file state that never matches, forcing a reload


@dataclass(frozen=True)
class _Entry:
    doc: IndexDocument
    unit: np.ndarray  # the embedding as float32, scaled to unit length (zeros stay zeros)


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def _encode(doc: IndexDocument) -> dict[str, Any]:
    raw = np.asarray(doc.embedding, dtype="<f4").tobytes()
    return {
        "tenant_id": doc.tenant_id,
        "memory_id": doc.memory_id,
        "scope_hash": doc.scope_hash,
        "fact": doc.fact,
        "topics": list(doc.topics),
        "embedding_model": doc.embedding_model,
        "revision_id": doc.revision_id,
        "update_time": doc.update_time.isoformat(),
        "expire_time": doc.expire_time.isoformat() if doc.expire_time else None,
        "embedding": base64.b64encode(raw).decode("ascii"),
    }


def _decode(item: dict[str, Any]) -> IndexDocument:
    vector = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
    return IndexDocument(
        tenant_id=item["tenant_id"],
        memory_id=item["memory_id"],
        scope_hash=item["scope_hash"],
        fact=item["fact"],
        topics=list(item["topics"]),
        embedding=[float(x) for x in vector],
        embedding_model=item["embedding_model"],
        revision_id=item["revision_id"],
        update_time=datetime.fromisoformat(item["update_time"]),
        expire_time=datetime.fromisoformat(item["expire_time"]) if item["expire_time"] else None,
    )


class LocalIndex:
    """``VectorIndex`` held in memory with exact (brute-force) cosine search.

    ``data_dir``: the local data folder; the index lives in ``<data_dir>/index/documents.json``, is
    loaded on construction and rewritten atomically (temporary file, then ``os.replace``) after every
    change, so a restarted local stack keeps its index. Another ``LocalIndex`` on the same folder (in
    this or another process) sees the changes: the file is re-read whenever it changed on disk.
    ``clock``: decides which documents have expired (default: the system clock, UTC).

    Thread safe. Embeddings are kept as float32, as DynamoDB stores them. Vectors of different
    embedding models (and so dimensions) never mix: a query only sees documents of its
    ``embedding_model`` and its dimension.

    Errors: ``ConfigurationError`` if the index file cannot be read.
    """

    def __init__(self, data_dir: str | pathlib.Path, clock: Clock | None = None) -> None:
        self.directory = pathlib.Path(data_dir) / "index"
        self.path = self.directory / FILE_NAME
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._file_state: tuple[int, int, int] | None = None
        with self._lock:
            self._reload_if_changed()

    # -- the port --

    def ensure_index(self) -> None:
        """Create the index folder (idempotent)."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        """Store ``documents``, replacing any earlier one of the same tenant and memory id."""
        if not documents:
            return
        with self._writing():
            for doc in documents:
                self._entries[(doc.tenant_id, doc.memory_id)] = _Entry(doc, _unit(doc.embedding))

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        """Remove ``memory_ids`` of ``tenant_id``; unknown ids are ignored."""
        if not memory_ids:
            return
        with self._writing():
            for memory_id in memory_ids:
                self._entries.pop((tenant_id, memory_id), None)

    def search(self, query: IndexQuery) -> list[IndexHit]:
        """The ``query.k`` nearest live documents passing every filter (tenant, scope, model,
        dimension, topics, excluded ids, expiry), by cosine similarity in [-1, 1] descending, then
        memory id. Filters are applied before choosing the top ``k``."""
        if query.k <= 0:
            return []
        vector = _unit(query.vector)
        now = _utc(self._clock.now())
        topics = set(query.topics or ())
        excluded = set(query.exclude_ids)
        with self._lock:
            self._reload_if_changed()
            candidates = [
                entry
                for (tenant_id, memory_id), entry in self._entries.items()
                if tenant_id == query.tenant_id
                and entry.doc.scope_hash == query.scope_hash
                and entry.doc.embedding_model == query.embedding_model
                and entry.unit.shape == vector.shape
                and memory_id not in excluded
                and (not topics or not topics.isdisjoint(entry.doc.topics))
                and (entry.doc.expire_time is None or _utc(entry.doc.expire_time) > now)
            ]
        if not candidates:
            return []
        scores = np.stack([entry.unit for entry in candidates]) @ vector
        hits = [
            IndexHit(
                memory_id=entry.doc.memory_id,
                revision_id=entry.doc.revision_id,
                score=max(-1.0, min(1.0, float(score))),
            )
            for entry, score in zip(candidates, scores, strict=True)
        ]
        hits.sort(key=lambda h: (-h.score, h.memory_id))
        return hits[: query.k]

    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        """``{memory_id: revision_id}`` for the ids of ``tenant_id`` held (expired ones too)."""
        with self._lock:
            self._reload_if_changed()
            return {
                memory_id: entry.doc.revision_id
                for memory_id in memory_ids
                if (entry := self._entries.get((tenant_id, memory_id))) is not None
            }

    # -- local extras --

    def clear(self) -> None:
        """Remove every document of every tenant (before a full reindex)."""
        with self._writing():
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            self._reload_if_changed()
            return len(self._entries)

    # -- persistence --

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the thread lock (and the folder's file lock), refresh from disk, let the caller change
        ``_entries``, then persist atomically."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._file_lock():
                self._reload_if_changed()
                try:
                    yield
                    self._persist()
                except BaseException:
                    self._file_state = _STALE  # drop unsaved changes: re-read the file next time
                    raise

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload_if_changed(self) -> None:
        state = self._stat()
        if state == self._file_state:
            return
        entries: dict[tuple[str, str], _Entry] = {}
        if state is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("format") != FORMAT_VERSION:
                    raise ValueError(f"unsupported format {data.get('format')!r}")
                for item in data["documents"]:
                    doc = _decode(item)
                    entries[(doc.tenant_id, doc.memory_id)] = _Entry(doc, _unit(doc.embedding))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigurationError(f"cannot read the local index {self.path}: {e}") from e
        self._entries = entries
        self._file_state = state

    def _persist(self) -> None:
        payload = {
            "format": FORMAT_VERSION,
            "documents": [_encode(entry.doc) for entry in self._entries.values()],
        }
        fd, temp_name = tempfile.mkstemp(dir=self.directory, prefix=".documents-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        self._file_state = self._stat()
