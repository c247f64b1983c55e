"""Memory generation (``engram.logic.generation``): the API side (start, wait) and the workflow steps
(LoadSource → Extract → Consolidate → Finalize, RecordFailure), run on the in-memory fakes."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from engram.errors import (
    UNKNOWN_FAILURE_TEXT,
    ConfigurationError,
    EmbeddingUnavailable,
    IndexNotReady,
    LLMOutputInvalid,
    LLMUnavailable,
    RetryableError,
    ScopeBusy,
)
from engram.logic.generation import (
    ConsolidationConfig,
    StepContext,
    caught_error_detail,
    consolidate,
    extract,
    finalize,
    load_source,
    record_failure,
    resolve_decisions,
    start_generation,
    wait_for_operation,
)
from engram.logic.memories import create_memories, delete_memory
from engram.models.api import GenerateRequest
from engram.models.extraction import ConsolidationDecision, Decision
from engram.models.memory import Action, ManagedTopic, Memory, NewMemory
from engram.models.operation import OperationDocument, OperationStatus, Usage
from engram.models.session import SessionEvent

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
SCOPE = {"user_id": "u-1"}
PERSONAL = ManagedTopic.USER_PERSONAL_INFO.value
PREFERENCES = ManagedTopic.USER_PREFERENCES.value
PNG = "iVBORw0KGgoAAAAAAAAAAA=="  # the PNG signature and eight zero bytes
REQUEST, SOURCE, CANDIDATES = OperationDocument.REQUEST, OperationDocument.SOURCE, OperationDocument.CANDIDATES


class RecordingStarter:
    """A ``WorkflowStarter`` that records what it started, or raises ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.started: list[tuple[str, str]] = []
        self.error = error

    def start(self, tenant_id: str, operation_id: str) -> None:
        self.started.append((tenant_id, operation_id))
        if self.error is not None:
            raise self.error


def user_turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"turn {i}"} for i in range(n)]


def begin(stores: Any, clock: Any, tenant: str = TENANT, **fields: Any) -> StepContext:
    """A started generation (RUNNING operation and its stored request)."""
    fields.setdefault("scope", SCOPE)
    if not {"events", "session", "facts"} & set(fields):
        fields.setdefault("messages", user_turns(3))
    fields = {k: v for k, v in fields.items() if v is not None}
    operation = start_generation(
        stores.operations, RecordingStarter(), clock, tenant, GenerateRequest.model_validate(fields)
    )
    return StepContext(tenant_id=tenant, operation_id=operation.id)


def fact(text: str, topics: tuple[str, ...] = (PERSONAL,), event_ids: tuple[str, ...] = ("0",)) -> dict[str, Any]:
    return {"fact": text, "topics": list(topics), "event_ids": list(event_ids)}


def extracted(
    stores: Any, llm: Any, clock: Any, *texts: str, tenant: str = TENANT, scope: dict[str, str] = SCOPE
) -> StepContext:
    """A generation whose conversation is loaded and whose candidates ``texts`` are extracted."""
    ctx = begin(stores, clock, tenant=tenant, scope=scope, messages=user_turns(max(1, len(texts))))
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact(t, event_ids=(str(i),)) for i, t in enumerate(texts)])
    extract(stores.operations, stores.configs, llm, clock, ctx)
    return ctx


def remember(
    stores: Any, embedder: Any, clock: Any, *texts: str, tenant: str = TENANT, scope: dict[str, str] = SCOPE
) -> list[Memory]:
    """Existing memories (created directly); the embedder's counter starts again at zero."""
    memories = create_memories(
        stores.memories, stores.configs, embedder, clock, tenant, [NewMemory(scope=scope, fact=t) for t in texts]
    )
    embedder.reset()
    return memories


def decision(candidate: int, kind: Decision, memory: int | None = None, text: str | None = None) -> dict[str, Any]:
    return {"candidate": candidate, "decision": kind, "memory": memory, "fact": text}


def load(stores: Any, llm: Any, clock: Any, ctx: StepContext) -> int:
    """The LoadSource step."""
    return load_source(stores.operations, stores.sessions, llm, clock, ctx)


def run_consolidate(stores: Any, index: Any, embedder: Any, llm: Any, clock: Any, ctx: StepContext) -> Any:
    return consolidate(
        stores.operations, stores.memories, stores.leases, stores.configs, index, embedder, llm, clock, ctx
    )


# --- start_generation / wait_for_operation -------------------------------------------------------------


def test_start_generation_stores_a_running_operation_with_its_request_and_starts_the_workflow(stores, clock) -> None:
    # Given a generate request that asks to wait
    request = GenerateRequest.model_validate(
        {"scope": SCOPE, "messages": [{"role": "user", "content": "I live in Lisbon"}], "wait_seconds": 5}
    )
    starter = RecordingStarter()

    # When generation starts
    operation = start_generation(stores.operations, starter, clock, TENANT, request)

    # Then a RUNNING operation is stored, with the request (without wait_seconds), and its workflow started
    stored = stores.operations.get(TENANT, operation.id)
    assert stored is not None and stored.status is OperationStatus.RUNNING
    assert stored.create_time == clock.now()
    body = stores.operations.get_blob(TENANT, operation.id, REQUEST)
    assert body["scope"] == SCOPE
    assert body["messages"][0]["content"] == "I live in Lisbon"
    assert "wait_seconds" not in body
    assert stores.operations.scope_of(TENANT, operation.id) == SCOPE
    assert starter.started == [(TENANT, operation.id)]
    assert stores.operations.get(OTHER_TENANT, operation.id) is None


def test_a_workflow_that_cannot_start_leaves_a_failed_operation_and_raises_retryable(stores, clock) -> None:
    # Given a workflow starter that fails
    starter = RecordingStarter(error=RuntimeError("states is down"))
    request = GenerateRequest.model_validate({"scope": SCOPE, "messages": user_turns(1)})

    # When generation starts
    with pytest.raises(RetryableError):
        start_generation(stores.operations, starter, clock, TENANT, request)

    # Then the operation is recorded as FAILED with code WorkflowStartFailed (it never silently disappears)
    [(_, operation_id)] = starter.started
    operation = stores.operations.get(TENANT, operation_id)
    assert operation is not None and operation.status is OperationStatus.FAILED
    assert operation.error is not None and operation.error.code == "WorkflowStartFailed"
    assert operation.error.message == "could not start the generation workflow"  # the cause is for the log


