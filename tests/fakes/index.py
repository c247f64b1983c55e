"""``FakeIndex``: the ``VectorIndex`` port in memory, fed by the fake memories' stream.

It passes the behaviour suite every adapter passes (``tests/unit/index/test_vector_index_behaviour.py``):
filters on tenant, scope hash, embedding model (and vector size), topics, excluded ids, the metadata/time
filter and expiry (by its ``clock``) before the top ``k``; ``dense`` is exact cosine, ``lexical`` is BM25
(Lucene's formula, k1 and b of ``engram.models.ranking``, corpus statistics of the query's scope) over
facts analysed like the English analyzer (PyStemmer's Porter stems), ``hybrid`` is the port's min-max
fusion of the two lists' top ``fusion_depth(k)`` (written here independently of ``fuse_min_max``).
``lag = True`` holds stream changes back until ``catch_up()``. ``connect_stream(memories, index)``
mirrors the DynamoDB stream through ``engram.logic.indexing.apply_stream_change``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import Stemmer
from engram.logic.indexing import apply_stream_change
from engram.models.filters import matches
from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.ranking import BM25_B, BM25_K1, fusion_depth, hybrid_weights
from engram.ports import Clock

from tests.fakes.models import FixedClock
from tests.fakes.store import FakeMemories, StreamRecord

#: What ``min_max`` makes of a list's minimum (OpenSearch never gives 0).
MIN_MAX_FLOOR = 0.001
#: The stop words of the English analyzer (Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``).
STOP_WORDS = frozenset(
    {
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
    }
)
_WORD = re.compile(r"\w+(?:[.']\w+)*")


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def _terms(text: str) -> list[str]:
    """The English analyzer, simply: words, lower case, a trailing possessive ``'s`` dropped, stop words
    dropped, Porter stems (words of one or two letters kept as they are)."""
    stemmer = Stemmer.Stemmer("porter")
    terms = []
    for word in _WORD.findall(text.replace("\u2019", "'").lower()):
        word = word.removesuffix("'s")
        if word and word not in STOP_WORDS:
            terms.append(stemmer.stemWord(word) if len(word) > 2 else word)
    return terms


def _bm25(text: str, candidates: Sequence[IndexDocument], corpus: Sequence[IndexDocument]) -> dict[str, float]:
    """``{memory_id: score}`` of the ``candidates`` sharing a term with ``text``: the sum over the query's
    terms of ``idf * tf / (tf + k1 * (1 - b + b * length / mean length))`` with
    ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``; ``N``, ``df`` and the mean length are ``corpus``'s."""
    query_terms = _terms(text)
    analysed = {doc.memory_id: _terms(doc.fact) for doc in corpus}
    total_length = sum(len(terms) for terms in analysed.values())
    if not query_terms or not total_length:
        return {}
    mean_length = total_length / len(analysed)
    frequency = Counter(term for terms in analysed.values() for term in set(terms))
    scores = {}
    for doc in candidates:
        terms = analysed[doc.memory_id]
        counts = Counter(terms)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / mean_length)
        score = sum(
            math.log(1 + (len(analysed) - frequency[term] + 0.5) / (frequency[term] + 0.5))
            * counts[term]
            / (counts[term] + norm)
            for term in query_terms
            if counts[term]
        )
        if score > 0:
            scores[doc.memory_id] = score
    return scores


