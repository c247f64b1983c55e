"""Memory generation: the API starts it, the GenerateMemories workflow runs its steps.

LoadSource → Extract → Consolidate → Finalize (DESIGN.md §1), plus RecordFailure on any caught error.
Every step is idempotent: re-running it after a retry never writes twice (Extract keeps its
candidates, Consolidate records its result in the same transaction as its writes, Finalize and
RecordFailure only move a RUNNING operation).

Costs per generation (DESIGN.md §5): one extraction call; one embedding call for the candidates (their
vectors find the neighbours and are stored with the facts; a second one only for UPDATE texts the model
rewrote); one consolidation call, skipped when no candidate has a neighbour above
``min_similarity``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engram.clock import new_id
from engram.errors import IndexNotReady, LLMOutputInvalid, NotFound, RetryableError, ScopeBusy
from engram.logic import sessions
from engram.logic.config import expire_at, get_config
from engram.logic.memories import is_live, revision_for
from engram.logic.multimodal import describe_attachments
from engram.models.api import GenerateRequest, MetadataMergeStrategy
from engram.models.config import TenantConfig
from engram.models.conversation import ConversationEvent, normalize
from engram.models.extraction import CandidateFact, ConsolidationDecision, Decision
from engram.models.index import IndexQuery
from engram.models.memory import MAX_FACT_CHARS, Action, GeneratedMemory, ManagedTopic, Revision, Source, StoredMemory
from engram.models.operation import Operation, OperationError, OperationResult, OperationStatus, Usage
from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt, TopicSpec, managed_topics
from engram.models.scope import scope_hash
from engram.ports import (
    LLM,
    Change,
    Clock,
    Embedder,
    MemoryStore,
    VectorIndex,
    WorkflowStarter,
)

MAX_CANDIDATES = 40  # keeps one consolidation within one DynamoDB transaction (≤ 100 items)
REQUEST, SOURCE, CANDIDATES = "REQ", "SOURCE", "CAND"


# --- API side ---------------------------------------------------------------------------------


def start_generation(
    store: MemoryStore, workflow: WorkflowStarter, clock: Clock, tenant_id: str, request: GenerateRequest
) -> Operation:
    """Record a RUNNING operation with its request, then start the workflow.

    If the workflow cannot be started, the operation is recorded as FAILED (it never silently
    disappears) and ``RetryableError`` (503) is raised.
    """
    now = clock.now()
    operation = Operation(id=new_id(), status=OperationStatus.RUNNING, create_time=now, update_time=now)
    body = request.model_dump(mode="json", exclude={"wait_seconds"}, exclude_none=True)
    store.create_operation(tenant_id, operation, request.scope, body)
    try:
        workflow.start(tenant_id, operation.id)
    except Exception as error:  # any failure to start is recorded, then reported as 503
        store.finish_operation(
            tenant_id,
            operation.id,
            OperationStatus.FAILED,
            clock.now(),
            OperationError(code="WorkflowStartFailed", message=str(error)[:1000]),
        )
        raise RetryableError("could not start the generation workflow; retry later") from error
    return operation


def get_operation(store: MemoryStore, tenant_id: str, operation_id: str) -> Operation:
    operation = store.get_operation(tenant_id, operation_id)
    if operation is None:
        raise NotFound(f"operation {operation_id} not found")
    return operation


def wait_for_operation(
    store: MemoryStore,
    tenant_id: str,
    operation_id: str,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 0.2,
) -> Operation:
    """Poll the operation until it is done or ``wait_seconds`` have passed; returns its latest state."""
    deadline = time.monotonic() + wait_seconds
    operation = get_operation(store, tenant_id, operation_id)
    while not operation.done and time.monotonic() < deadline:
        sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))
        operation = get_operation(store, tenant_id, operation_id)
    return operation


# --- workflow steps -------------------------------------------------------------------------


@dataclass(frozen=True)
class StepContext:
    tenant_id: str
    operation_id: str


def _request(store: MemoryStore, ctx: StepContext) -> GenerateRequest:
    body = store.get_blob(ctx.tenant_id, ctx.operation_id, REQUEST)
    if body is None:
        raise NotFound(f"operation {ctx.operation_id} has no stored request")
    return GenerateRequest.model_validate(body)


def load_source(store: MemoryStore, llm: LLM, clock: Clock, ctx: StepContext) -> int:
    """Turn the request's source into conversation events (with ids) and store them. Returns the count.

    ``messages``/``events``: normalized; ``session``: the session's events in ``[start_time, end_time)``
    (ids kept, so provenance names session events); ``facts``: nothing to load. Image parts are
    described into text (one LLM call each), so provenance of a fact from an image names its event.
    A retried step reuses what it stored (no second description call).
    """
    stored_source = store.get_blob(ctx.tenant_id, ctx.operation_id, SOURCE)
    if stored_source is not None:
        return len(stored_source)
    request = _request(store, ctx)
    if request.facts is not None:
        return len(request.facts)
    if request.session is not None:
        session = request.session
        try:
            stored = sessions.list_events(
                store,
                clock,
                ctx.tenant_id,
                session.session_id,
                start_time=session.start_time,
                end_time=session.end_time,
            )
        except NotFound:
            stored = []
        events = sessions.as_conversation(stored)
    else:
        events = normalize(request.messages, request.events)
    events, usage = describe_attachments(llm, events)
    if usage.llm_calls:
        store.add_usage(ctx.tenant_id, ctx.operation_id, usage, clock.now())
    store.put_blob(ctx.tenant_id, ctx.operation_id, SOURCE, [e.model_dump() for e in events])
    return len(events)


def _allowed_topics(request: GenerateRequest, config: TenantConfig) -> list[TopicSpec]:
    """The tenant's enabled managed topics and custom topics, limited to ``request.topics`` if given."""
    topics = [t for t in managed_topics() if t.label in {str(m) for m in config.managed_topics}]
    topics += [TopicSpec(label=t.label, description=t.description) for t in config.custom_topics]
    if request.topics:
        wanted = set(request.topics)
        topics = [t for t in topics if t.label in wanted]
    return topics