def test_wait_for_operation_returns_at_once_when_the_operation_is_done(stores, clock) -> None:
    # Given a finished operation
    ctx = begin(stores, clock)
    stores.operations.finish(TENANT, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now())
    sleeps: list[float] = []

    # When a client waits up to 20 s
    operation = wait_for_operation(stores.operations, TENANT, ctx.operation_id, 20, sleep=sleeps.append)

    # Then it gets the finished operation without sleeping
    assert operation.status is OperationStatus.SUCCEEDED
    assert sleeps == []


def test_wait_for_operation_returns_as_soon_as_the_operation_finishes(stores, clock) -> None:
    # Given a running operation that finishes while the caller sleeps the first time
    ctx = begin(stores, clock)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        stores.operations.finish(TENANT, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now())

    # When a client waits up to 20 s
    started = time.monotonic()
    operation = wait_for_operation(stores.operations, TENANT, ctx.operation_id, 20, sleep=sleep, poll_seconds=0.2)

    # Then it returns after one poll, long before the 20 s
    assert operation.status is OperationStatus.SUCCEEDED
    assert sleeps == [pytest.approx(0.2)]
    assert time.monotonic() - started < 5


def test_wait_for_operation_gives_up_after_wait_seconds_with_the_running_operation(stores, clock) -> None:
    # Given an operation that never finishes
    ctx = begin(stores, clock)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    # When a client waits 0.15 s, polling every 0.05 s
    started = time.monotonic()
    operation = wait_for_operation(stores.operations, TENANT, ctx.operation_id, 0.15, sleep=sleep, poll_seconds=0.05)

    # Then it gets the RUNNING operation once the time is up, having slept in polls of at most 0.05 s
    elapsed = time.monotonic() - started
    assert operation.status is OperationStatus.RUNNING
    assert 0.15 <= elapsed < 2
    assert len(sleeps) >= 2
    assert all(0 <= s <= 0.05 for s in sleeps)
    assert sum(sleeps) <= 0.15 + 1e-6


# --- load_source ------------------------------------------------------------------------------------


def test_load_source_gives_each_message_without_an_id_its_position(stores, llm, clock) -> None:
    # Given messages of which only the second has an event id
    ctx = begin(
        stores,
        clock,
        messages=[
            {"role": "user", "content": "I live in Lisbon"},
            {"role": "assistant", "content": "Nice!", "event_id": "m-7"},
            {"role": "user", "content": [{"type": "text", "text": "I have"}, {"type": "text", "text": "a cat"}]},
        ],
    )

    # When the source is loaded
    count = load(stores, llm, clock, ctx)

    # Then the stored events carry positional ids where none was given, roles and texts
    assert count == 3
    events = stores.operations.get_blob(TENANT, ctx.operation_id, SOURCE)
    assert [(e["event_id"], e["role"], e["text"]) for e in events] == [
        ("0", "user", "I live in Lisbon"),
        ("m-7", "assistant", "Nice!"),
        ("2", "user", "I have\na cat"),
    ]


def test_load_source_keeps_explicit_event_ids_and_reads_role_model_as_assistant(stores, llm, clock) -> None:
    # Given Memory Bank style events with their own ids, one from role "model"
    ctx = begin(
        stores,
        clock,
        events=[
            {"event_id": "e1", "content": {"role": "user", "parts": [{"text": "I'm a nurse"}]}},
            {"event_id": "e2", "content": {"role": "model", "parts": [{"text": "Noted."}]}},
        ],
    )

    # When the source is loaded
    load(stores, llm, clock, ctx)

    # Then the events keep their ids and the model's turn is an assistant turn
    events = stores.operations.get_blob(TENANT, ctx.operation_id, SOURCE)
    assert [(e["event_id"], e["role"]) for e in events] == [("e1", "user"), ("e2", "assistant")]


def test_load_source_accepts_role_model_in_openai_style_messages(stores, llm, clock) -> None:
    # Given a message from role "model"
    ctx = begin(stores, clock, messages=[{"role": "user", "content": "hi"}, {"role": "model", "content": "hello"}])

    # When the source is loaded
    load(stores, llm, clock, ctx)

    # Then it is stored as an assistant turn
    assert [e["role"] for e in stores.operations.get_blob(TENANT, ctx.operation_id, SOURCE)] == ["user", "assistant"]


def test_load_source_describes_each_image_once_and_a_retry_reuses_the_description(stores, llm, clock) -> None:
    # Given an event with a caption and a photo, and a vision model that describes it for 300 tokens
    image = {"inline_data": {"mime_type": "image/png", "data": PNG}}
    ctx = begin(
        stores, clock, events=[{"event_id": "e1", "content": {"role": "user", "parts": [{"text": "my cat"}, image]}}]
    )
    llm.queue_description("A photo of a   tabby cat on a sofa.", input_tokens=300, output_tokens=12)

    # When the source is loaded, then loaded again (a workflow retry)
    load(stores, llm, clock, ctx)
    count = load(stores, llm, clock, ctx)

    # Then the image became a description line in its event, from one call, recorded in the usage
    assert count == 1
    [event] = stores.operations.get_blob(TENANT, ctx.operation_id, SOURCE)
    assert event["event_id"] == "e1"
    assert event["text"] == "my cat\n[Image: A photo of a tabby cat on a sofa.]"
    assert event["attachments"] == []
    assert len(llm.described_images) == 1
    assert stores.operations.get(TENANT, ctx.operation_id).usage == Usage(
        llm_calls=1, input_tokens=300, output_tokens=12
    )


def test_load_source_of_a_session_keeps_the_events_in_the_time_range_with_their_ids(stores, llm, clock) -> None:
    # Given a stored session of three events, one minute apart
    times = [clock.now() + timedelta(minutes=i) for i in range(3)]
    stores.sessions.append(
        TENANT,
        "s-1",
        [
            SessionEvent(event_id=f"e{i}", timestamp=t, content={"role": "user", "parts": [{"text": f"turn {i}"}]})
            for i, t in enumerate(times)
        ],
    )
    ctx = begin(stores, clock, session={"session_id": "s-1", "start_time": times[1].isoformat()})

    # When the source is loaded
    count = load(stores, llm, clock, ctx)

    # Then the events from start_time on are the conversation, with their own ids
    assert count == 2
    events = stores.operations.get_blob(TENANT, ctx.operation_id, SOURCE)
    assert [(e["event_id"], e["text"]) for e in events] == [("e1", "turn 1"), ("e2", "turn 2")]


