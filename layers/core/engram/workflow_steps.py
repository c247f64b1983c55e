"""What the five GenerateMemories Task handlers share: the step's collaborators, its one log line and its
``StepOutput``.

A handler keeps its Powertools decorators (logger, metrics, tracer, event parser) and runs its step in
``workflow_step``::

    with workflow_step("extract", event) as step:
        candidates = generation.extract(step.deps.operations, ..., step.ctx)
        step.record.add(candidates=candidates)
    return step.output(count=candidates).model_dump()

The step's errors leave the ``with`` block unchanged: their class names are what the state machine's
Retry and Catch match on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engram import wiring
from engram.logic.generation import StepContext
from engram.models.memory import Action
from engram.models.operation import OperationResult
from engram.models.workflow import StepInput, StepOutput
from engram.observability import StepRecord, step_log


@dataclass(frozen=True)
class Step:
    """One running workflow step: the process's collaborators (``deps``), the operation it works on
    (``ctx``) and the record its log line is written from (``record``: add counts, or set ``outcome``)."""

    deps: wiring.Dependencies
    ctx: StepContext
    record: StepRecord

    def output(self, count: int | None = None) -> StepOutput:
        """The Task's result: the ids every next state passes on (the ASL reads ``$.Payload``) and
        ``count``, what the step produced (None when it has no count)."""
        return StepOutput(tenant_id=self.ctx.tenant_id, operation_id=self.ctx.operation_id, count=count)


@contextmanager
def workflow_step(name: str, event: StepInput) -> Iterator[Step]:
    """Run the body as workflow step ``name`` (snake case, e.g. ``load_source``) of ``event``'s operation.

    Yields a ``Step`` on ``wiring.dependencies()``. When the body ends, one structured log line is written
    (``engram.observability.step_log``: step, ids, outcome, the counts the body added, duration); an
    exception, including one from building the collaborators, is logged and re-raised as it is.
    """
    with step_log(name, event.tenant_id, event.operation_id) as record:
        yield Step(wiring.dependencies(), StepContext(event.tenant_id, event.operation_id), record)


def action_counts(result: OperationResult) -> dict[str, int]:
    """How many memories ``result`` created, updated and deleted: ``{"created": n, "updated": n, "deleted": n}``."""
    actions = [g.action for g in result.generated_memories]
    generated = (Action.CREATED, Action.UPDATED, Action.DELETED)  # ARCHIVED is never a generation's
    return {str(action).lower(): actions.count(action) for action in generated}