def extract(store: MemoryStore, llm: LLM, clock: Clock, ctx: StepContext) -> int:
    """One LLM call proposes candidate facts; they are cleaned and stored. Returns the count.

    Cleaning: unknown event ids and topics are dropped, blank or duplicate facts removed, facts cut to
    2,000 characters, at most 40 kept. A retried step reuses stored candidates (no second call).
    """
    stored = store.get_blob(ctx.tenant_id, ctx.operation_id, CANDIDATES)
    if stored is not None:
        return len(stored)
    request = _request(store, ctx)
    config = get_config(store, ctx.tenant_id)
    topics = _allowed_topics(request, config)
    if request.facts is not None:  # pre-extracted: consolidated like extracted ones, no LLM call
        known = {t.label for t in topics} | {str(m) for m in ManagedTopic}
        candidates = [
            CandidateFact(fact=f.fact, topics=[t for t in f.topics if t in known], event_ids=[]) for f in request.facts
        ]
        candidates = clean_candidates(
            candidates, [], [TopicSpec(label=t, description="") for t in known], require_topic=False
        )
        store.put_blob(ctx.tenant_id, ctx.operation_id, CANDIDATES, [c.model_dump() for c in candidates])
        return len(candidates)
    raw_events = store.get_blob(ctx.tenant_id, ctx.operation_id, SOURCE) or []
    events = [ConversationEvent.model_validate(e) for e in raw_events]
    candidates = []
    if events and topics:
        prompt = ExtractionPrompt(events=events, topics=topics, today=clock.now().date(), examples=config.examples)
        result = llm.extract(prompt)
        store.add_usage(
            ctx.tenant_id,
            ctx.operation_id,
            Usage(llm_calls=1, input_tokens=result.input_tokens, output_tokens=result.output_tokens),
            clock.now(),
        )
        candidates = clean_candidates(result.output.facts, events, topics)
    store.put_blob(ctx.tenant_id, ctx.operation_id, CANDIDATES, [c.model_dump() for c in candidates])
    return len(candidates)


