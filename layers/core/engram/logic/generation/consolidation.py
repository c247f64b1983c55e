"""Workflow step Consolidate: the candidates against the scope's memories, neighbours → decide → plan → apply.

1. Neighbours: the nearest memories of the scope to each candidate, found through the index and then read
   from the store (the truth); only live ones of the scope (with ``REQUIRE_EXACT_MATCH``: with the
   request's metadata) count.
2. Decide: one consolidation call shows them to the model as short integers and its decisions are made
   safe (``resolve_decisions``); without neighbours there is no call and every candidate is created. UPDATE
   texts the model rewrote get their vectors in one more embedding call.
3. Plan: the changes and results, a pure function (``engram.logic.generation.planning``).
4. Apply: the usage is added to the operation, then every change, its revision and the operation's result
   are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engram.errors import LLMOutputInvalid, ScopeBusy
from engram.logic.config import get_config
from engram.logic.generation.operations import StepContext, get_operation, stored_request
from engram.logic.generation.planning import Embeddings, Plan, PlanOptions, once_per_memory, plan, rewritten_facts
from engram.logic.memories import is_live
from engram.models.api import GenerateRequest, MetadataMergeStrategy
from engram.models.extraction import CandidateFact, ConsolidationDecision, Decision
from engram.models.index import IndexQuery
from engram.models.memory import StoredMemory
from engram.models.operation import OperationDocument, OperationResult, Usage
from engram.models.prompts import ConsolidationPrompt
from engram.models.scope import scope_hash
from engram.ports import (
    LLM,
    Clock,
    ConfigRepository,
    Embedder,
    LeaseRepository,
    MemoryRepository,
    OperationRepository,
    VectorIndex,
)


@dataclass(frozen=True)
class ConsolidationConfig:
    """``neighbours`` per candidate, ``min_similarity`` (cosine) for a neighbour to count, and how long
    the per-scope lease lasts (``lease_seconds``; a dead holder's lease is taken over after it)."""

    neighbours: int = 5
    min_similarity: float = 0.5
    lease_seconds: float = 120.0


@dataclass(frozen=True)
class Neighbours:
    """The existing memories shown to the model, in prompt order (the model knows ``memories[i]`` as
    ``i``), and for each candidate whether one of them is close to it (``has_neighbour``)."""

    memories: list[StoredMemory]
    has_neighbour: list[bool]


def consolidate(
    operations: OperationRepository,
    memories: MemoryRepository,
    leases: LeaseRepository,
    configs: ConfigRepository,
    index: VectorIndex,
    embedder: Embedder,
    llm: LLM,
    clock: Clock,
    ctx: StepContext,
    config: ConsolidationConfig = ConsolidationConfig(),
) -> OperationResult:
    """Decide and apply CREATE / UPDATE / DELETE / NOOP for every candidate, atomically; returns the result.

    All writes, their revisions and the operation's result go in one DynamoDB transaction guarded by each
    memory's version, so a crash leaves either everything or nothing, and a concurrent change makes the
    step retry on fresh state (``StoreConflict``). A retry after success returns the recorded result.
    Holds the scope's lease from here until Finalize. Raises ``ScopeBusy`` while another generation
    holds it, ``LLMOutputInvalid`` when the model names a candidate or memory it was not shown.
    """
    operation = get_operation(operations, ctx.tenant_id, ctx.operation_id)
    if operation.result is not None:
        return operation.result  # already applied by an earlier attempt
    raw = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.CANDIDATES) or []
    candidates = [CandidateFact.model_validate(c) for c in raw]
    if not candidates:
        return apply(operations, memories, ctx, Plan(), Usage(), clock.now())
    request = stored_request(operations, ctx)
    _hold_scope(leases, clock, ctx, request.scope, config)
    vectors = embedder.embed([c.fact for c in candidates])
    neighbours = find_neighbours(index, memories, clock, ctx, request, vectors, embedder.model_id, config)
    decisions, decision_usage = decide(llm, candidates, neighbours)
    embeddings, embedding_usage = embeddings_for(embedder, candidates, vectors, decisions)
    now = clock.now()
    options = PlanOptions.for_request(ctx, request, get_config(configs, ctx.tenant_id), embedder.model_id)
    planned = plan(candidates, neighbours.memories, decisions, embeddings, now, options)
    usage = Usage(embedding_calls=1) + decision_usage + embedding_usage
    return apply(operations, memories, ctx, planned, usage, now)