# --- extract ----------------------------------------------------------------------------------------


def test_extract_makes_one_llm_call_and_records_its_usage_on_the_operation(stores, llm, clock) -> None:
    # Given a loaded conversation and a model that proposes one fact for 120 input / 30 output tokens
    ctx = begin(stores, clock, messages=[{"role": "user", "content": "I live in Lisbon"}])
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact("The user lives in Lisbon.")], input_tokens=120, output_tokens=30)

    # When extraction runs
    count = extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then one call was made with the conversation, the candidate is stored and the usage recorded
    assert count == 1
    assert llm.calls == 1
    [prompt] = llm.extract_prompts
    assert [(e.event_id, e.text) for e in prompt.events] == [("0", "I live in Lisbon")]
    assert prompt.today == clock.now().date()
    assert stores.operations.get_blob(TENANT, ctx.operation_id, CANDIDATES) == [fact("The user lives in Lisbon.")]
    operation = stores.operations.get(TENANT, ctx.operation_id)
    assert operation.usage == Usage(llm_calls=1, input_tokens=120, output_tokens=30)


def test_extract_drops_unknown_event_ids_and_topics_and_duplicate_facts(stores, llm, clock) -> None:
    # Given a model answer with an invented event id, an unknown topic and the same fact twice
    ctx = begin(stores, clock, messages=user_turns(2))
    load(stores, llm, clock, ctx)
    llm.queue_extract(
        [
            {"fact": "The user lives in Lisbon.", "topics": [PERSONAL, "MADE_UP"], "event_ids": ["0", "99"]},
            {"fact": "  the user lives   in Lisbon ", "topics": [PERSONAL], "event_ids": ["1"]},
            {"fact": "The user likes jazz.", "topics": [PREFERENCES, PREFERENCES], "event_ids": ["1", "1"]},
            {"fact": "   ", "topics": [PERSONAL], "event_ids": ["0"]},
        ]
    )

    # When extraction runs
    count = extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then only known ids and topics remain, each once, and the repeated and blank facts are gone
    assert count == 2
    assert stores.operations.get_blob(TENANT, ctx.operation_id, CANDIDATES) == [
        {"fact": "The user lives in Lisbon.", "topics": [PERSONAL], "event_ids": ["0"]},
        {"fact": "The user likes jazz.", "topics": [PREFERENCES], "event_ids": ["1"]},
    ]


def test_extract_keeps_at_most_40_candidates(stores, llm, clock) -> None:
    # Given a model that proposes 45 different facts
    ctx = begin(stores, clock)
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact(f"The user owns book number {i}.") for i in range(45)])

    # When extraction runs
    count = extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then the first 40 are kept
    candidates = stores.operations.get_blob(TENANT, ctx.operation_id, CANDIDATES)
    assert count == 40
    assert [c["fact"] for c in candidates] == [f"The user owns book number {i}." for i in range(40)]


def test_a_retried_extract_reuses_the_stored_candidates_without_a_second_llm_call(stores, llm, clock) -> None:
    # Given an extraction that already ran
    ctx = begin(stores, clock)
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact("The user lives in Lisbon.")], input_tokens=100)
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # When the step runs again (a workflow retry)
    count = extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then it reports the same candidates without calling the model or adding usage
    assert count == 1
    assert llm.calls == 1
    assert stores.operations.get(TENANT, ctx.operation_id).usage == Usage(llm_calls=1, input_tokens=100)


def test_extract_offers_the_model_only_the_topics_of_the_request(stores, llm, clock) -> None:
    # Given a request limited to preferences
    ctx = begin(stores, clock, topics=[PREFERENCES])
    load(stores, llm, clock, ctx)
    llm.queue_extract([])

    # When extraction runs
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then the prompt offers only that topic
    [prompt] = llm.extract_prompts
    assert [t.label for t in prompt.topics] == [PREFERENCES]
    system = prompt.messages()[0]["content"]
    assert PREFERENCES in system
    assert PERSONAL not in system


def test_extract_offers_every_managed_topic_by_default(stores, llm, clock) -> None:
    # Given a request without topics
    ctx = begin(stores, clock)
    load(stores, llm, clock, ctx)
    llm.queue_extract([])

    # When extraction runs
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then the four managed topics are offered
    [prompt] = llm.extract_prompts
    assert {t.label for t in prompt.topics} == {t.value for t in ManagedTopic}


def test_a_candidate_with_no_allowed_topic_is_not_kept(stores, llm, clock) -> None:
    # Given a request limited to preferences and a model that answers with a personal-info fact anyway
    ctx = begin(stores, clock, topics=[PREFERENCES])
    load(stores, llm, clock, ctx)
    llm.queue_extract(
        [fact("The user lives in Lisbon.", topics=(PERSONAL,)), fact("The user likes jazz.", (PREFERENCES,))]
    )

    # When extraction runs
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # Then only the preference becomes a candidate
    assert [c["fact"] for c in stores.operations.get_blob(TENANT, ctx.operation_id, CANDIDATES)] == [
        "The user likes jazz."
    ]


# --- consolidate ------------------------------------------------------------------------------------


def test_without_neighbours_every_candidate_is_created_without_a_consolidation_call(
    stores, index, embedder, llm, clock
) -> None:
    # Given an empty scope and two candidates
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon.", "The user likes jazz.")

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then both are created, with one embedding call and no consolidation call
    assert [g.action for g in result.generated_memories] == [Action.CREATED, Action.CREATED]
    assert llm.consolidate_prompts == []
    assert embedder.calls == [["The user lives in Lisbon.", "The user likes jazz."]]
    assert stores.operations.get(TENANT, ctx.operation_id).usage == Usage(llm_calls=1, embedding_calls=1)
    # ... and stored with their provenance, embedding and a CREATED revision
    for i, generated in enumerate(result.generated_memories):
        stored = stores.memories.get(TENANT, generated.memory.id)
        assert stored.scope == SCOPE
        assert stored.source.operation_id == ctx.operation_id and stored.source.event_ids == [str(i)]
        assert stored.embedding == embedder.embed([stored.fact])[0]
        [revision] = stores.memories.revisions(TENANT, stored.id)
        assert revision.action is Action.CREATED and revision.fact == stored.fact
        assert revision.id == stored.revision_id == generated.memory.revision_id
    assert stores.operations.get(TENANT, ctx.operation_id).result == result


