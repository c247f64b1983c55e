"""``FakeIndex``: the ``VectorIndex`` port in memory, fed by the fake memories' stream.

Filters on tenant, scope hash, embedding model, topics and excluded ids before the top ``k`` (no expiry
filter: that is the logic's job); ``dense`` is exact cosine, ``lexical`` counts shared words, ``hybrid``
is the port's min-max fusion of the two. ``lag = True`` holds stream changes back until ``catch_up()``.
``connect_stream(memories, index)`` mirrors the DynamoDB stream through
``engram.logic.indexing.apply_stream_change``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from engram.logic.indexing import apply_stream_change
from engram.models.filters import matches
from engram.models.index import IndexDocument, IndexHit, IndexQuery

from tests.fakes.store import FakeMemories, StreamRecord


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _min_max(scores: dict[str, float]) -> dict[str, float]:
    """Rescale to [0.001, 1] as the port describes (all equal → 1.0)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return dict.fromkeys(scores, 1.0)
    return {m: max(0.001, (s - low) / (high - low)) for m, s in scores.items()}


class FakeIndex:
    """``VectorIndex`` in memory, exact cosine. ``lag = True`` holds stream changes until ``catch_up()``."""

    def __init__(self) -> None:
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
        """Filters first (tenant, scope, model, topics, excluded ids; no expiry), then the top ``k`` by mode:
        ``dense`` exact cosine; ``lexical`` the number of distinct shared lower-case words (a stand-in for
        BM25); ``hybrid`` the port's min-max fusion of those two lists."""
        self.queries.append(query)
        topics = set(query.topics or ())
        excluded = set(query.exclude_ids)
        docs = [
            doc
            for (tenant_id, memory_id), doc in self.documents.items()
            if tenant_id == query.tenant_id
            and doc.scope_hash == query.scope_hash
            and doc.embedding_model == query.embedding_model
            and memory_id not in excluded
            and (not topics or not topics.isdisjoint(doc.topics))
            and (
                query.filter is None
                or matches(query.filter, doc.metadata, doc.create_time or doc.update_time, doc.update_time)
            )
        ]
        if query.k <= 0:
            return []
        dense = self._top(
            {d.memory_id: _cosine(d.embedding, query.vector) for d in docs if len(d.embedding) == len(query.vector)},
            query.k,
        )
        words = _words(query.text or "")
        lexical = self._top(
            {d.memory_id: float(n) for d in docs if (n := len(words & _words(d.fact))) > 0},
            query.k,
        )
        if query.mode == "dense":
            scores = dense
        elif query.mode == "lexical":
            scores = lexical
        else:
            fused: dict[str, list[float]] = {}
            for ranked in (dense, lexical):
                for memory_id, score in _min_max(ranked).items():
                    fused.setdefault(memory_id, []).append(score)
            scores = {memory_id: sum(s) / len(s) for memory_id, s in fused.items()}
        revision = {d.memory_id: d.revision_id for d in docs}
        hits = [IndexHit(memory_id=m, revision_id=revision[m], score=s) for m, s in scores.items()]
        hits.sort(key=lambda h: (-h.score, h.memory_id))
        return hits[: query.k]

    @staticmethod
    def _top(scores: dict[str, float], k: int) -> dict[str, float]:
        return dict(sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k])

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
