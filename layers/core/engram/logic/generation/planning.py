"""The plan step of Consolidate: the writes that carry out the model's decisions, as a pure function.

``plan`` turns decisions into ``Change``s (each memory before and after, with the revision recording it)
and the results the operation reports. It reads nothing and writes nothing: the memories it may
change, the vectors of the texts it may store and the time are its inputs, and ids come from
``PlanOptions.new_id``. ``consolidate`` applies what it returns in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engram import clock
from engram.logic.config import expire_at
from engram.logic.generation.operations import StepContext
from engram.logic.memories import revision_for
from engram.models.api import GenerateRequest, MetadataMergeStrategy
from engram.models.config import TenantConfig
from engram.models.extraction import CandidateFact, ConsolidationDecision, Decision
from engram.models.memory import MAX_FACT_CHARS, Action, GeneratedMemory, MetadataValue, Revision, Source, StoredMemory
from engram.models.operation import OperationResult
from engram.ports import Change

#: Embedding vectors by the text they embed.
Embeddings = Mapping[str, list[float]]


@dataclass(frozen=True)
class PlanOptions:
    """What a plan takes from the operation, its request and the tenant's config.

    - ``tenant_id``, ``operation_id``: whose memories change, and the operation named in their
      provenance and revisions.
    - ``scope``: the scope of created memories.
    - ``embedding_model``: the model id stored beside every vector written.
    - ``metadata``, ``metadata_merge_strategy``: the request's metadata, given to created memories, and
      how an UPDATE combines it with the memory's: ``OVERWRITE`` replaces it; ``MERGE`` and
      ``REQUIRE_EXACT_MATCH`` (whose neighbours already have equal metadata) take the union, the
      request's value winning on a shared key.
    - ``revision_labels``: the labels of every revision written.
    - ``created_ttl_seconds``: seconds a created memory lives from ``now``; None: it never expires.
    - ``updated_ttl_seconds``: seconds an updated memory lives from ``now``; None: it keeps its expiry.
    - ``revision_ttl_seconds``: seconds a revision is kept from ``now``; None: forever.
    - ``new_id``: where memory and revision ids come from (default ``engram.clock.new_id``).
    """

    tenant_id: str
    operation_id: str
    scope: dict[str, str]
    embedding_model: str
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    metadata_merge_strategy: MetadataMergeStrategy = MetadataMergeStrategy.MERGE
    revision_labels: dict[str, str] = field(default_factory=dict)
    created_ttl_seconds: int | None = None
    updated_ttl_seconds: int | None = None
    revision_ttl_seconds: int | None = None
    new_id: Callable[[], str] = clock.new_id

    @classmethod
    def for_request(
        cls, ctx: StepContext, request: GenerateRequest, config: TenantConfig, embedding_model: str
    ) -> PlanOptions:
        """The options of ``request`` in operation ``ctx``: the request's ``ttl_seconds`` applies to
        created and updated memories; without it, the tenant's ``generate_created_ttl_seconds`` and
        ``generate_updated_ttl_seconds`` do. Revisions live ``revision_ttl_seconds`` of the tenant."""
        return cls(
            tenant_id=ctx.tenant_id,
            operation_id=ctx.operation_id,
            scope=request.scope,
            embedding_model=embedding_model,
            metadata=request.metadata,
            metadata_merge_strategy=request.metadata_merge_strategy,
            revision_labels=request.revision_labels,
            created_ttl_seconds=request.ttl_seconds or config.ttl.generate_created_ttl_seconds,
            updated_ttl_seconds=request.ttl_seconds or config.ttl.generate_updated_ttl_seconds,
            revision_ttl_seconds=config.ttl.revision_ttl_seconds,
        )


@dataclass(frozen=True)
class Plan:
    """The writes of one consolidation, in decision order: ``changes`` for
    ``MemoryRepository.apply_changes`` and ``generated``, what the operation reports, one per change."""

    changes: list[Change] = field(default_factory=list)
    generated: list[GeneratedMemory] = field(default_factory=list)

    @property
    def result(self) -> OperationResult:
        """The operation's result: ``generated`` as ``generated_memories``."""
        return OperationResult(generated_memories=self.generated)


def plan(
    candidates: Sequence[CandidateFact],
    neighbours: Sequence[StoredMemory],
    decisions: Sequence[ConsolidationDecision],
    embeddings: Embeddings,
    now: datetime,
    options: PlanOptions,
) -> Plan:
    """The changes that carry out ``decisions`` at ``now``, and the result each one reports.

    A decision's ``candidate`` indexes ``candidates`` (the extracted facts) and its ``memory`` indexes
    ``neighbours`` (the memories shown to the model). ``embeddings`` holds the vector of every text a
    memory may be stored with: each candidate's fact and each UPDATE text the model rewrote
    (``rewritten_facts``). Per decision:

    - CREATE: a new memory in ``options.scope`` holding the candidate (its topics and events as
      provenance) with the request's metadata, expiring ``created_ttl_seconds`` after ``now``.
    - UPDATE: the neighbour keeps its id and creation time and takes the decision's text
      (``stored_fact``), the union of its topics and the candidate's, metadata by the merge strategy,
      the candidate's provenance, a new revision id and, with ``updated_ttl_seconds``, a new expiry.
    - DELETE: the neighbour is removed; the result shows it as it was.
    - NOOP: nothing.

    A neighbour changes at most once (``once_per_memory``). Each change carries its revision (the
    request's labels, expiry ``revision_ttl_seconds`` after ``now``, the operation id, every candidate's
    fact). Raises ``ValueError`` for a decision naming a candidate or neighbour that is not there, and
    ``KeyError`` for a stored text missing from ``embeddings``.
    """
    planner = _Planner(candidates, neighbours, embeddings, now, options)
    changes = [planner.change(d) for d in once_per_memory(decisions) if d.decision is not Decision.NOOP]
    return Plan(changes=changes, generated=[generated_memory(change) for change in changes])