def clean_candidates(
    facts: list[CandidateFact],
    events: list[ConversationEvent],
    topics: list[TopicSpec],
    require_topic: bool = True,
) -> list[CandidateFact]:
    """Normalize whitespace, drop blank and duplicate facts, unknown event ids and topics; keep 40.

    With ``require_topic`` (extracted facts), a fact none of whose topics is allowed is dropped, so a
    request limited to some ``topics`` never stores others; pre-extracted ``facts`` may have none.
    """
    known_events = {e.event_id for e in events}
    known_topics = {t.label for t in topics}
    seen: set[str] = set()
    out = []
    for fact in facts:
        text = " ".join(fact.fact.split())[:MAX_FACT_CHARS]
        key = text.lower().rstrip(".")
        kept_topics = [t for t in dict.fromkeys(fact.topics) if t in known_topics]
        if not text or key in seen or (require_topic and not kept_topics):
            continue
        seen.add(key)
        out.append(
            CandidateFact(
                fact=text,
                topics=kept_topics,
                event_ids=[e for e in dict.fromkeys(fact.event_ids) if e in known_events],
            )
        )
    return out[:MAX_CANDIDATES]


@dataclass(frozen=True)
class ConsolidationConfig:
    """``neighbours`` per candidate, ``min_similarity`` (cosine) for a neighbour to count, and how long
    the per-scope lease lasts (``lease_seconds``; a dead holder's lease is taken over after it)."""

    neighbours: int = 5
    min_similarity: float = 0.5
    lease_seconds: float = 120.0