def test_a_memory_below_the_similarity_threshold_is_not_a_neighbour(stores, index, embedder, llm, clock) -> None:
    # Given an unrelated memory in the scope
    remember(stores, embedder, clock, "The user is allergic to peanuts.")
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon.")

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the candidate is created without asking the model
    assert [g.action for g in result.generated_memories] == [Action.CREATED]
    assert llm.consolidate_prompts == []


def test_with_a_near_neighbour_one_consolidation_call_shows_memories_as_small_integers(
    stores, index, embedder, llm, clock
) -> None:
    # Given two memories close to the two candidates
    existing = remember(stores, embedder, clock, "The user lives in Lisbon.", "The user has a dog named Rex.")
    ctx = extracted(stores, llm, clock, "The user lives in Porto.", "The user has a dog named Max.")
    llm.queue_consolidate([decision(0, Decision.NOOP), decision(1, Decision.NOOP)], input_tokens=200, output_tokens=20)

    # When consolidation runs
    run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then one call shows them as 0..n-1, never with a storage id, and its usage is recorded
    [prompt] = llm.consolidate_prompts
    assert sorted(prompt.existing) == sorted(m.fact for m in existing)
    assert prompt.candidates == ["The user lives in Porto.", "The user has a dog named Max."]
    rendered = json.dumps(prompt.messages())
    for i, text in enumerate(prompt.existing):
        assert f"{i}: {text}" in rendered
    for memory in existing:
        assert memory.id not in rendered
        assert memory.revision_id not in rendered
    assert stores.operations.get(TENANT, ctx.operation_id).usage == Usage(
        llm_calls=2, input_tokens=200, output_tokens=20, embedding_calls=1
    )


def test_update_keeps_the_memory_id_and_writes_the_new_fact_with_a_revision(
    stores, index, embedder, llm, clock
) -> None:
    # Given a memory the candidate supersedes
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    old_version = stores.memories.get(TENANT, old.id).version
    ctx = extracted(stores, llm, clock, "The user lives in Porto.")
    clock.advance(minutes=5)
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, "The user lives in Porto.")])

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the same memory holds the new fact, with a revision and the previous revision id in the result
    [generated] = result.generated_memories
    assert generated.action is Action.UPDATED
    assert generated.memory.id == old.id
    assert generated.previous_revision_id == old.revision_id
    stored = stores.memories.get(TENANT, old.id)
    assert stored.fact == "The user lives in Porto."
    assert stored.create_time == old.create_time and stored.update_time == clock.now()
    assert stored.revision_id == generated.memory.revision_id != old.revision_id
    assert stored.version == old_version + 1
    assert stored.source.operation_id == ctx.operation_id
    revisions = {r.action: r for r in stores.memories.revisions(TENANT, old.id)}
    assert set(revisions) == {Action.CREATED, Action.UPDATED}
    assert revisions[Action.UPDATED].id == stored.revision_id
    assert revisions[Action.UPDATED].fact == "The user lives in Porto."
    assert revisions[Action.UPDATED].previous_fact == "The user lives in Lisbon."
    # ... the text the model kept needs no second embedding call, and the index follows
    assert embedder.call_count == 1
    assert stored.embedding == embedder.embed(["The user lives in Porto."])[0]
    assert index.revisions(TENANT, [old.id]) == {old.id: stored.revision_id}


def test_an_update_the_model_rewrote_costs_exactly_one_more_embedding_call(stores, index, embedder, llm, clock) -> None:
    # Given a memory and a model that merges the candidate into a new text
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    ctx = extracted(stores, llm, clock, "The user lives in Porto.")
    merged = "The user lives in Porto, having moved from Lisbon."
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, merged)])

    # When consolidation runs
    run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the merged text is embedded in one more call and stored with that vector
    assert embedder.calls == [["The user lives in Porto."], [merged]]
    stored = stores.memories.get(TENANT, old.id)
    assert stored.fact == merged
    assert stored.embedding == embedder.embed([merged])[0]
    assert stores.operations.get(TENANT, ctx.operation_id).usage.embedding_calls == 2


def test_delete_removes_the_memory_and_records_what_was_deleted(stores, index, embedder, llm, clock) -> None:
    # Given a memory the candidate says is no longer true
    [old] = remember(stores, embedder, clock, "The user has a cat.")
    ctx = extracted(stores, llm, clock, "The user no longer has a cat.")
    llm.queue_consolidate([decision(0, Decision.DELETE, 0)])

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the memory is gone from the store and the index, with a DELETED revision of its text
    [generated] = result.generated_memories
    assert generated.action is Action.DELETED
    assert generated.memory.id == old.id and generated.memory.fact == "The user has a cat."
    assert generated.previous_revision_id == old.revision_id
    assert stores.memories.get(TENANT, old.id) is None
    assert index.revisions(TENANT, [old.id]) == {}
    deleted = [r for r in stores.memories.revisions(TENANT, old.id) if r.action is Action.DELETED]
    assert [r.fact for r in deleted] == ["The user has a cat."]
    assert deleted[0].operation_id == ctx.operation_id


def test_noop_writes_nothing(stores, index, embedder, llm, clock) -> None:
    # Given a memory that already holds the candidate
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    before = stores.memories.get(TENANT, old.id)
    writes = stores.memories.memory_writes
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon")
    llm.queue_consolidate([decision(0, Decision.NOOP, 0)])

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then nothing is generated or written, and the (empty) result is recorded
    assert result.generated_memories == []
    assert stores.memories.memory_writes == writes
    assert stores.memories.get(TENANT, old.id) == before
    assert len(stores.memories.revisions(TENANT, old.id)) == 1
    assert stores.operations.get(TENANT, ctx.operation_id).result == result


def test_a_memory_index_outside_the_prompt_raises_llm_output_invalid_and_writes_nothing(
    stores, index, embedder, llm, clock
) -> None:
    # Given a model that names existing memory 3 when only memory 0 was shown
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    ctx = extracted(stores, llm, clock, "The user lives in Porto.")
    llm.queue_consolidate([decision(0, Decision.UPDATE, 3, "The user lives in Porto.")])
    writes = stores.memories.memory_writes

    # When consolidation runs
    with pytest.raises(LLMOutputInvalid):
        run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then nothing was written and no result recorded, so a retry can run
    assert stores.memories.memory_writes == writes
    assert stores.memories.get(TENANT, old.id).fact == "The user lives in Lisbon."
    assert stores.operations.get(TENANT, ctx.operation_id).result is None


