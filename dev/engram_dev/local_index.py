"""The embedded ``VectorIndex`` of the local stack and the tests: exact search in memory,
persisted as one JSON file under ``<data_dir>/index/``.

Three modes, as on OpenSearch (see ``engram.ports.VectorIndex`` for the scores): ``dense`` is exact
cosine search; ``lexical`` is BM25 (``bm25s``, Lucene's formula, k1 = 1.2, b = 0.75) over the facts
analyzed like OpenSearch's ``english`` analyzer (``analyze``); ``hybrid`` takes the top ``k`` of each
and fuses them with ``fuse_min_max``, exactly as OpenSearch's normalization processor does. BM25's
corpus statistics are those of the query's scope (tenant, scope, embedding model).

Not shipped in the Lambda layer (it needs ``numpy``, ``bm25s`` and ``PyStemmer``, the ``local`` extra):
``engram.wiring`` imports it only with ``ENGRAM_INDEX_BACKEND=local``.
File format (``documents.json``)::

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
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bm25s
import numpy as np
import Stemmer
from engram.clock import SystemClock
from engram.errors import ConfigurationError
from engram.models.filters import Node, matches
from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.ports import Clock

try:  # POSIX only: serialises writers in different processes sharing one data dir.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
FILE_NAME = "documents.json"
_STALE = (-1, -1, -1)  # a file state that never matches, forcing a reload


#: BM25 parameters (OpenSearch's defaults).
BM25_K1 = 1.2
BM25_B = 0.75
#: Hybrid fusion: weights of the lexical and the dense list (the order of OpenSearch's sub-queries),
#: and the rescaled score of a list's minimum (OpenSearch's ``min_max`` never gives 0).
HYBRID_WEIGHTS = (0.5, 0.5)
MIN_MAX_FLOOR = 0.001

#: Lucene's English stop words (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``).
ENGLISH_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_TOKEN = re.compile(r"\w+(?:[.'\u2019]\w+)*")
_stemmers = threading.local()  # a PyStemmer stemmer is not thread safe: one per thread


def analyze(text: str) -> list[str]:
    """The terms of ``text`` as OpenSearch's ``english`` analyzer makes them (approximately: words are
    split by a regular expression, not Unicode's word-break rules): words, a trailing possessive
    ``'s`` removed, lower case, English stop words removed, Porter stems (words of up to 2 letters
    are kept as they are, as Lucene's Porter stemmer does)."""
    stemmer = getattr(_stemmers, "porter", None)
    if stemmer is None:
        stemmer = _stemmers.porter = Stemmer.Stemmer("porter")
    terms = []
    for token in _TOKEN.findall(text.replace("\u2019", "'")):
        word = token.lower()
        if word.endswith("'s"):
            word = word[:-2]
        if word and word not in ENGLISH_STOP_WORDS:
            terms.append(stemmer.stemWord(word) if len(word) > 2 else word)
    return terms


def fuse_min_max(
    lexical: Sequence[IndexHit], dense: Sequence[IndexHit], weights: tuple[float, float] = HYBRID_WEIGHTS
) -> list[IndexHit]:
    """Hybrid scores from a lexical and a dense list, as OpenSearch's ``normalization-processor`` with
    ``min_max`` and ``arithmetic_mean`` computes them: each list's scores are rescaled to
    ``(s - min) / (max - min)`` (its minimum becomes ``MIN_MAX_FLOOR``; a list whose scores are all
    equal becomes 1.0), then a memory's score is the weighted mean over the lists that hold it.
    Sorted by score descending, then memory id."""
    totals: dict[str, list[float]] = {}  # memory_id -> [weighted sum, sum of weights]
    revisions: dict[str, str] = {}
    for hits, weight in ((lexical, weights[0]), (dense, weights[1])):
        if not hits:
            continue
        low, high = min(h.score for h in hits), max(h.score for h in hits)
        for hit in hits:
            rescaled = 1.0 if high == low else (hit.score - low) / (high - low) or MIN_MAX_FLOOR
            total = totals.setdefault(hit.memory_id, [0.0, 0.0])
            total[0] += weight * rescaled
            total[1] += weight
            revisions[hit.memory_id] = hit.revision_id
    fused = [
        IndexHit(memory_id=memory_id, revision_id=revisions[memory_id], score=weighted / weights_sum)
        for memory_id, (weighted, weights_sum) in totals.items()
        if weights_sum > 0
    ]
    fused.sort(key=lambda h: (-h.score, h.memory_id))
    return fused


@dataclass(frozen=True)
class _Entry:
    doc: IndexDocument
    unit: np.ndarray  # the embedding as float32, scaled to unit length (zeros stay zeros)
    terms: tuple[str, ...] = ()  # analyze(doc.fact)

    @classmethod
    def of(cls, doc: IndexDocument) -> _Entry:
        return cls(doc, _unit(doc.embedding), tuple(analyze(doc.fact)))


@dataclass
class _Lexicon:
    """A BM25 index of one scope's documents (tenant, scope hash, embedding model), valid while the
    index's ``generation`` is unchanged."""

    generation: int
    positions: dict[str, int] = field(default_factory=dict)  # memory_id -> row in the BM25 index
    bm25: Any = None  # bm25s.BM25, None when no document has a term