def _min_max(scores: dict[str, float]) -> dict[str, float]:
    """Rescale to [0.001, 1] as the port describes: ``(s - min) / (max - min)``, the minimum becoming
    0.001, all equal → 1.0."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {m: (s - low) / (high - low) or MIN_MAX_FLOOR for m, s in scores.items()}


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


class FakeIndex:
    """``VectorIndex`` in memory, exact cosine. ``lag = True`` holds stream changes until ``catch_up()``.

    ``clock`` decides which documents have expired: pass the test's clock (default: one fixed at ``START``)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or FixedClock()
        self.documents: dict[tuple[str, str], IndexDocument] = {}
        self.queries: list[IndexQuery] = []
        self.lag = False
        self.pending: list[StreamRecord] = []

    # --- the port ---

    def ensure_index(self) -> None:
        return None

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        for doc in documents:
            self.documents[(doc.tenant_id, doc.memory_id)] = doc

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        for memory_id in memory_ids:
            self.documents.pop((tenant_id, memory_id), None)

    def search(self, query: IndexQuery) -> list[IndexHit]:
        """Filters first (tenant, scope, model, vector size unless ``lexical``, topics, excluded ids, the
        metadata/time filter, expiry), then the top ``k`` by mode: ``dense`` exact cosine; ``lexical`` BM25
        with the scope's corpus statistics; ``hybrid`` the port's min-max fusion of those two lists."""
        self.queries.append(query)
        if query.k <= 0:
            return []
        now = _utc(self.clock.now())
        topics = set(query.topics or ())
        excluded = set(query.exclude_ids)
        scope = [
            doc
            for (tenant_id, _), doc in self.documents.items()
            if tenant_id == query.tenant_id
            and doc.scope_hash == query.scope_hash
            and doc.embedding_model == query.embedding_model
        ]
        docs = [
            doc
            for doc in scope
            if doc.memory_id not in excluded
            and (query.mode == "lexical" or len(doc.embedding) == len(query.vector))
            and (not topics or not topics.isdisjoint(doc.topics))
            and (doc.expire_time is None or _utc(doc.expire_time) > now)
            and (
                query.filter is None
                or matches(query.filter, doc.metadata, _utc(doc.create_time or doc.update_time), _utc(doc.update_time))
            )
        ]
        dense = {} if query.mode == "lexical" else {d.memory_id: _cosine(d.embedding, query.vector) for d in docs}
        lexical = {} if query.mode == "dense" else _bm25(query.text or "", docs, scope)
        depth = fusion_depth(query.k) if query.mode == "hybrid" else query.k
        dense, lexical = self._top(dense, depth), self._top(lexical, depth)
        if query.mode == "dense":
            scores = dense
        elif query.mode == "lexical":
            scores = lexical
        else:  # weighted mean; a list without the memory gives it 0
            weights = hybrid_weights(query.embedding_model)
            rescaled_dense, rescaled_lexical = _min_max(dense), _min_max(lexical)
            scores = {
                memory_id: weights.lexical * rescaled_lexical.get(memory_id, 0.0)
                + weights.dense * rescaled_dense.get(memory_id, 0.0)
                for memory_id in rescaled_dense.keys() | rescaled_lexical.keys()
            }
        revision = {d.memory_id: d.revision_id for d in docs}
        hits = [IndexHit(memory_id=m, revision_id=revision[m], score=s) for m, s in scores.items()]
        hits.sort(key=lambda h: (-h.score, h.memory_id))
        return hits[: query.k]

    @staticmethod
    def _top(scores: dict[str, float], k: int) -> dict[str, float]:
        return dict(sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k])

    def indexed_ids(self, tenant_id: str | None = None) -> Iterator[tuple[str, str]]:
        yield from [key for key in self.documents if tenant_id is None or key[0] == tenant_id]

    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        return {
            memory_id: doc.revision_id
            for memory_id in memory_ids
            if (doc := self.documents.get((tenant_id, memory_id))) is not None
        }

    # --- the stream ---

    def receive(self, records: list[StreamRecord]) -> None:
        """A batch of stream records, applied at once unless the index lags."""
        if self.lag:
            self.pending.extend(records)
            return
        for new, old in records:
            apply_stream_change(self, new, old)

    def catch_up(self) -> None:
        """Stop lagging and apply every held-back record, in order."""
        self.lag = False
        pending, self.pending = self.pending, []
        self.receive(pending)


def connect_stream(memories: FakeMemories, index: FakeIndex) -> None:
    """Mirror the DynamoDB stream: every memory write and deletion reaches ``index`` through
    ``apply_stream_change`` (held back while ``index.lag`` is on)."""
    memories.listeners.append(index.receive)