def test_a_rerun_after_success_returns_the_recorded_result_without_writes_or_calls(
    stores, index, embedder, llm, clock
) -> None:
    # Given a consolidation that succeeded
    remember(stores, embedder, clock, "The user lives in Lisbon.")
    ctx = extracted(stores, llm, clock, "The user lives in Porto.", "The user likes jazz.")
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, "The user lives in Porto."), decision(1, Decision.CREATE)])
    first = run_consolidate(stores, index, embedder, llm, clock, ctx)
    transactions, calls, embeddings = len(stores.memories.transactions), llm.calls, embedder.call_count

    # When the step runs again (a workflow retry after a lost response)
    again = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then it returns the same result without writing or calling anything
    assert again == first
    assert len(stores.memories.transactions) == transactions
    assert (llm.calls, embedder.call_count) == (calls, embeddings)


def test_memories_of_another_scope_or_tenant_are_never_shown_or_changed(stores, index, embedder, llm, clock) -> None:
    # Given the same fact in this scope, in a wider scope of the same user and in another tenant
    [mine] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    [wider] = remember(stores, embedder, clock, "The user lives in Lisbon.", scope={**SCOPE, "app": "travel"})
    [foreign] = remember(stores, embedder, clock, "The user lives in Lisbon.", tenant=OTHER_TENANT)
    foreign_before = stores.memories.get(OTHER_TENANT, foreign.id)
    wider_before = stores.memories.get(TENANT, wider.id)
    ctx = extracted(stores, llm, clock, "The user lives in Porto.")
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, "The user lives in Porto.")])

    # When consolidation runs for this scope
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the model saw only this scope's memory, and only it changed
    [prompt] = llm.consolidate_prompts
    assert prompt.existing == ["The user lives in Lisbon."]
    assert [g.memory.id for g in result.generated_memories] == [mine.id]
    assert stores.memories.get(TENANT, wider.id) == wider_before
    assert stores.memories.get(OTHER_TENANT, foreign.id) == foreign_before


def test_memories_only_in_other_scopes_or_tenants_cause_no_consolidation_call(
    stores, index, embedder, llm, clock
) -> None:
    # Given the candidate's exact text stored only for another tenant and another scope
    remember(stores, embedder, clock, "The user lives in Lisbon.", tenant=OTHER_TENANT)
    remember(stores, embedder, clock, "The user lives in Lisbon.", scope={"user_id": "u-2"})
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon.")

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the candidate is created in this scope without asking the model
    assert llm.consolidate_prompts == []
    [generated] = result.generated_memories
    assert generated.action is Action.CREATED and generated.memory.scope == SCOPE


def test_an_expired_neighbour_is_not_shown_to_the_model(stores, index, embedder, llm, clock) -> None:
    # Given a close memory that has expired (still in the store and the index)
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    stored = stores.memories.get(TENANT, old.id)
    expired = stored.model_copy(update={"expire_time": clock.now()})
    stores.memories.items[(TENANT, old.id)] = expired
    clock.advance(seconds=1)
    ctx = extracted(stores, llm, clock, "The user lives in Porto.")

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the model is not asked and the candidate is created
    assert llm.consolidate_prompts == []
    assert [g.action for g in result.generated_memories] == [Action.CREATED]


def test_a_second_update_of_one_memory_creates_that_candidate_instead(stores, index, embedder, llm, clock) -> None:
    # Given a model that updates memory 0 from two candidates
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    ctx = extracted(stores, llm, clock, "The user lives in Porto.", "The user lives in Porto city.")
    llm.queue_consolidate(
        [
            decision(0, Decision.UPDATE, 0, "The user lives in Porto."),
            decision(1, Decision.UPDATE, 0, "The user lives in Porto city."),
        ]
    )

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the first updates it and the second becomes a new memory (no information lost)
    assert [(g.action, g.memory.fact) for g in result.generated_memories] == [
        (Action.UPDATED, "The user lives in Porto."),
        (Action.CREATED, "The user lives in Porto city."),
    ]
    assert result.generated_memories[0].memory.id == old.id
    assert len(stores.memories.page(TENANT, SCOPE, 10, None)[0]) == 2


def test_an_update_with_a_blank_text_keeps_the_candidate_text(stores, index, embedder, llm, clock) -> None:
    # Given a model that answers UPDATE with a blank text
    [old] = remember(stores, embedder, clock, "The user lives in Lisbon.")
    ctx = extracted(stores, llm, clock, "The user lives in Porto.")
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, "   ")])

    # When consolidation runs
    run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the memory holds the candidate, never an empty text
    assert stores.memories.get(TENANT, old.id).fact == "The user lives in Porto."


def test_a_skipped_candidate_whose_only_neighbour_is_stale_is_created(stores, index, embedder, llm, clock) -> None:
    # Given a live memory near candidate 0, and a memory near candidate 1 deleted while the index lags
    [home, cat] = remember(stores, embedder, clock, "The user lives in Lisbon.", "The user has a cat.")
    index.lag = True
    delete_memory(stores.memories, stores.configs, clock, TENANT, cat.id)
    ctx = extracted(stores, llm, clock, "The user lives in Porto.", "The user has a cat named Tom.")
    # ... and a model that only answers for candidate 0 (it was shown no memory about a cat)
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, "The user lives in Porto.")])

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the cat fact is created rather than dropped
    [prompt] = llm.consolidate_prompts
    assert prompt.existing == ["The user lives in Lisbon."]
    assert [(g.action, g.memory.fact) for g in result.generated_memories] == [
        (Action.UPDATED, "The user lives in Porto."),
        (Action.CREATED, "The user has a cat named Tom."),
    ]
    assert home.id == result.generated_memories[0].memory.id


# --- per-scope serialization ------------------------------------------------------------------------