def _hold_scope(
    leases: LeaseRepository, clock: Clock, ctx: StepContext, scope: dict[str, str], config: ConsolidationConfig
) -> None:
    """Per-scope serialization: one generation at a time reads and changes a scope's memories, from here
    until Finalize sees its writes in the index (so the next one finds them as neighbours)."""
    if not leases.acquire(ctx.tenant_id, scope_hash(scope), ctx.operation_id, clock.now(), config.lease_seconds):
        raise ScopeBusy("another generation is consolidating this scope")


# --- neighbours -------------------------------------------------------------------------------------


def find_neighbours(
    index: VectorIndex,
    memories: MemoryRepository,
    clock: Clock,
    ctx: StepContext,
    request: GenerateRequest,
    vectors: Sequence[list[float]],
    embedding_model: str,
    config: ConsolidationConfig,
) -> Neighbours:
    """The memories to show the model for candidates with ``vectors``: for each, the ``config.neighbours``
    nearest of the scope (one index search), kept when at least ``config.min_similarity`` close and, as
    read from the store, live, still in the scope and, with ``REQUIRE_EXACT_MATCH``, with the request's
    metadata (a stale index hit does not count). No search with ``request.disable_consolidation``."""
    if request.disable_consolidation:
        return Neighbours(memories=[], has_neighbour=[False] * len(vectors))
    close = [_close_ids(index, ctx.tenant_id, request.scope, vector, embedding_model, config) for vector in vectors]
    shown = _shown(memories, clock, ctx.tenant_id, request, [memory_id for ids in close for memory_id in ids])
    has_neighbour = [any(memory_id in shown for memory_id in ids) for ids in close]
    return Neighbours(memories=list(shown.values()), has_neighbour=has_neighbour)


def _close_ids(
    index: VectorIndex,
    tenant_id: str,
    scope: dict[str, str],
    vector: list[float],
    embedding_model: str,
    config: ConsolidationConfig,
) -> list[str]:
    """Ids of the nearest indexed memories of the scope at least ``min_similarity`` close, nearest first."""
    query = IndexQuery(
        tenant_id=tenant_id,
        scope_hash=scope_hash(scope),
        vector=vector,
        embedding_model=embedding_model,
        k=config.neighbours,
    )
    return [hit.memory_id for hit in index.search(query) if hit.score >= config.min_similarity]


def _shown(
    memories: MemoryRepository, clock: Clock, tenant_id: str, request: GenerateRequest, ids: list[str]
) -> dict[str, StoredMemory]:
    """The memories among ``ids`` (first occurrence order) the request may consolidate with, by id."""
    if not ids:
        return {}
    found = memories.get_many(tenant_id, ids)
    shown = {}
    for memory_id in dict.fromkeys(ids):
        memory = found.get(memory_id)
        if memory is not None and _may_consolidate_with(memory, request, clock):
            shown[memory_id] = memory
    return shown


def _may_consolidate_with(memory: StoredMemory, request: GenerateRequest, clock: Clock) -> bool:
    """Live, in the request's scope and, with ``REQUIRE_EXACT_MATCH``, with exactly its metadata."""
    if not is_live(memory, clock) or memory.scope != request.scope:
        return False
    exact = request.metadata_merge_strategy is MetadataMergeStrategy.REQUIRE_EXACT_MATCH
    return not exact or memory.metadata == request.metadata


# --- decide -----------------------------------------------------------------------------------------


