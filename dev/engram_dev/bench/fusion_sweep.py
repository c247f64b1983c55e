"""``engram bench retrieval --sweep``: evidence recall@k of the hybrid fusion for a grid of dense
weights, in process (no local stack: the same ``LocalIndex`` and ``engram.models.ranking.fuse_min_max``
the stack runs, without HTTP, so a grid takes seconds), per split of LOCOMO.

For each conversation, every turn is one ``IndexDocument`` (as ``engram bench retrieval`` stores it)
embedded by the chosen embedder; for each question and each k, the lexical and the dense lists keep
their top ``fusion_depth(k)`` and are fused with each weight. This is how ``HYBRID_WEIGHTS_BY_MODEL``
was chosen: the best R@10 on the dev split, never looking at the held-out one, which is printed to
check that the choice carries.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.ranking import HybridWeights, fuse_min_max, fusion_depth

from engram_dev.bench.common import table
from engram_dev.bench.locomo import CATEGORIES, SPLITS, Conversation, load_dataset

DENSE_WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def _lists(conversation: Conversation, embedder: Any, ks: Sequence[int]) -> list[dict[int, tuple[Any, Any]]]:
    """Per question, per k: (lexical hits, dense hits), each the top ``fusion_depth(k)``."""
    from engram_dev.local_index import LocalIndex

    texts = [turn.memory_text for turn in conversation.turns]
    vectors = embedder.embed(texts)
    questions = embedder.embed([q.question for q in conversation.questions])
    with tempfile.TemporaryDirectory(prefix="engram-sweep-") as folder:
        index = LocalIndex(folder)
        index.upsert(
            [
                IndexDocument(
                    tenant_id="bench",
                    memory_id=turn.dia_id,
                    scope_hash=conversation.name,
                    fact=text,
                    topics=[],
                    embedding=vector,
                    embedding_model=embedder.model_id,
                    revision_id="r",
                    update_time=_TIME,
                )
                for turn, text, vector in zip(conversation.turns, texts, vectors, strict=True)
            ]
        )
        out = []
        for question, vector in zip(conversation.questions, questions, strict=True):
            per_k = {}
            for k in ks:
                base = {"tenant_id": "bench", "scope_hash": conversation.name, "embedding_model": embedder.model_id}
                depth = fusion_depth(k)
                lexical = index.search(IndexQuery(**base, vector=[], k=depth, text=question.question, mode="lexical"))
                dense = index.search(IndexQuery(**base, vector=vector, k=depth, mode="dense"))
                per_k[k] = (lexical, dense)
            out.append(per_k)
        index.close()
    return out


def _mean(values: list[float]) -> float | str:
    return round(sum(values) / len(values), 3) if values else ""


def _recall(evidence: frozenset[str], hits: Sequence[IndexHit], k: int) -> float:
    # The memory id is the turn's dia_id here, as in LOCOMO's evidence.
    return len(evidence & {h.memory_id for h in hits[:k]}) / len(evidence)


def sweep(data: str, embedder: Any, ks: Sequence[int], out: TextIO = sys.stdout) -> dict[str, Any]:
    """Print and return R@k per split for lexical alone and for each weight of ``DENSE_WEIGHTS``."""
    conversations = load_dataset(data)
    rows: dict[tuple[str, str], dict[int, list[float]]] = {}
    categories: dict[str, list[int]] = {}  # split -> the category of each question, in order
    for conversation in conversations:
        lists = _lists(conversation, embedder, ks)
        for question, per_k in zip(conversation.questions, lists, strict=True):
            categories.setdefault(conversation.split, []).append(question.category)
            for k, (lexical, dense) in per_k.items():
                rows.setdefault(("lexical", conversation.split), {}).setdefault(k, []).append(
                    _recall(question.evidence, lexical, k)
                )
                for weight in DENSE_WEIGHTS:
                    fused = fuse_min_max(lexical, dense, HybridWeights(lexical=round(1 - weight, 6), dense=weight))
                    rows.setdefault((f"hybrid {1 - weight:.2f}/{weight:.2f}", conversation.split), {}).setdefault(
                        k, []
                    ).append(_recall(question.evidence, fused, k))
    document: dict[str, Any] = {"embedder": embedder.model_id, "rows": []}
    category_k = 10 if 10 in ks else ks[-1]  # recall per category at this k
    printed = []
    for split in SPLITS:
        for (name, row_split), recalled in rows.items():
            if row_split != split:
                continue
            recalls = [round(sum(recalled[k]) / len(recalled[k]), 3) for k in ks]
            last = list(zip(categories[split], recalled[category_k], strict=True))
            by_category = [_mean([r for c, r in last if c == category]) for category in CATEGORIES]
            printed.append([name, split, len(recalled[ks[0]]), *recalls, *by_category])
            by_k = {f"recall@{k}": r for k, r in zip(ks, recalls, strict=True)}
            per_category = {f"recall@{category_k} cat. {c}": r for c, r in zip(CATEGORIES, by_category, strict=True)}
            document["rows"].append({"fusion": name, "split": split, **by_k, **per_category})
    print(f"Hybrid weight sweep (lexical/dense), embedder {embedder.model_id}, in process:\n", file=out)
    headers = [
        "fusion",
        "split",
        "questions",
        *[f"R@{k}" for k in ks],
        *[f"R@{category_k} cat. {c}" for c in CATEGORIES],
    ]
    print(table(headers, printed), file=out)
    return document