def test_a_second_generation_of_a_scope_waits_until_the_first_is_finalized(stores, index, embedder, llm, clock) -> None:
    # Given a first generation that consolidated a fact which the index has not caught up with yet
    first = extracted(stores, llm, clock, "The user has a cat.")
    index.lag = True
    run_consolidate(stores, index, embedder, llm, clock, first)
    second = extracted(stores, llm, clock, "The user has a cat.")
    writes = stores.memories.memory_writes

    # When the second consolidates before the first is finalized
    # Then the scope is busy (a retryable error) and nothing is written
    with pytest.raises(ScopeBusy):
        run_consolidate(stores, index, embedder, llm, clock, second)
    assert stores.memories.memory_writes == writes
    assert stores.operations.get(TENANT, second.operation_id).result is None

    # When the first is finalized once the index caught up, and the second runs again
    index.catch_up()
    finalize(stores.operations, stores.memories, stores.leases, index, clock, first)
    llm.queue_consolidate([decision(0, Decision.NOOP, 0)])
    result = run_consolidate(stores, index, embedder, llm, clock, second)

    # Then the second sees the first's memory and no duplicate is made
    assert llm.consolidate_prompts[-1].existing == ["The user has a cat."]
    assert result.generated_memories == []
    assert [m.fact for m in stores.memories.page(TENANT, SCOPE, 10, None)[0]] == ["The user has a cat."]


def test_a_generation_of_another_scope_is_not_blocked(stores, index, embedder, llm, clock) -> None:
    # Given a generation holding its scope until Finalize
    run_consolidate(stores, index, embedder, llm, clock, extracted(stores, llm, clock, "The user has a cat."))

    # When a generation of another scope consolidates, Then it proceeds
    other = extracted(stores, llm, clock, "The user has a dog.", scope={"user_id": "u-2"})
    result = run_consolidate(stores, index, embedder, llm, clock, other)
    assert [g.action for g in result.generated_memories] == [Action.CREATED]


def test_a_failed_generation_gives_its_scope_back(stores, index, embedder, llm, clock) -> None:
    # Given a generation that consolidated, then failed (its failure was recorded)
    first = extracted(stores, llm, clock, "The user has a cat.")
    run_consolidate(stores, index, embedder, llm, clock, first)
    record_failure(
        stores.operations, stores.leases, clock, first, {"Error": "States.Timeout", "Cause": "Finalize timed out"}
    )

    # When another generation of the scope consolidates, Then it proceeds
    second = extracted(stores, llm, clock, "The user likes jazz.")
    result = run_consolidate(stores, index, embedder, llm, clock, second)
    assert [g.memory.fact for g in result.generated_memories] == ["The user likes jazz."]


def test_the_lease_of_a_dead_generation_is_taken_over_once_it_expires(stores, index, embedder, llm, clock) -> None:
    # Given a generation that consolidated and then never finished
    run_consolidate(stores, index, embedder, llm, clock, extracted(stores, llm, clock, "The user has a cat."))
    second = extracted(stores, llm, clock, "The user likes jazz.")
    with pytest.raises(ScopeBusy):
        run_consolidate(stores, index, embedder, llm, clock, second)

    # When the lease time has passed, Then another generation of the scope proceeds
    clock.advance(seconds=ConsolidationConfig().lease_seconds + 1)
    result = run_consolidate(stores, index, embedder, llm, clock, second)
    assert [g.memory.fact for g in result.generated_memories] == ["The user likes jazz."]


# --- generation options ---------------------------------------------------------------------------------


def test_pre_extracted_facts_are_consolidated_without_an_extraction_call(stores, index, embedder, llm, clock) -> None:
    # Given a request with facts instead of a conversation
    ctx = begin(
        stores,
        clock,
        messages=None,
        facts=[{"fact": "The user likes jazz.", "topics": [PREFERENCES, "UNKNOWN"]}, {"fact": "The user likes jazz."}],
    )

    # When the workflow's steps run
    load(stores, llm, clock, ctx)
    count = extract(stores.operations, stores.configs, llm, clock, ctx)
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the (deduplicated) fact is created without any LLM call
    assert count == 1
    assert llm.calls == 0
    [generated] = result.generated_memories
    assert (generated.action, generated.memory.fact, generated.memory.topics) == (
        Action.CREATED,
        "The user likes jazz.",
        [PREFERENCES],
    )


def test_disable_consolidation_creates_every_fact_without_looking_for_neighbours(
    stores, index, embedder, llm, clock
) -> None:
    # Given a memory close to the candidate, and a request that disables consolidation
    remember(stores, embedder, clock, "The user lives in Lisbon.")
    ctx = begin(stores, clock, disable_consolidation=True)
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact("The user lives in Porto.")])
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the candidate is created, with no index search and no consolidation call
    assert [g.action for g in result.generated_memories] == [Action.CREATED]
    assert index.queries == []
    assert llm.consolidate_prompts == []


def test_ttl_seconds_and_revision_labels_of_the_request_apply_to_what_it_writes(
    stores, index, embedder, llm, clock
) -> None:
    # Given a request with a one-hour TTL and a revision label
    ctx = begin(stores, clock, ttl_seconds=3600, revision_labels={"via": "test"})
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact("The user likes jazz.")])
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # When consolidation runs
    [generated] = run_consolidate(stores, index, embedder, llm, clock, ctx).generated_memories

    # Then the memory expires in one hour and its revision carries the label
    assert generated.memory.expire_time == clock.now() + timedelta(hours=1)
    [revision] = stores.memories.revisions(TENANT, generated.memory.id)
    assert revision.labels == {"via": "test"}


def test_the_tenants_generate_created_ttl_applies_when_the_request_has_none(
    stores, index, embedder, llm, clock
) -> None:
    # Given a tenant whose generated memories live ten minutes
    stores.configs.put(TENANT, {"ttl": {"generate_created_ttl_seconds": 600}}, clock.now())
    ctx = extracted(stores, llm, clock, "The user likes jazz.")

    # When consolidation runs
    [generated] = run_consolidate(stores, index, embedder, llm, clock, ctx).generated_memories

    # Then the memory expires in ten minutes
    assert generated.memory.expire_time == clock.now() + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("MERGE", {"app": "old", "lang": "pt"}), ("OVERWRITE", {"lang": "pt"})],
)
def test_metadata_of_an_updated_memory_follows_the_merge_strategy(
    stores, index, embedder, llm, clock, strategy: str, expected: dict[str, str]
) -> None:
    # Given a memory with metadata, and a request with other metadata
    create_memories(
        stores.memories,
        stores.configs,
        embedder,
        clock,
        TENANT,
        [NewMemory(scope=SCOPE, fact="The user lives in Lisbon.", metadata={"app": "old"})],
    )
    embedder.reset()
    ctx = begin(stores, clock, metadata={"lang": "pt"}, metadata_merge_strategy=strategy)
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact("The user lives in Porto.")])
    extract(stores.operations, stores.configs, llm, clock, ctx)
    llm.queue_consolidate([decision(0, Decision.UPDATE, 0, "The user lives in Porto.")])

    # When consolidation updates the memory
    [generated] = run_consolidate(stores, index, embedder, llm, clock, ctx).generated_memories

    # Then its metadata is merged or replaced
    assert generated.memory.metadata == expected