def once_per_memory(decisions: Iterable[ConsolidationDecision]) -> list[ConsolidationDecision]:
    """``decisions`` in order, each existing memory changed at most once: a later UPDATE of a memory
    already updated or deleted becomes a CREATE of its candidate (no information is lost); a later
    DELETE of it is dropped. Other decisions pass unchanged."""
    touched: set[int | None] = set()
    out = []
    for d in decisions:
        if d.decision in (Decision.UPDATE, Decision.DELETE):
            if d.memory in touched:
                if d.decision is Decision.DELETE:
                    continue
                d = ConsolidationDecision(candidate=d.candidate, decision=Decision.CREATE, memory=None, fact=None)
            else:
                touched.add(d.memory)
        out.append(d)
    return out


def stored_fact(decision: ConsolidationDecision, candidate: CandidateFact) -> str:
    """The text a memory takes from ``decision``: for UPDATE, the model's text with whitespace collapsed
    and cut to 2,000 characters, or the candidate's when that is blank; otherwise the candidate's."""
    if decision.decision is not Decision.UPDATE:
        return candidate.fact
    return (" ".join((decision.fact or "").split()) or candidate.fact)[:MAX_FACT_CHARS]


def rewritten_facts(candidates: Sequence[CandidateFact], decisions: Iterable[ConsolidationDecision]) -> list[str]:
    """The UPDATE texts that differ from their candidate's fact, in decision order: the texts that need
    vectors of their own (the candidates' vectors serve the rest)."""
    texts = []
    for d in decisions:
        if d.decision is Decision.UPDATE:
            text = stored_fact(d, candidates[d.candidate])
            if text != candidates[d.candidate].fact:
                texts.append(text)
    return texts


def generated_memory(change: Change) -> GeneratedMemory:
    """What the operation reports for ``change``: the memory after it (before it, for DELETED) and,
    unless CREATED, the revision id it had before."""
    shown = change.after if change.after is not None else change.before
    if shown is None:
        raise ValueError("a change needs the memory before or after it")
    previous = change.before.revision_id if change.before is not None else None
    return GeneratedMemory(memory=shown.public(), action=change.action, previous_revision_id=previous)


@dataclass(frozen=True)
class _Planner:
    """``plan``'s inputs, and the change each kind of decision makes with them."""

    candidates: Sequence[CandidateFact]
    neighbours: Sequence[StoredMemory]
    embeddings: Embeddings
    now: datetime
    options: PlanOptions

    def change(self, d: ConsolidationDecision) -> Change:
        if not 0 <= d.candidate < len(self.candidates):
            raise ValueError(f"decision names candidate {d.candidate}; there are {len(self.candidates)}")
        candidate = self.candidates[d.candidate]
        if d.decision is Decision.CREATE:
            return self._create(candidate)
        if d.memory is None or not 0 <= d.memory < len(self.neighbours):
            raise ValueError(f"{d.decision} names memory {d.memory}; there are {len(self.neighbours)}")
        before = self.neighbours[d.memory]
        if d.decision is Decision.UPDATE:
            return self._update(before, candidate, stored_fact(d, candidate))
        if d.decision is Decision.DELETE:
            return Change(Action.DELETED, None, before, self._revision(Action.DELETED, before, before.fact))
        raise ValueError(f"a {d.decision} decision changes nothing")

    def _create(self, candidate: CandidateFact) -> Change:
        o, now = self.options, self.now
        after = StoredMemory(
            id=o.new_id(),
            tenant_id=o.tenant_id,
            scope=o.scope,
            fact=candidate.fact,
            topics=candidate.topics,
            metadata=o.metadata,
            create_time=now,
            update_time=now,
            expire_time=expire_at(now, o.created_ttl_seconds),
            revision_id=o.new_id(),
            source=self._source(candidate),
            embedding=self.embeddings[candidate.fact],
            embedding_model=o.embedding_model,
        )
        return Change(Action.CREATED, after, None, self._revision(Action.CREATED, after, None))

    def _update(self, before: StoredMemory, candidate: CandidateFact, fact: str) -> Change:
        o, now = self.options, self.now
        if o.metadata_merge_strategy is MetadataMergeStrategy.OVERWRITE:
            metadata = dict(o.metadata)
        else:
            metadata = {**before.metadata, **o.metadata}
        after = before.model_copy(
            update={
                "fact": fact,
                "topics": list(dict.fromkeys([*before.topics, *candidate.topics])),
                "metadata": metadata,
                "update_time": now,
                "expire_time": expire_at(now, o.updated_ttl_seconds) or before.expire_time,
                "revision_id": o.new_id(),
                "source": self._source(candidate),
                "embedding": self.embeddings[fact],
                "embedding_model": o.embedding_model,
            }
        )
        return Change(Action.UPDATED, after, before, self._revision(Action.UPDATED, after, before.fact))

    def _source(self, candidate: CandidateFact) -> Source:
        return Source(operation_id=self.options.operation_id, event_ids=candidate.event_ids)

    def _revision(self, action: Action, memory: StoredMemory, previous_fact: str | None) -> Revision:
        o = self.options
        return revision_for(
            memory,
            action,
            self.now,
            previous_fact,
            o.revision_labels,
            expire_at(self.now, o.revision_ttl_seconds),
            operation_id=o.operation_id,
            candidate_facts=[c.fact for c in self.candidates],
            deleted_revision_id=o.new_id() if action is Action.DELETED else None,
        )