def _passes(node: Node, doc: IndexDocument) -> bool:
    """The request's metadata/time filter, evaluated like DynamoDB does (``engram.models.filters``)."""
    create_time = _utc(doc.create_time or doc.update_time)
    return matches(node, doc.metadata, create_time, _utc(doc.update_time))


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
        "metadata": dict(doc.metadata),
        "create_time": doc.create_time.isoformat() if doc.create_time else None,
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
        metadata=dict(item.get("metadata") or {}),
        create_time=datetime.fromisoformat(item["create_time"]) if item.get("create_time") else None,
    )


def _cosine_hits(candidates: Sequence[_Entry], vector: np.ndarray) -> list[IndexHit]:
    scores = np.stack([entry.unit for entry in candidates]) @ vector
    return [
        IndexHit(memory_id=entry.doc.memory_id, revision_id=entry.doc.revision_id, score=max(-1.0, min(1.0, float(s))))
        for entry, s in zip(candidates, scores, strict=True)
    ]


def _top(hits: list[IndexHit], k: int) -> list[IndexHit]:
    """The ``k`` best hits: score descending, then memory id."""
    return sorted(hits, key=lambda h: (-h.score, h.memory_id))[:k]


class LocalIndex:
    """``VectorIndex`` held in memory with exact (brute-force) search in each mode.

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
        self._generation = 0  # bumped whenever _entries may have changed
        self._lexicons: dict[tuple[str, str, str], _Lexicon] = {}
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
                self._entries[(doc.tenant_id, doc.memory_id)] = _Entry.of(doc)

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        """Remove ``memory_ids`` of ``tenant_id``; unknown ids are ignored."""
        if not memory_ids:
            return
        with self._writing():
            for memory_id in memory_ids:
                self._entries.pop((tenant_id, memory_id), None)

    def search(self, query: IndexQuery) -> list[IndexHit]:
        """The ``query.k`` best live documents passing every filter (tenant, scope, model, dimension,
        topics, excluded ids, expiry), ranked by ``query.mode`` (scores: see ``VectorIndex``), then by
        memory id. Filters are applied before choosing the top ``k``, in every mode."""
        if query.k <= 0:
            return []
        dense = query.mode != "lexical"
        vector = _unit(query.vector) if dense else None
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
                and (vector is None or entry.unit.shape == vector.shape)
                and memory_id not in excluded
                and (not topics or not topics.isdisjoint(entry.doc.topics))
                and (entry.doc.expire_time is None or _utc(entry.doc.expire_time) > now)
                and (query.filter is None or _passes(query.filter, entry.doc))
            ]
            lexical = self._bm25_hits(query, candidates) if query.mode != "dense" and candidates else []
        if not candidates:
            return []
        dense_hits = _top(_cosine_hits(candidates, vector), query.k) if vector is not None else []
        if query.mode == "dense":
            return dense_hits
        if query.mode == "lexical":
            return _top(lexical, query.k)
        return fuse_min_max(_top(lexical, query.k), dense_hits)[: query.k]

    def _bm25_hits(self, query: IndexQuery, candidates: list[_Entry]) -> list[IndexHit]:
        """BM25 hits (score > 0) among ``candidates`` for ``query.text``; the lock is held."""
        terms = analyze(query.text or "")
        if not terms:
            return []
        lexicon = self._lexicon(query.tenant_id, query.scope_hash, query.embedding_model)
        if lexicon.bm25 is None:
            return []
        known = [t for t in terms if t in lexicon.bm25.vocab_dict and t != ""]
        if not known:
            return []
        scores = lexicon.bm25.get_scores(known)
        hits = []
        for entry in candidates:
            score = float(scores[lexicon.positions[entry.doc.memory_id]])
            if score > 0:
                hits.append(IndexHit(memory_id=entry.doc.memory_id, revision_id=entry.doc.revision_id, score=score))
        return hits

    def _lexicon(self, tenant_id: str, scope_hash: str, embedding_model: str) -> _Lexicon:
        """The BM25 index of one scope, rebuilt after any change to the index; the lock is held."""
        key = (tenant_id, scope_hash, embedding_model)
        lexicon = self._lexicons.get(key)
        if lexicon is not None and lexicon.generation == self._generation:
            return lexicon
        if any(cached.generation != self._generation for cached in self._lexicons.values()):
            self._lexicons = {k: v for k, v in self._lexicons.items() if v.generation == self._generation}
        lexicon = _Lexicon(self._generation)
        corpus: list[list[str]] = []
        for (entry_tenant, memory_id), entry in self._entries.items():
            if (
                entry_tenant == tenant_id
                and entry.doc.scope_hash == scope_hash
                and entry.doc.embedding_model == embedding_model
            ):
                lexicon.positions[memory_id] = len(corpus)
                corpus.append(list(entry.terms))
        if any(corpus):
            lexicon.bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
            lexicon.bm25.index(corpus, show_progress=False)
        self._lexicons[key] = lexicon
        return lexicon

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
                finally:
                    self._generation += 1

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
                    entries[(doc.tenant_id, doc.memory_id)] = _Entry.of(doc)
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigurationError(f"cannot read the local index {self.path}: {e}") from e
        self._entries = entries
        self._file_state = state
        self._generation += 1

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