def test_require_exact_match_never_shows_memories_with_other_metadata(stores, index, embedder, llm, clock) -> None:
    # Given a close memory whose metadata differs from the request's
    create_memories(
        stores.memories,
        stores.configs,
        embedder,
        clock,
        TENANT,
        [NewMemory(scope=SCOPE, fact="The user lives in Lisbon.", metadata={"app": "a"})],
    )
    embedder.reset()
    ctx = begin(stores, clock, metadata={"app": "b"}, metadata_merge_strategy="REQUIRE_EXACT_MATCH")
    load(stores, llm, clock, ctx)
    llm.queue_extract([fact("The user lives in Porto.")])
    extract(stores.operations, stores.configs, llm, clock, ctx)

    # When consolidation runs
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)

    # Then the model is not asked and the candidate is created beside it
    assert llm.consolidate_prompts == []
    assert [g.action for g in result.generated_memories] == [Action.CREATED]


# --- resolve_decisions --------------------------------------------------------------------------------


def cd(candidate: int, kind: Decision, memory: int | None = None, text: str | None = None) -> ConsolidationDecision:
    return ConsolidationDecision(candidate=candidate, decision=kind, memory=memory, fact=text)


def test_a_skipped_candidate_is_created_without_a_neighbour_and_dropped_with_one() -> None:
    # Given decisions that skip both candidates; only candidate 1 had a neighbour
    # When they are resolved
    out = resolve_decisions([], n_candidates=2, n_existing=1, has_neighbour=[False, True])

    # Then candidate 0 is created and candidate 1 is a NOOP (nothing to apply)
    assert [(d.candidate, d.decision) for d in out] == [(0, Decision.CREATE)]


def test_a_second_update_of_the_same_memory_becomes_a_create() -> None:
    # Given two candidates updating memory 0
    decisions = [cd(0, Decision.UPDATE, 0, "a"), cd(1, Decision.UPDATE, 0, "b")]

    # When they are resolved
    out = resolve_decisions(decisions, n_candidates=2, n_existing=1, has_neighbour=[True, True])

    # Then the first update stands and the second creates its candidate
    assert [(d.candidate, d.decision, d.memory) for d in out] == [(0, Decision.UPDATE, 0), (1, Decision.CREATE, None)]


def test_a_delete_after_an_update_of_the_same_memory_is_dropped() -> None:
    # Given an update then a delete of memory 0, and a delete of memory 1
    decisions = [cd(0, Decision.UPDATE, 0, "a"), cd(1, Decision.DELETE, 0), cd(2, Decision.DELETE, 1)]

    # When they are resolved
    out = resolve_decisions(decisions, n_candidates=3, n_existing=2, has_neighbour=[True, True, True])

    # Then the delete of memory 0 is gone, the other decisions stay
    assert [(d.candidate, d.decision, d.memory) for d in out] == [(0, Decision.UPDATE, 0), (2, Decision.DELETE, 1)]


def test_the_first_decision_for_a_candidate_wins() -> None:
    # Given two decisions for candidate 0
    decisions = [cd(0, Decision.CREATE), cd(0, Decision.DELETE, 0)]

    # When they are resolved
    out = resolve_decisions(decisions, n_candidates=1, n_existing=1, has_neighbour=[True])

    # Then only the first applies
    assert [(d.candidate, d.decision) for d in out] == [(0, Decision.CREATE)]


@pytest.mark.parametrize(
    "bad",
    [cd(2, Decision.CREATE), cd(-1, Decision.CREATE), cd(0, Decision.DELETE, None), cd(0, Decision.UPDATE, 1, "x")],
    ids=["candidate-too-high", "candidate-negative", "delete-without-memory", "memory-too-high"],
)
def test_an_index_outside_the_prompt_is_invalid_output(bad: ConsolidationDecision) -> None:
    # Given a decision naming a candidate or memory that was not shown
    # When it is resolved
    # Then the model's output is rejected (the step is retried)
    with pytest.raises(LLMOutputInvalid):
        resolve_decisions([bad], n_candidates=2, n_existing=1, has_neighbour=[True, True])


# --- finalize -----------------------------------------------------------------------------------------


def test_finalize_waits_for_the_index_then_succeeds(stores, index, embedder, llm, clock) -> None:
    # Given a consolidation whose writes the index has not caught up with
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon.")
    index.lag = True
    run_consolidate(stores, index, embedder, llm, clock, ctx)

    # When Finalize runs, Then it raises IndexNotReady and the operation stays RUNNING
    with pytest.raises(IndexNotReady):
        finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)
    assert stores.operations.get(TENANT, ctx.operation_id).status is OperationStatus.RUNNING

    # When the index has caught up and Finalize runs again, Then the operation SUCCEEDED
    index.catch_up()
    clock.advance(seconds=3)
    operation = finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)
    assert operation.status is OperationStatus.SUCCEEDED
    assert operation.update_time == clock.now()
    assert stores.operations.get(TENANT, ctx.operation_id).status is OperationStatus.SUCCEEDED


def test_finalize_waits_until_a_deleted_memory_has_left_the_index(stores, index, embedder, llm, clock) -> None:
    # Given a consolidation that deleted a memory the index still holds
    remember(stores, embedder, clock, "The user has a cat.")
    ctx = extracted(stores, llm, clock, "The user no longer has a cat.")
    llm.queue_consolidate([decision(0, Decision.DELETE, 0)])
    index.lag = True
    run_consolidate(stores, index, embedder, llm, clock, ctx)

    # When Finalize runs, Then it waits
    with pytest.raises(IndexNotReady):
        finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)

    # When the deletion reached the index, Then it succeeds
    index.catch_up()
    assert (
        finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx).status
        is OperationStatus.SUCCEEDED
    )


