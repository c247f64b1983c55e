"""The embedded ``VectorIndex`` of the local stack and the tests: exact search, stored in SQLite under
``<data_dir>/index/``.

Three modes, as on OpenSearch (see ``engram.ports.VectorIndex`` for the scores): ``dense`` is exact
cosine search; ``lexical`` is BM25 (``bm25s``, Lucene's formula, k1 and b of ``engram.models.ranking``)
over the facts analyzed like OpenSearch's ``english`` analyzer (``analyze``); ``hybrid`` takes the top
``fusion_depth(k)`` of each and fuses them with ``engram.models.ranking.fuse_min_max`` (the weights of
the query's embedding model), exactly as OpenSearch's normalization processor does, then keeps the top
``k``. BM25's corpus statistics are those of the query's scope (tenant, scope, embedding model).

Not shipped in the Lambda layer (it needs ``numpy``, ``bm25s`` and ``PyStemmer``, the ``local`` extra):
``engram.wiring`` imports it only with ``ENGRAM_INDEX_BACKEND=local``.

File format (``index.sqlite3``, ``FORMAT_VERSION`` 2, WAL journal)::

    documents(tenant_id, memory_id, scope_hash, embedding_model, revision_id, fact, topics, metadata,
              update_time, expire_time, create_time, embedding)   -- primary key (tenant_id, memory_id),
                                                                     indexed by scope
    scopes(tenant_id, scope_hash, embedding_model, version)       -- bumped by every write to the scope
    meta(key, value)                                              -- format

``embedding`` is little-endian float32 bytes (as in DynamoDB); ``topics`` and ``metadata`` are JSON;
times are ISO 8601. (Format 1, one ``documents.json`` rewritten whole on every write, is not read: the
local stack derives its index from the table at start.)
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import bm25s
import numpy as np
import Stemmer
from engram.clock import SystemClock
from engram.errors import ConfigurationError
from engram.models.filters import Node, matches
from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.ranking import BM25_B, BM25_K1, fuse_min_max, fusion_depth, hybrid_weights
from engram.ports import Clock

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


@dataclass(frozen=True)
class _Entry:
    doc: IndexDocument  # without its embedding (``unit`` holds it)
    unit: np.ndarray  # the embedding as float32, scaled to unit length (zeros stay zeros)
    terms: tuple[str, ...] = ()  # analyze(doc.fact)

    @classmethod
    def of(cls, doc: IndexDocument, vector: np.ndarray | None = None) -> _Entry:
        raw = np.asarray(doc.embedding, dtype=np.float32) if vector is None else vector
        return cls(replace(doc, embedding=[]), _unit(raw), tuple(analyze(doc.fact)))


@dataclass
class _Scope:
    """The cached documents of one scope (tenant, scope hash, embedding model), valid while the scope's
    ``version`` in the store is this one; the BM25 index is built on first lexical use."""

    version: int
    entries: dict[str, _Entry] = field(default_factory=dict)  # memory_id -> entry
    lexicon: _Lexicon | None = None


@dataclass
class _Lexicon:
    """A BM25 index of one scope's documents."""

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


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(doc: IndexDocument) -> tuple[Any, ...]:
    """The ``documents`` row of ``doc`` (column order of ``_SCHEMA``)."""
    return (
        doc.tenant_id,
        doc.memory_id,
        doc.scope_hash,
        doc.embedding_model,
        doc.revision_id,
        doc.fact,
        json.dumps(list(doc.topics)),
        json.dumps(dict(doc.metadata)),
        doc.update_time.isoformat(),
        _time(doc.expire_time),
        _time(doc.create_time),
        np.asarray(doc.embedding, dtype="<f4").tobytes(),
    )


def _entry(row: Sequence[Any]) -> _Entry:
    """The cached entry of a ``documents`` row (``_COLUMNS`` order)."""
    tenant_id, memory_id, scope_hash, model, revision_id, fact, topics, metadata, update, expire, create, blob = row
    doc = IndexDocument(
        tenant_id=tenant_id,
        memory_id=memory_id,
        scope_hash=scope_hash,
        fact=fact,
        topics=list(json.loads(topics)),
        embedding=[],
        embedding_model=model,
        revision_id=revision_id,
        update_time=datetime.fromisoformat(update),
        expire_time=datetime.fromisoformat(expire) if expire else None,
        metadata=dict(json.loads(metadata)),
        create_time=datetime.fromisoformat(create) if create else None,
    )
    return _Entry(doc, _unit(np.frombuffer(blob, dtype="<f4")), tuple(analyze(fact)))


