"""What the search index holds and how it is queried: the documents (a projection of the DynamoDB
memory item), the query with its in-search filters, the hits, and the retrieval modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

from engram.models.filters import Node


@dataclass(frozen=True)
class IndexDocument:
    """What the vector index holds for one memory (a projection of the DynamoDB item)."""

    tenant_id: str
    memory_id: str
    scope_hash: str
    fact: str
    topics: list[str]
    embedding: list[float]
    embedding_model: str
    revision_id: str
    update_time: datetime
    expire_time: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    create_time: datetime | None = None


@dataclass(frozen=True)
class IndexHit:
    """A search hit: the memory id, its revision in the index and its score (the cosine similarity in
    [-1, 1] for a dense search; see ``VectorIndex`` for the other modes)."""

    memory_id: str
    revision_id: str
    score: float


RetrievalMode = TypeAliasType("RetrievalMode", Literal["dense", "lexical", "hybrid"])
"""How ``VectorIndex.search`` ranks: by embedding (``dense``), by words (``lexical``, BM25) or both
(``hybrid``). See ``VectorIndex`` for the score of each."""


@dataclass(frozen=True)
class IndexQuery:
    """A search of one tenant's scope. The filters (tenant, scope, embedding model, topics, excluded
    ids, expiry) are always applied inside the search (never after it), in every mode, so ``k``
    results of the right scope come back whenever they exist.

    ``vector`` is the query's embedding (unused, and may be empty, in ``lexical`` mode); ``text`` is
    the query's words (used by ``lexical`` and ``hybrid``; None or blank matches no word).
    """

    tenant_id: str
    scope_hash: str
    vector: list[float]
    embedding_model: str
    k: int = 10
    topics: list[str] | None = None
    exclude_ids: list[str] = field(default_factory=list)
    text: str | None = None
    mode: RetrievalMode = "dense"
    filter: Node | None = None
    """The request's metadata/time filter (``engram.models.filters``), applied inside the search."""