def test_finalize_is_idempotent(stores, index, embedder, llm, clock) -> None:
    # Given a finalized operation
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon.")
    run_consolidate(stores, index, embedder, llm, clock, ctx)
    first = finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)

    # When Finalize runs again later, even with the index lagging
    clock.advance(minutes=1)
    index.lag = True
    again = finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)

    # Then the operation is unchanged
    assert again == first
    assert again.status is OperationStatus.SUCCEEDED


def test_finalize_succeeds_when_a_created_memory_was_deleted_by_a_later_writer(
    stores, index, embedder, llm, clock
) -> None:
    # Given a consolidation that created a memory, which the API deleted before Finalize ran
    ctx = extracted(stores, llm, clock, "The user lives in Lisbon.")
    [created] = run_consolidate(stores, index, embedder, llm, clock, ctx).generated_memories
    delete_memory(stores.memories, stores.configs, clock, TENANT, created.memory.id)  # e.g. DELETE /v1/memories/{id}
    assert index.revisions(TENANT, [created.memory.id]) == {}  # the index has caught up with the deletion

    # When Finalize runs
    operation = finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)

    # Then the operation succeeds: the index reflects a state later than the operation's writes
    assert operation.status is OperationStatus.SUCCEEDED


# --- record_failure -----------------------------------------------------------------------------------


def test_record_failure_reads_the_error_message_of_a_lambda_error_cause(stores, clock) -> None:
    # Given a running operation and a caught Lambda error whose Cause is the Lambda error JSON
    ctx = begin(stores, clock)
    cause = json.dumps({"errorMessage": "the model timed out", "errorType": "LLMUnavailable", "stackTrace": ["..."]})
    clock.advance(seconds=9)

    # When the failure is recorded
    operation = record_failure(
        stores.operations, stores.leases, clock, ctx, {"Error": "LLMUnavailable", "Cause": cause}
    )

    # Then the operation is FAILED with the error name and the error's generic text for tenants (a provider
    # error's message is for the operator's log: it may quote credentials); no stack trace
    assert operation.status is OperationStatus.FAILED
    assert operation.update_time == clock.now()
    assert operation.error is not None
    assert (operation.error.code, operation.error.message) == ("LLMUnavailable", LLMUnavailable.public_text)
    assert caught_error_detail({"Error": "LLMUnavailable", "Cause": cause}) == ("LLMUnavailable", "the model timed out")


@pytest.mark.parametrize(
    ("error", "cause", "shown"),
    [
        ("ConfigurationError", "HTTP 401: Incorrect API key provided: sk-pro***wxyz", ConfigurationError.public_text),
        ("EmbeddingUnavailable", "failed with HTTP 500: upstream says hi", EmbeddingUnavailable.public_text),
        ("KeyError", "'secret-arn'", UNKNOWN_FAILURE_TEXT),
        ("PayloadTooLarge", "the conversation is too large to store", "the conversation is too large to store"),
    ],
    ids=["provider-401", "provider-500", "python-error", "client-error"],
)
def test_record_failure_shows_tenants_only_what_is_about_their_request(stores, clock, error, cause, shown) -> None:
    # Given a running operation and a caught error whose text may quote a provider or name a resource
    ctx = begin(stores, clock)

    # When the failure is recorded
    operation = record_failure(stores.operations, stores.leases, clock, ctx, {"Error": error, "Cause": cause})

    # Then the tenant reads the code and a text about their request, or a generic one
    assert operation.error is not None
    assert (operation.error.code, operation.error.message) == (error, shown)


def test_a_failure_after_consolidate_stored_the_changes_is_success_with_the_index_pending(
    stores, index, embedder, llm, clock
) -> None:
    # Given a generation whose Consolidate stored a memory, and an index that has not caught up
    ctx = extracted(stores, llm, clock, "The user has a cat.")
    index.lag = True
    result = run_consolidate(stores, index, embedder, llm, clock, ctx)
    with pytest.raises(IndexNotReady):
        finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)

    # When the workflow gives up on Finalize and RecordFailure runs
    operation = record_failure(
        stores.operations, stores.leases, clock, ctx, {"Error": "IndexNotReady", "Cause": "1 of 1 not yet indexed"}
    )

    # Then the operation SUCCEEDED with its result and index_pending, never FAILED (a retry would duplicate)
    assert operation.status is OperationStatus.SUCCEEDED
    assert operation.index_pending is True and operation.error is None
    assert operation.result == result
    # And the scope is free for the next generation
    second = extracted(stores, llm, clock, "The user likes jazz.")
    run_consolidate(stores, index, embedder, llm, clock, second)


def test_a_failure_after_a_generation_that_changed_nothing_is_plain_success(
    stores, index, embedder, llm, clock
) -> None:
    # Given a generation whose Consolidate stored an empty result (no candidate)
    ctx = extracted(stores, llm, clock)
    run_consolidate(stores, index, embedder, llm, clock, ctx)

    # When a failure after it is recorded
    operation = record_failure(stores.operations, stores.leases, clock, ctx, {"Error": "Lambda.Unknown", "Cause": "x"})

    # Then it SUCCEEDED, with nothing pending
    assert (operation.status, operation.index_pending, operation.error) == (OperationStatus.SUCCEEDED, False, None)


def test_record_failure_keeps_a_plain_text_cause(stores, clock) -> None:
    # Given a caught error whose Cause is plain text
    ctx = begin(stores, clock)

    # When the failure is recorded
    operation = record_failure(
        stores.operations, stores.leases, clock, ctx, {"Error": "States.Timeout", "Cause": "Task timed out after 60 s"}
    )

    # Then the text is the message
    assert operation.error is not None
    assert (operation.error.code, operation.error.message) == ("States.Timeout", "Task timed out after 60 s")


def test_record_failure_does_not_change_a_finished_operation(stores, clock) -> None:
    # Given an operation that already succeeded
    ctx = begin(stores, clock)
    stores.operations.finish(TENANT, ctx.operation_id, OperationStatus.SUCCEEDED, clock.now())

    # When a late failure is recorded
    operation = record_failure(stores.operations, stores.leases, clock, ctx, {"Error": "X", "Cause": "late"})

    # Then it stays SUCCEEDED without an error
    assert operation.status is OperationStatus.SUCCEEDED
    assert operation.error is None
