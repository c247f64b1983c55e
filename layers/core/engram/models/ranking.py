"""How retrieval ranks, shared by every ``VectorIndex`` adapter: BM25's parameters, the hybrid fusion
(candidate depth, min-max normalization, weighted arithmetic mean) and its weights per embedding model.

The OpenSearch adapter sends these as its index settings, hybrid query and search pipeline; the local
index computes the same arithmetic with ``fuse_min_max``. Every number here was chosen on LOCOMO's dev
conversations (``engram bench retrieval --sweep``; ``docs/benchmarks.md`` §1 has the tables and the
held-out check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engram.models.index import IndexHit

#: BM25 parameters of the ``fact`` field (Lucene's formula). k1 is Lucene's default; b is lowered from
#: Lucene's 0.75 to 0.3 because memories are short and of similar length, so length normalization mostly
#: adds noise: on LOCOMO dev lexical R@10 0.586 → 0.598 and R@1 0.287 → 0.326 (held out: 0.560 → 0.604).
BM25_K1 = 1.2
BM25_B = 0.3

#: The rescaled score of a list's minimum (OpenSearch's ``min_max`` never gives 0); a list whose scores
#: are all equal rescales to 1.0.
MIN_MAX_FLOOR = 0.001

#: Hybrid candidate depth: each list (BM25 and k-NN) keeps its best ``max(FUSION_DEPTH_MIN,
#: FUSION_DEPTH_FACTOR * k)`` before fusion, so a memory that is good in both lists but not in either's
#: top ``k`` still gets both scores. Against fusing each list's own top k, on LOCOMO dev with the weights
#: below: MiniLM R@5 0.545 → 0.577 and R@10 0.660 → 0.670 (R@1 0.326 → 0.312, R@20 0.735 → 0.715);
#: offline R@5 0.516 → 0.548, R@10 0.592 → 0.600.
FUSION_DEPTH_MIN = 50
FUSION_DEPTH_FACTOR = 5

OFFLINE_HASH_MODEL = "engram-offline-hash-v1"
MINILM_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class HybridWeights:
    """Weights of the hybrid mean, each in [0, 1], summing to 1 (as OpenSearch's ``arithmetic_mean``
    requires), in the order of the hybrid query's sub-queries: lexical (BM25), then dense (k-NN)."""

    lexical: float
    dense: float

    def __post_init__(self) -> None:
        if not (0 <= self.lexical <= 1 and 0 <= self.dense <= 1 and abs(self.lexical + self.dense - 1) < 1e-9):
            raise ValueError(f"hybrid weights must be in [0, 1] and sum to 1, not {self.lexical}/{self.dense}")

    def as_list(self) -> list[float]:
        """``[lexical, dense]``: the pipeline's ``weights`` parameter."""
        return [self.lexical, self.dense]


#: Hybrid weights per embedding model id, measured on LOCOMO dev conversations 26 and 30 (R@10 over
#: categories 1-4; ``engram bench retrieval --sweep``), never on the held-out one:
#:
#: - all-MiniLM-L6-v2: 0.6/0.4 (dense weights 0.1-0.5 give R@10 0.616, 0.639, 0.651, 0.670, 0.663).
#: - the offline hashing embedder: 0.98/0.02. Its "dense" half is a worse copy of BM25 (a bag of hashed
#:   words): any real weight loses to lexical at some k, so it only breaks BM25's ties and orders what BM25
#:   does not find; hybrid then equals lexical at k = 1, 5, 20 and is 0.002 better at 10 on dev.
HYBRID_WEIGHTS_BY_MODEL: dict[str, HybridWeights] = {
    MINILM_MODEL: HybridWeights(lexical=0.6, dense=0.4),
    OFFLINE_HASH_MODEL: HybridWeights(lexical=0.98, dense=0.02),
}
#: Any other model (OpenAI's ``text-embedding-3-small`` in production): a real embedding model, so the
#: MiniLM weights; not measured (no key on the build machine).
DEFAULT_HYBRID_WEIGHTS = HybridWeights(lexical=0.6, dense=0.4)


def hybrid_weights(embedding_model: str | None) -> HybridWeights:
    """The hybrid weights of ``embedding_model`` (``HYBRID_WEIGHTS_BY_MODEL``, else the default)."""
    return HYBRID_WEIGHTS_BY_MODEL.get(embedding_model or "", DEFAULT_HYBRID_WEIGHTS)


def fusion_depth(k: int) -> int:
    """Hits each hybrid sub-query keeps before fusion for a search of ``k``: ``max(50, 5 k)``."""
    return max(FUSION_DEPTH_MIN, FUSION_DEPTH_FACTOR * k)


def min_max(scores: Sequence[float]) -> list[float]:
    """``(s - min) / (max - min)`` of each score, the minimum becoming ``MIN_MAX_FLOOR``; all equal → 1.0
    (OpenSearch's ``min_max`` normalization technique)."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high == low:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) or MIN_MAX_FLOOR for s in scores]


def fuse_min_max(lexical: Sequence[IndexHit], dense: Sequence[IndexHit], weights: HybridWeights) -> list[IndexHit]:
    """Hybrid scores from a lexical and a dense list, as OpenSearch's ``normalization-processor``
    (``min_max``, ``arithmetic_mean`` with ``weights``) computes them: each list is rescaled by
    ``min_max``; a memory's score is ``(w_lex * s_lex + w_dense * s_dense) / (w_lex + w_dense)``, where a
    list that does not hold the memory gives it 0 (OpenSearch 2.11+ ``ScoreCombiner``: a sub-query that
    missed a document leaves its score at 0.0, which still counts). Scores in [0, 1]; sorted by score
    descending, then memory id. Each list should hold its top ``fusion_depth(k)``; cut the result to ``k``.
    """
    fused: dict[str, float] = {}
    revisions: dict[str, str] = {}
    for hits, weight in ((lexical, weights.lexical), (dense, weights.dense)):
        for hit, rescaled in zip(hits, min_max([h.score for h in hits]), strict=True):
            fused[hit.memory_id] = fused.get(hit.memory_id, 0.0) + weight * rescaled
            revisions.setdefault(hit.memory_id, hit.revision_id)
    total = weights.lexical + weights.dense
    hits = [IndexHit(memory_id=m, revision_id=revisions[m], score=score / total) for m, score in fused.items()]
    hits.sort(key=lambda h: (-h.score, h.memory_id))
    return hits
