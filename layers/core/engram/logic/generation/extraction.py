"""Workflow step Extract: candidate facts from the loaded conversation (one LLM call), or the request's
pre-extracted facts, cleaned and stored for Consolidate."""

from __future__ import annotations

from engram.logic.config import get_config
from engram.logic.generation.operations import StepContext, stored_request
from engram.models.api import FactSource, GenerateRequest
from engram.models.config import TenantConfig
from engram.models.conversation import ConversationEvent
from engram.models.extraction import CandidateFact
from engram.models.memory import MAX_FACT_CHARS, ManagedTopic
from engram.models.operation import OperationDocument, Usage
from engram.models.prompts import ExtractionPrompt, TopicSpec, managed_topics
from engram.ports import LLM, Clock, ConfigRepository, OperationRepository

MAX_CANDIDATES = 40  # keeps one consolidation within one DynamoDB transaction (≤ 100 items)


def extract(
    operations: OperationRepository, configs: ConfigRepository, llm: LLM, clock: Clock, ctx: StepContext
) -> int:
    """One LLM call proposes candidate facts; they are cleaned and stored. Returns the count.

    Cleaning: unknown event ids and topics are dropped, blank or duplicate facts removed, facts cut to
    2,000 characters, at most 40 kept. No call when the conversation is empty or no topic is allowed
    (nothing is extracted), nor for pre-extracted ``facts`` (kept with their known topics, even none).
    A retried step reuses stored candidates (no second call). Raises ``NotFound`` when the operation has
    no stored request.
    """
    stored = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.CANDIDATES)
    if stored is not None:
        return len(stored)
    request = stored_request(operations, ctx)
    config = get_config(configs, ctx.tenant_id)
    topics = allowed_topics(request, config)
    if request.facts is not None:  # pre-extracted: consolidated like extracted ones, no LLM call
        candidates = _given_facts(request.facts, topics)
    else:
        candidates = _extracted(operations, llm, clock, ctx, config, topics, request)
    operations.put_blob(
        ctx.tenant_id, ctx.operation_id, OperationDocument.CANDIDATES, [c.model_dump() for c in candidates]
    )
    return len(candidates)


def allowed_topics(request: GenerateRequest, config: TenantConfig) -> list[TopicSpec]:
    """The tenant's enabled managed topics and custom topics, limited to ``request.topics`` if given."""
    topics = [t for t in managed_topics() if t.label in {str(m) for m in config.managed_topics}]
    topics += [TopicSpec(label=t.label, description=t.description) for t in config.custom_topics]
    if request.topics:
        wanted = set(request.topics)
        topics = [t for t in topics if t.label in wanted]
    return topics


def _given_facts(facts: list[FactSource], topics: list[TopicSpec]) -> list[CandidateFact]:
    """A request's pre-extracted ``facts`` as candidates: topics kept when allowed or managed, no events."""
    known = {t.label for t in topics} | {str(m) for m in ManagedTopic}
    candidates = [CandidateFact(fact=f.fact, topics=[t for t in f.topics if t in known], event_ids=[]) for f in facts]
    return clean_candidates(candidates, [], [TopicSpec(label=t, description="") for t in known], require_topic=False)


def _extracted(
    operations: OperationRepository,
    llm: LLM,
    clock: Clock,
    ctx: StepContext,
    config: TenantConfig,
    topics: list[TopicSpec],
    request: GenerateRequest,
) -> list[CandidateFact]:
    """The facts one extraction call finds in the stored conversation (its usage added to the operation),
    with the request's ``temperature`` and ``max_tokens``; none, without a call, when the conversation is
    empty or no topic is allowed."""
    raw_events = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.SOURCE) or []
    events = [ConversationEvent.model_validate(e) for e in raw_events]
    if not events or not topics:
        return []
    prompt = ExtractionPrompt(
        events=events,
        topics=topics,
        today=clock.now().date(),
        examples=config.examples,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
    )
    result = llm.extract(prompt)
    operations.add_usage(
        ctx.tenant_id,
        ctx.operation_id,
        Usage(llm_calls=1, input_tokens=result.input_tokens, output_tokens=result.output_tokens),
        clock.now(),
    )
    return clean_candidates(result.output.facts, events, topics)


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
