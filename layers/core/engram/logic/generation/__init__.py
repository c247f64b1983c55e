"""Memory generation: the API starts it, the GenerateMemories workflow runs its steps.

LoadSource → Extract → Consolidate → Finalize, plus RecordFailure on any caught error.
Every step is idempotent: re-running it after a retry never writes twice (Extract keeps its
candidates, Consolidate records its result in the same transaction as its writes, Finalize and
RecordFailure only move a RUNNING operation).

Costs per generation: one extraction call; one embedding call for the candidates (their
vectors find the neighbours and are stored with the facts; a second one only for UPDATE texts the model
rewrote); one consolidation call, skipped when no candidate has a neighbour above
``min_similarity``.

Modules, in the order a generation meets them:

- ``operations``: start, get and wait for an operation (the API side); the request every step reads;
  Finalize and RecordFailure, which finish the operation and give its scope's lease back.
- ``source``: LoadSource, the request's conversation (or session) as events with ids.
- ``extraction``: Extract, one LLM call for candidate facts, cleaned.
- ``consolidation``: Consolidate, neighbours → decide → plan → apply.
- ``planning``: ``plan``, the pure function from decisions to the changes Consolidate writes.

Everything a caller needs is importable from this package.
"""

from engram.logic.generation.consolidation import (
    ConsolidationConfig,
    Neighbours,
    apply,
    consolidate,
    decide,
    embeddings_for,
    find_neighbours,
    resolve_decisions,
)
from engram.logic.generation.extraction import MAX_CANDIDATES, allowed_topics, clean_candidates, extract
from engram.logic.generation.operations import (
    StepContext,
    caught_error_detail,
    finalize,
    get_operation,
    record_failure,
    start_generation,
    stored_request,
    wait_for_operation,
)
from engram.logic.generation.planning import Plan, PlanOptions, once_per_memory, plan, rewritten_facts, stored_fact
from engram.logic.generation.source import load_source

__all__ = [
    "MAX_CANDIDATES",
    "ConsolidationConfig",
    "Neighbours",
    "Plan",
    "PlanOptions",
    "StepContext",
    "allowed_topics",
    "apply",
    "caught_error_detail",
    "clean_candidates",
    "consolidate",
    "decide",
    "embeddings_for",
    "extract",
    "finalize",
    "find_neighbours",
    "get_operation",
    "load_source",
    "once_per_memory",
    "plan",
    "record_failure",
    "resolve_decisions",
    "rewritten_facts",
    "start_generation",
    "stored_fact",
    "stored_request",
    "wait_for_operation",
]