def _top_cosine(candidates: Sequence[_Entry], vector: np.ndarray, k: int) -> list[IndexHit]:
    """The ``k`` candidates nearest to ``vector`` (cosine, clipped to [-1, 1]), score descending, then
    memory id. Only the best ``k`` (and any tied with the ``k``-th) become ``IndexHit``s: building one per
    candidate was most of an exact search's time."""
    scores = np.clip(np.stack([entry.unit for entry in candidates]) @ vector, -1.0, 1.0)
    if k < len(scores):
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]  # the k-th best score
        chosen = np.flatnonzero(scores >= kth).tolist()  # the best k and every tie of the k-th
    else:
        chosen = list(range(len(scores)))
    hits = [
        IndexHit(
            memory_id=candidates[i].doc.memory_id, revision_id=candidates[i].doc.revision_id, score=float(scores[i])
        )
        for i in chosen
    ]
    return _top(hits, k)


def _top(hits: list[IndexHit], k: int) -> list[IndexHit]:
    """The ``k`` best hits: score descending, then memory id."""
    return sorted(hits, key=lambda h: (-h.score, h.memory_id))[:k]


FORMAT_VERSION = 2
FILE_NAME = "index.sqlite3"
_COLUMNS = (
    "tenant_id, memory_id, scope_hash, embedding_model, revision_id, fact, topics, metadata, update_time,"
    " expire_time, create_time, embedding"
)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS documents (tenant_id TEXT NOT NULL, memory_id TEXT NOT NULL,"
    " scope_hash TEXT NOT NULL, embedding_model TEXT NOT NULL, revision_id TEXT NOT NULL, fact TEXT NOT NULL,"
    " topics TEXT NOT NULL, metadata TEXT NOT NULL, update_time TEXT NOT NULL, expire_time TEXT,"
    " create_time TEXT, embedding BLOB NOT NULL, PRIMARY KEY (tenant_id, memory_id))",
    "CREATE INDEX IF NOT EXISTS documents_by_scope ON documents (tenant_id, scope_hash, embedding_model)",
    "CREATE TABLE IF NOT EXISTS scopes (tenant_id TEXT NOT NULL, scope_hash TEXT NOT NULL,"
    " embedding_model TEXT NOT NULL, version INTEGER NOT NULL,"
    " PRIMARY KEY (tenant_id, scope_hash, embedding_model)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))
ScopeKey = tuple[str, str, str]  # tenant id, scope hash, embedding model


class LocalIndex:
    """``VectorIndex`` in an SQLite file with exact (brute-force) search in each mode.

    ``data_dir``: the local data folder; the index is ``<data_dir>/index/index.sqlite3`` (made on first
    use). Every ``upsert``/``delete`` is one SQLite transaction writing only the documents it names (WAL
    journal: a process killed midway leaves the index as it was before or after a call, never half of
    it), so a restarted stack keeps its index and the cost of a write does not grow with the index.
    Another ``LocalIndex`` on the same folder, in this or another process, sees the changes: each scope
    (tenant, scope hash, embedding model) has a version bumped by every write to it, and a search reloads
    a scope it holds in memory when the version moved. ``clock``: decides which documents have expired
    (default: the system clock, UTC).

    Searching keeps the searched scopes in memory (the unit vectors as float32 and the analyzed facts);
    a write by this instance updates them in place. Thread safe. Vectors of different embedding models (and
    so dimensions) never mix: a query only sees documents of its ``embedding_model`` and its dimension.

    Errors: ``ConfigurationError`` if the index file cannot be read (not an index of this format).
    """

    def __init__(self, data_dir: str | pathlib.Path, clock: Clock | None = None) -> None:
        self.directory = pathlib.Path(data_dir) / "index"
        self.path = self.directory / FILE_NAME
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._scopes: dict[ScopeKey, _Scope] = {}
        self._db: sqlite3.Connection | None = None
        with self._lock:
            if self.path.exists():
                self._connect()

    # -- the port --

    def ensure_index(self) -> None:
        """Create the index folder and file (idempotent)."""
        with self._lock:
            self._connect()

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        """Store ``documents``, replacing any earlier one of the same tenant and memory id (the last of
        a repeated id wins), in one transaction."""
        if not documents:
            return
        latest = {(doc.tenant_id, doc.memory_id): doc for doc in documents}
        rows = [_row(doc) for doc in latest.values()]
        with self._lock:
            with self._writing() as db:
                moved = self._current_scopes(db, list(latest))
                db.executemany(f"INSERT OR REPLACE INTO documents ({_COLUMNS}) VALUES ({_PLACEHOLDERS})", rows)
                touched = {(d.tenant_id, d.scope_hash, d.embedding_model) for d in latest.values()}
                versions = self._bump(db, touched | set(moved.values()))
            self._update_cache(versions, moved, list(latest.values()))

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        """Remove ``memory_ids`` of ``tenant_id`` in one transaction; unknown ids are ignored."""
        if not memory_ids:
            return
        keys = [(tenant_id, memory_id) for memory_id in dict.fromkeys(memory_ids)]
        with self._lock:
            with self._writing() as db:
                held = self._current_scopes(db, keys)
                db.executemany("DELETE FROM documents WHERE tenant_id = ? AND memory_id = ?", list(held))
                versions = self._bump(db, set(held.values()))
            self._update_cache(versions, held, [])

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
            scope = self._scope((query.tenant_id, query.scope_hash, query.embedding_model))
            candidates = [
                entry
                for memory_id, entry in scope.entries.items()
                if (vector is None or entry.unit.shape == vector.shape)
                and memory_id not in excluded
                and (not topics or not topics.isdisjoint(entry.doc.topics))
                and (entry.doc.expire_time is None or _utc(entry.doc.expire_time) > now)
                and (query.filter is None or _passes(query.filter, entry.doc))
            ]
            lexical = self._bm25_hits(query, scope, candidates) if query.mode != "dense" and candidates else []
        if not candidates:
            return []
        depth = fusion_depth(query.k) if query.mode == "hybrid" else query.k
        dense_hits = _top_cosine(candidates, vector, depth) if vector is not None else []
        if query.mode == "dense":
            return dense_hits
        if query.mode == "lexical":
            return _top(lexical, query.k)
        weights = hybrid_weights(query.embedding_model)
        return fuse_min_max(_top(lexical, depth), dense_hits, weights)[: query.k]

    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        """``{memory_id: revision_id}`` for the ids of ``tenant_id`` held (expired ones too)."""
        if not memory_ids:
            return {}
        with self._lock:
            db = self._connection()
            if db is None:
                return {}
            found: dict[str, str] = {}
            unique = list(dict.fromkeys(memory_ids))
            for start in range(0, len(unique), _SQL_VARIABLES):
                chunk = unique[start : start + _SQL_VARIABLES]
                rows = db.execute(
                    "SELECT memory_id, revision_id FROM documents WHERE tenant_id = ?"
                    f" AND memory_id IN ({','.join('?' * len(chunk))})",
                    (tenant_id, *chunk),
                )
                found.update(rows)
            return {memory_id: found[memory_id] for memory_id in memory_ids if memory_id in found}

    def indexed_ids(self, tenant_id: str | None = None) -> Iterator[tuple[str, str]]:
        """``(tenant_id, memory_id)`` of every document held (of ``tenant_id``, or of all), expired ones too."""
        with self._lock:
            db = self._connection()
            if db is None:
                return
            if tenant_id is None:
                rows = db.execute("SELECT tenant_id, memory_id FROM documents").fetchall()
            else:
                rows = db.execute(
                    "SELECT tenant_id, memory_id FROM documents WHERE tenant_id = ?", (tenant_id,)
                ).fetchall()
        yield from ((str(tenant), str(memory_id)) for tenant, memory_id in rows)

    # -- local extras --

    def clear(self) -> None:
        """Remove every document of every tenant (before a full reindex)."""
        with self._lock, self._writing() as db:
            db.execute("DELETE FROM documents")
            db.execute("UPDATE scopes SET version = version + 1")
        with self._lock:
            self._scopes.clear()

    def __len__(self) -> int:
        with self._lock:
            db = self._connection()
            return 0 if db is None else int(db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def close(self) -> None:
        """Close the file (a later call opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._scopes.clear()

    # -- the store --

    def _connect(self) -> sqlite3.Connection:
        """The open connection, opening (and creating) the file first if needed; the lock is held."""
        if self._db is not None:
            return self._db
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
            (found,) = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as e:
            raise ConfigurationError(f"cannot read the local index {self.path}: {e}") from e
        if found != str(FORMAT_VERSION):
            db.close()
            raise ConfigurationError(f"the local index {self.path} has format {found}; expected {FORMAT_VERSION}")
        self._db = db
        return db

    def _connection(self) -> sqlite3.Connection | None:
        """The connection if the index file exists (a reader never creates it); the lock is held."""
        if self._db is None and not self.path.exists():
            return None
        return self._connect()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: writers in other processes wait); the lock is held."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._scopes.clear()
            raise ConfigurationError(f"cannot write the local index {self.path}: {e}") from e
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._scopes.clear()
            raise

    @staticmethod
    def _current_scopes(db: sqlite3.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ScopeKey]:
        """The scope each of ``keys`` (tenant id, memory id) is stored in, for those stored."""
        held: dict[tuple[str, str], ScopeKey] = {}
        for tenant_id, memory_id in keys:
            row = db.execute(
                "SELECT scope_hash, embedding_model FROM documents WHERE tenant_id = ? AND memory_id = ?",
                (tenant_id, memory_id),
            ).fetchone()
            if row is not None:
                held[(tenant_id, memory_id)] = (tenant_id, row[0], row[1])
        return held

    @staticmethod
    def _bump(db: sqlite3.Connection, scopes: set[ScopeKey]) -> dict[ScopeKey, int]:
        """Increment the version of each of ``scopes``; returns the new versions."""
        versions = {}
        for key in scopes:
            (version,) = db.execute(
                "INSERT INTO scopes VALUES (?, ?, ?, 1) ON CONFLICT DO UPDATE SET version = version + 1"
                " RETURNING version",
                key,
            ).fetchone()
            versions[key] = int(version)
        return versions

    def _update_cache(
        self, versions: dict[ScopeKey, int], removed: dict[tuple[str, str], ScopeKey], added: list[IndexDocument]
    ) -> None:
        """After a write that moved the scopes of ``versions`` to those versions, removing the documents
        ``removed`` (key → the scope they were in) and storing ``added``: update the scopes held in memory,
        or drop one another writer changed meanwhile (it is reloaded on its next search); the lock is held."""
        for key, version in versions.items():
            scope = self._scopes.get(key)
            if scope is None or scope.version != version - 1:
                self._scopes.pop(key, None)
                continue
            for (_, memory_id), old in removed.items():
                if old == key:
                    scope.entries.pop(memory_id, None)
            for doc in added:
                if (doc.tenant_id, doc.scope_hash, doc.embedding_model) == key:
                    scope.entries[doc.memory_id] = _Entry.of(doc)
            scope.version, scope.lexicon = version, None

    def _scope(self, key: ScopeKey) -> _Scope:
        """The scope's documents, reloaded when the store's version moved; the lock is held."""
        db = self._connection()
        row = (
            None
            if db is None
            else db.execute(
                "SELECT version FROM scopes WHERE tenant_id = ? AND scope_hash = ? AND embedding_model = ?", key
            ).fetchone()
        )
        version = int(row[0]) if row else 0
        scope = self._scopes.get(key)
        if scope is not None and scope.version == version:
            return scope
        scope = _Scope(version)
        if db is not None and version:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE tenant_id = ? AND scope_hash = ? AND embedding_model = ?",
                key,
            )
            scope.entries = {row[1]: _entry(row) for row in rows}
        self._scopes[key] = scope
        return scope

    def _bm25_hits(self, query: IndexQuery, scope: _Scope, candidates: list[_Entry]) -> list[IndexHit]:
        """BM25 hits (score > 0) among ``candidates`` for ``query.text``; the lock is held."""
        terms = analyze(query.text or "")
        if not terms:
            return []
        lexicon = scope.lexicon if scope.lexicon is not None else self._lexicon(scope)
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

    @staticmethod
    def _lexicon(scope: _Scope) -> _Lexicon:
        """The BM25 index of the scope's documents (corpus statistics of the whole scope), kept until the
        scope changes; the lock is held."""
        lexicon = _Lexicon()
        corpus: list[list[str]] = []
        for memory_id, entry in scope.entries.items():
            lexicon.positions[memory_id] = len(corpus)
            corpus.append(list(entry.terms))
        if any(corpus):
            lexicon.bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B, method="lucene")
            lexicon.bm25.index(corpus, show_progress=False)
        scope.lexicon = lexicon
        return lexicon


#: Host parameters per SQLite statement (SQLite allows 32,766 since 3.32; well below it).
_SQL_VARIABLES = 500
