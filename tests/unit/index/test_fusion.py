"""The hybrid fusion every index adapter shares (``engram.models.ranking``): min-max normalization, the
weighted arithmetic mean in which a list that misses a memory gives it 0 (OpenSearch's
``normalization-processor``), ties by memory id, the candidate depth and the weights per embedder."""

from __future__ import annotations

import pytest
from engram.models.index import IndexDocument, IndexHit, IndexQuery, RetrievalMode
from engram.models.ranking import (
    DEFAULT_HYBRID_WEIGHTS,
    MIN_MAX_FLOOR,
    HybridWeights,
    fuse_min_max,
    fusion_depth,
    hybrid_weights,
    min_max,
)
from engram_dev.local_index import LocalIndex

from tests.unit.index.test_vector_index_behaviour import NOW, at

EVEN = HybridWeights(lexical=0.5, dense=0.5)


def hits(*pairs: tuple[str, float]) -> list[IndexHit]:
    return [IndexHit(memory_id=m, revision_id=f"rev-{m}", score=s) for m, s in pairs]


def test_min_max_rescales_to_the_floor_and_one() -> None:
    """Given scores 2, 4, 6, when rescaled, then the minimum is 0.001 (never 0), the maximum 1."""
    assert min_max([6.0, 4.0, 2.0]) == pytest.approx([1.0, 0.5, MIN_MAX_FLOOR])


@pytest.mark.parametrize("scores", [[3.0], [0.4, 0.4, 0.4]])
def test_min_max_of_equal_scores_is_one(scores: list[float]) -> None:
    """Given a list whose scores are all equal (one score included), when rescaled, then each is 1.0."""
    assert min_max(scores) == [1.0] * len(scores)


def test_min_max_of_nothing_is_nothing() -> None:
    assert min_max([]) == []


def test_a_memory_in_both_lists_gets_the_weighted_mean() -> None:
    """Given a memory in both lists, when fused 0.7/0.3, then its score is 0.7 lexical + 0.3 dense of
    the rescaled scores."""
    lexical = hits(("a", 10.0), ("b", 5.0), ("c", 0.0))  # a 1.0, b 0.5, c 0.001
    dense = hits(("b", 0.9), ("a", 0.5), ("c", 0.1))  # b 1.0, a 0.5, c 0.001

    fused = fuse_min_max(lexical, dense, HybridWeights(lexical=0.7, dense=0.3))

    assert [(h.memory_id, h.score) for h in fused] == [
        ("a", pytest.approx(0.7 * 1.0 + 0.3 * 0.5)),
        ("b", pytest.approx(0.7 * 0.5 + 0.3 * 1.0)),
        ("c", pytest.approx(MIN_MAX_FLOOR)),
    ]


def test_a_list_that_misses_a_memory_gives_it_zero() -> None:
    """Given memories found by one list only, when fused 0.6/0.4,
    then each gets only its list's weighted share (the other list counts 0, as OpenSearch 2.11+ does),
    so a memory found by both lists beats one found by one list at the same rescaled score."""
    lexical = hits(("both", 4.0), ("lex", 4.0), ("low", 1.0))
    dense = hits(("both", 0.8), ("dense", 0.8), ("far", 0.2))

    fused = {h.memory_id: h.score for h in fuse_min_max(lexical, dense, HybridWeights(lexical=0.6, dense=0.4))}

    assert fused == pytest.approx(
        {"both": 1.0, "lex": 0.6, "dense": 0.4, "low": 0.6 * MIN_MAX_FLOOR, "far": 0.4 * MIN_MAX_FLOOR}
    )


def test_equal_scores_are_ordered_by_memory_id() -> None:
    """Given two memories with equal fused scores, when fused, then the smaller memory id comes first."""
    fused = fuse_min_max(hits(("m2", 3.0), ("m1", 1.0)), hits(("m1", 0.9), ("m2", 0.1)), EVEN)

    assert [h.memory_id for h in fused] == ["m1", "m2"]
    assert fused[0].score == pytest.approx(fused[1].score)