def decide(
    llm: LLM, candidates: Sequence[CandidateFact], neighbours: Neighbours
) -> tuple[list[ConsolidationDecision], Usage]:
    """The safe decisions for ``candidates`` (see ``resolve_decisions``) and the usage of finding them:
    one consolidation call showing the neighbours and the candidates, or, without neighbours, no call and
    a CREATE for every candidate. Raises ``LLMOutputInvalid`` when the model names something not shown."""
    if not neighbours.memories:
        creates = [
            ConsolidationDecision(candidate=i, decision=Decision.CREATE, memory=None, fact=None)
            for i in range(len(candidates))
        ]
        return creates, Usage()
    prompt = ConsolidationPrompt(
        existing=[m.fact for m in neighbours.memories],
        candidates=[c.fact for c in candidates],
        candidate_topics=[c.topics for c in candidates],
    )
    answer = llm.consolidate(prompt)
    usage = Usage(llm_calls=1, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)
    n_candidates, n_existing = len(candidates), len(neighbours.memories)
    return resolve_decisions(answer.output.decisions, n_candidates, n_existing, neighbours.has_neighbour), usage


def resolve_decisions(
    decisions: list[ConsolidationDecision], n_candidates: int, n_existing: int, has_neighbour: list[bool]
) -> list[ConsolidationDecision]:
    """Validate the model's decisions and make them safe to apply; NOOPs are left out.

    - An index outside the prompt's lists raises ``LLMOutputInvalid`` (the step is retried).
    - The first decision for a candidate wins; a candidate the model skipped becomes CREATE when it had
      no neighbour (nothing could hold it) and NOOP otherwise.
    - One existing memory is changed at most once: a second UPDATE of it becomes a CREATE of that text
      (never lose information), a second DELETE or a DELETE after an UPDATE is dropped.
    """
    by_candidate: dict[int, ConsolidationDecision] = {}
    for d in decisions:
        if not 0 <= d.candidate < n_candidates:
            raise LLMOutputInvalid(f"decision names candidate {d.candidate}; there are {n_candidates}")
        if d.decision in (Decision.UPDATE, Decision.DELETE) and (d.memory is None or not 0 <= d.memory < n_existing):
            raise LLMOutputInvalid(f"{d.decision} names memory {d.memory}; there are {n_existing}")
        by_candidate.setdefault(d.candidate, d)
    complete = [by_candidate.get(i) or _skipped(i, has_neighbour[i]) for i in range(n_candidates)]
    return [d for d in once_per_memory(complete) if d.decision is not Decision.NOOP]


def _skipped(candidate: int, has_neighbour: bool) -> ConsolidationDecision:
    """The decision for a candidate the model did not answer for: NOOP when it had a neighbour, else CREATE."""
    kind = Decision.NOOP if has_neighbour else Decision.CREATE
    return ConsolidationDecision(candidate=candidate, decision=kind, memory=None, fact=None)


def embeddings_for(
    embedder: Embedder,
    candidates: Sequence[CandidateFact],
    vectors: Sequence[list[float]],
    decisions: Sequence[ConsolidationDecision],
) -> tuple[Embeddings, Usage]:
    """The vector of every text ``decisions`` may store, by text: the candidates' (``vectors``, already
    computed) and, from one more embedding call made only when there are any, the UPDATE texts the model
    rewrote. Also returns the usage of that call."""
    embeddings = dict(zip((c.fact for c in candidates), vectors, strict=True))
    rewritten = rewritten_facts(candidates, decisions)
    if not rewritten:
        return embeddings, Usage()
    embeddings.update(zip(rewritten, embedder.embed(rewritten), strict=True))
    return embeddings, Usage(embedding_calls=1)


# --- apply ------------------------------------------------------------------------------------------


def apply(
    operations: OperationRepository,
    memories: MemoryRepository,
    ctx: StepContext,
    planned: Plan,
    usage: Usage,
    now: datetime,
) -> OperationResult:
    """Add ``usage`` to the operation (at ``now``), then write the plan's changes, their revisions and the
    operation's result in one transaction (``MemoryRepository.apply_changes``); returns the result. A
    memory changed meanwhile raises ``StoreConflict`` and nothing is written."""
    result = planned.result
    operations.add_usage(ctx.tenant_id, ctx.operation_id, usage, now)
    memories.apply_changes(ctx.tenant_id, planned.changes, operation_id=ctx.operation_id, result=result)
    return result