def consolidate(
    store: MemoryStore,
    index: VectorIndex,
    embedder: Embedder,
    llm: LLM,
    clock: Clock,
    ctx: StepContext,
    config: ConsolidationConfig = ConsolidationConfig(),
) -> OperationResult:
    """Decide and apply CREATE / UPDATE / DELETE / NOOP for every candidate, atomically.

    The nearest existing memories of the same scope are found through the index and then read from the
    store (the truth); the model sees them as short integers. All writes, their revisions and the
    operation's result go in one DynamoDB transaction guarded by each memory's version, so a crash
    leaves either everything or nothing, and a concurrent change makes the step retry on fresh state.
    """
    operation = get_operation(store, ctx.tenant_id, ctx.operation_id)
    if operation.result is not None:
        return operation.result  # already applied by an earlier attempt
    raw = store.get_blob(ctx.tenant_id, ctx.operation_id, CANDIDATES) or []
    candidates = [CandidateFact.model_validate(c) for c in raw]
    if not candidates:
        result = OperationResult()
        store.apply_changes(ctx.tenant_id, [], operation_id=ctx.operation_id, result=result)
        return result

    request = _request(store, ctx)
    scope = request.scope
    # Per-scope serialization: one generation at a time reads and changes a scope's memories, from
    # here until Finalize sees its writes in the index (so the next one finds them as neighbours).
    if not store.acquire_lease(ctx.tenant_id, scope_hash(scope), ctx.operation_id, clock.now(), config.lease_seconds):
        raise ScopeBusy("another generation is consolidating this scope")
    usage = Usage()
    vectors = embedder.embed([c.fact for c in candidates])
    usage += Usage(embedding_calls=1)

    existing: dict[str, StoredMemory] = {}
    close_ids: list[list[str]] = [[] for _ in candidates]
    neighbour_ids: list[str] = []
    for i, vector in enumerate([] if request.disable_consolidation else vectors):
        hits = index.search(
            IndexQuery(
                tenant_id=ctx.tenant_id,
                scope_hash=scope_hash(scope),
                vector=vector,
                embedding_model=embedder.model_id,
                k=config.neighbours,
            )
        )
        close_ids[i] = [h.memory_id for h in hits if h.score >= config.min_similarity]
        neighbour_ids.extend(close_ids[i])
    if neighbour_ids:
        found = store.get_memories(ctx.tenant_id, neighbour_ids)
        for memory_id in dict.fromkeys(neighbour_ids):
            memory = found.get(memory_id)
            if memory is None or not is_live(memory, clock) or memory.scope != scope:
                continue
            exact = request.metadata_merge_strategy is MetadataMergeStrategy.REQUIRE_EXACT_MATCH
            if exact and memory.metadata != request.metadata:
                continue
            existing[memory_id] = memory
    existing_list = list(existing.values())
    # a neighbour counts only if it is live and shown to the model (a stale index hit does not)
    has_neighbour = [any(memory_id in existing for memory_id in ids) for ids in close_ids]

    if existing_list:
        answer = llm.consolidate(
            ConsolidationPrompt(
                existing=[m.fact for m in existing_list],
                candidates=[c.fact for c in candidates],
                candidate_topics=[c.topics for c in candidates],
            )
        )
        usage += Usage(llm_calls=1, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)
        decisions = resolve_decisions(answer.output.decisions, len(candidates), len(existing_list), has_neighbour)
    else:
        decisions = [
            ConsolidationDecision(candidate=i, decision=Decision.CREATE, memory=None, fact=None)
            for i in range(len(candidates))
        ]

    # Texts the model rewrote need their own vectors: one more batched call, only when there are any.
    final_text: dict[int, str] = {}
    for d in decisions:
        if d.decision is Decision.UPDATE:
            final_text[d.candidate] = (" ".join((d.fact or "").split()) or candidates[d.candidate].fact)[
                :MAX_FACT_CHARS
            ]
    rewritten = [i for i, text in final_text.items() if text != candidates[i].fact]
    new_vectors = (
        dict(zip(rewritten, embedder.embed([final_text[i] for i in rewritten]), strict=True)) if rewritten else {}
    )
    if rewritten:
        usage += Usage(embedding_calls=1)

    now = clock.now()
    config = get_config(store, ctx.tenant_id)
    created_expire = expire_at(now, request.ttl_seconds or config.ttl.generate_created_ttl_seconds)
    updated_ttl = request.ttl_seconds or config.ttl.generate_updated_ttl_seconds
    revision_expire = expire_at(now, config.ttl.revision_ttl_seconds)
    candidate_facts = [c.fact for c in candidates]
    changes: list[Change] = []
    generated: list[GeneratedMemory] = []

    def record(action: Action, memory: StoredMemory, previous_fact: str | None) -> Revision:
        return revision_for(
            memory,
            action,
            now,
            previous_fact,
            request.revision_labels,
            revision_expire,
            operation_id=ctx.operation_id,
            candidate_facts=candidate_facts,
        )

    for d in decisions:
        candidate = candidates[d.candidate]
        source = Source(operation_id=ctx.operation_id, event_ids=candidate.event_ids)
        if d.decision is Decision.CREATE:
            after = StoredMemory(
                id=new_id(),
                tenant_id=ctx.tenant_id,
                scope=scope,
                fact=candidate.fact,
                topics=candidate.topics,
                metadata=request.metadata,
                create_time=now,
                update_time=now,
                expire_time=created_expire,
                revision_id=new_id(),
                source=source,
                embedding=vectors[d.candidate],
                embedding_model=embedder.model_id,
            )
            changes.append(Change(Action.CREATED, after, None, record(Action.CREATED, after, None)))
            generated.append(GeneratedMemory(memory=after.public(), action=Action.CREATED))
        elif d.decision is Decision.UPDATE:
            assert d.memory is not None
            before = existing_list[d.memory]
            metadata = (
                dict(request.metadata)
                if request.metadata_merge_strategy is MetadataMergeStrategy.OVERWRITE
                else {**before.metadata, **request.metadata}
            )
            after = before.model_copy(
                update={
                    "fact": final_text[d.candidate],
                    "topics": list(dict.fromkeys([*before.topics, *candidate.topics])),
                    "metadata": metadata,
                    "update_time": now,
                    "expire_time": expire_at(now, updated_ttl) if updated_ttl else before.expire_time,
                    "revision_id": new_id(),
                    "source": source,
                    "embedding": new_vectors.get(d.candidate, vectors[d.candidate]),
                    "embedding_model": embedder.model_id,
                }
            )
            changes.append(Change(Action.UPDATED, after, before, record(Action.UPDATED, after, before.fact)))
            generated.append(
                GeneratedMemory(memory=after.public(), action=Action.UPDATED, previous_revision_id=before.revision_id)
            )
        elif d.decision is Decision.DELETE:
            assert d.memory is not None
            before = existing_list[d.memory]
            changes.append(Change(Action.DELETED, None, before, record(Action.DELETED, before, before.fact)))
            generated.append(
                GeneratedMemory(memory=before.public(), action=Action.DELETED, previous_revision_id=before.revision_id)
            )

    result = OperationResult(generated_memories=generated)
    store.add_usage(ctx.tenant_id, ctx.operation_id, usage, now)
    store.apply_changes(ctx.tenant_id, changes, operation_id=ctx.operation_id, result=result)
    return result