def test_fused_hits_keep_their_revision() -> None:
    fused = fuse_min_max(hits(("a", 1.0)), hits(("b", 1.0)), EVEN)

    assert {h.memory_id: h.revision_id for h in fused} == {"a": "rev-a", "b": "rev-b"}


def test_an_empty_list_leaves_the_other_scaled_by_its_weight() -> None:
    """Given no lexical hit (no word in common), when fused, then the dense order stays and each score
    is the dense weight times the rescaled cosine."""
    fused = fuse_min_max([], hits(("a", 0.9), ("b", 0.5)), HybridWeights(lexical=0.6, dense=0.4))

    assert [(h.memory_id, h.score) for h in fused] == [("a", pytest.approx(0.4)), ("b", pytest.approx(0.0004))]


@pytest.mark.parametrize(("k", "depth"), [(1, 50), (5, 50), (10, 50), (11, 55), (40, 200)])
def test_fusion_depth_is_max_50_or_5k(k: int, depth: int) -> None:
    assert fusion_depth(k) == depth


@pytest.mark.parametrize(
    ("model", "lexical", "dense"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", 0.6, 0.4),
        ("engram-offline-hash-v1", 0.98, 0.02),
        ("text-embedding-3-small", 0.6, 0.4),
        (None, 0.6, 0.4),
    ],
)
def test_weights_per_embedding_model(model: str | None, lexical: float, dense: float) -> None:
    """Given an embedding model, when asking for its hybrid weights, then they are the measured ones
    (the hashing embedder's dense half only breaks ties), and a model not measured gets the default."""
    assert hybrid_weights(model) == HybridWeights(lexical=lexical, dense=dense)
    assert hybrid_weights("some-other-model") == DEFAULT_HYBRID_WEIGHTS


@pytest.mark.parametrize(("lexical", "dense"), [(0.5, 0.6), (-0.1, 1.1), (0.3, 0.3)])
def test_weights_must_sum_to_one(lexical: float, dense: float) -> None:
    """OpenSearch's arithmetic_mean rejects weights outside [0, 1] or not summing to 1: so do we."""
    with pytest.raises(ValueError, match="sum to 1"):
        HybridWeights(lexical=lexical, dense=dense)


def test_the_local_index_fuses_deeper_lists_than_k(tmp_path) -> None:
    """Given a memory ("both") that is 2nd in the lexical list and 2nd in the dense list, behind a
    memory best in one list only,
    when searching in hybrid mode with k=1 (each list keeps max(50, 5k) = 50, not 1),
    then "both" gets both of its scores and wins; fusing each list's top 1 alone could not find it."""
    index = LocalIndex(tmp_path)
    facts = {
        "dense1": (at(0), "green tea"),
        "both": (at(8), "jazz blues"),
        "lex1": (at(80), "jazz"),
        "lexlow": (at(85), "jazz club night music dance"),
    }
    index.upsert(
        [
            IndexDocument(
                tenant_id="t",
                memory_id=memory_id,
                scope_hash="s",
                fact=fact,
                topics=[],
                embedding=vector,
                embedding_model="model-1",
                revision_id="r",
                update_time=NOW,
            )
            for memory_id, (vector, fact) in facts.items()
        ]
    )

    def search(k: int, mode: RetrievalMode) -> list[str]:
        query = IndexQuery(
            tenant_id="t", scope_hash="s", vector=at(0), embedding_model="model-1", k=k, text="jazz", mode=mode
        )
        return [h.memory_id for h in index.search(query)]

    assert search(1, "lexical") == ["lex1"] and search(1, "dense") == ["dense1"]
    assert search(1, "hybrid") == ["both"]
    assert search(4, "hybrid") == ["both", "lex1", "dense1", "lexlow"]
