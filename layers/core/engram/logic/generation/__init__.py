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

Everything a caller needs is importable from this package; a name is imported from its module when it is
first read (``_MODULES``), so the API, which only starts, reads and waits for operations, imports
``operations`` and never the extraction, consolidation and planning logic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives (its module under this package).
_MODULES = {
    **dict.fromkeys(
        (
            "ConsolidationConfig",
            "Neighbours",
            "apply",
            "consolidate",
            "decide",
            "embeddings_for",
            "find_neighbours",
            "resolve_decisions",
        ),
        "consolidation",
    ),
    **dict.fromkeys(("MAX_CANDIDATES", "allowed_topics", "clean_candidates", "extract"), "extraction"),
    **dict.fromkeys(
        (
            "StepContext",
            "caught_error_detail",
            "finalize",
            "get_operation",
            "record_failure",
            "start_generation",
            "stored_request",
            "wait_for_operation",
        ),
        "operations",
    ),
    **dict.fromkeys(("Plan", "PlanOptions", "once_per_memory", "plan", "rewritten_facts", "stored_fact"), "planning"),
    "load_source": "source",
}


def __getattr__(name: str) -> Any:
    """``name`` from its module (imported now if it was not), kept as this package's attribute."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