def resolve_decisions(
    decisions: list[ConsolidationDecision], n_candidates: int, n_existing: int, has_neighbour: list[bool]
) -> list[ConsolidationDecision]:
    """Validate the model's decisions and make them safe to apply.

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
    touched: set[int] = set()
    out = []
    for i in range(n_candidates):
        d = by_candidate.get(i)
        if d is None:
            d = ConsolidationDecision(
                candidate=i,
                decision=Decision.NOOP if has_neighbour[i] else Decision.CREATE,
                memory=None,
                fact=None,
            )
        if d.decision in (Decision.UPDATE, Decision.DELETE):
            assert d.memory is not None
            if d.memory in touched:
                if d.decision is Decision.UPDATE:
                    d = ConsolidationDecision(candidate=i, decision=Decision.CREATE, memory=None, fact=None)
                else:
                    continue
            else:
                touched.add(d.memory)
        if d.decision is not Decision.NOOP:
            out.append(d)
    return out


def finalize(store: MemoryStore, index: VectorIndex, clock: Clock, ctx: StepContext) -> Operation:
    """Mark the operation SUCCEEDED once the index reflects every change (read-your-writes).

    Raises ``IndexNotReady`` (retried by the workflow with backoff) while the index lags.
    """
    operation = get_operation(store, ctx.tenant_id, ctx.operation_id)
    if operation.done:
        _release_scope(store, ctx)  # a retry after finishing: make sure the lease is given back
        return operation
    generated = operation.result.generated_memories if operation.result else []
    ids = [g.memory.id for g in generated]
    indexed = index.revisions(ctx.tenant_id, ids)
    current = store.get_memories(ctx.tenant_id, ids)
    lagging = []
    for memory_id in ids:
        # compare with the memory's current state: a later writer may have changed or deleted it
        now_stored = current.get(memory_id)
        have = indexed.get(memory_id)
        if now_stored is None:
            if have is not None:
                lagging.append(memory_id)
        elif have is None or have < now_stored.revision_id:
            lagging.append(memory_id)
    if lagging:
        raise IndexNotReady(f"{len(lagging)} of {len(generated)} memories not yet indexed")
    store.finish_operation(ctx.tenant_id, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now())
    _release_scope(store, ctx)
    return get_operation(store, ctx.tenant_id, ctx.operation_id)


def _release_scope(store: MemoryStore, ctx: StepContext) -> None:
    scope = store.get_operation_scope(ctx.tenant_id, ctx.operation_id)
    store.release_lease(ctx.tenant_id, scope_hash(scope), ctx.operation_id)


def record_failure(store: MemoryStore, clock: Clock, ctx: StepContext, error: dict[str, Any]) -> Operation:
    """Record a caught workflow error (``{"Error": name, "Cause": text}``) and mark the operation FAILED."""
    code = str(error.get("Error") or "Unknown")
    message = _cause_message(error.get("Cause"))
    store.finish_operation(
        ctx.tenant_id,
        ctx.operation_id,
        OperationStatus.FAILED,
        clock.now(),
        OperationError(code=code, message=message),
    )
    _release_scope(store, ctx)
    return get_operation(store, ctx.tenant_id, ctx.operation_id)


def _cause_message(cause: Any) -> str:
    """The Lambda error payload's ``errorMessage`` when the cause is one, else the cause as text."""
    if isinstance(cause, str):
        try:
            cause = json.loads(cause)
        except ValueError:
            return cause[:2000]
    if isinstance(cause, dict):
        return str(cause.get("errorMessage") or cause)[:2000]
    return str(cause or "")[:2000]
