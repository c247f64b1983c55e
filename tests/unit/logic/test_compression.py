"""Compression (``engram.logic.compression``): the pure grouping, shares and parts, the offline compressor
and the prompt, then the Compress step on the in-memory fakes (writes, concurrent changes, retries,
undo, tenant isolation)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engram.adapters.offline import OfflineLLM, compress_facts
from engram.errors import InvalidInput, ScopeBusy
from engram.logic import compression
from engram.logic.compression import MAX_PART, MAX_PART_CHANGES, Part, group_key, new_ids, parts, plan, shares
from engram.logic.generation.operations import StepContext, changed_ids, finalize, get_operation
from engram.logic.memories import create_memories, delete_memory, get_memory, list_revisions, rollback, update_memory
from engram.models.api import RollbackRequest, UpdateMemoryRequest
from engram.models.compression import CompressRequest
from engram.models.memory import Action, NewMemory, StoredMemory
from engram.models.operation import OperationDocument, OperationStatus
from engram.models.prompts import CompressionPrompt, parse_compression_user
from engram.models.scope import scope_hash
from pydantic import ValidationError

TENANT = "tenant-a"
OTHER = "tenant-b"
SCOPE = {"user_id": "u-1"}


def _request(**body: Any) -> CompressRequest:
    return CompressRequest.model_validate({"scope": SCOPE, "max_memories": 2, "group_by": "topic", **body})


def _memory(memory_id: str, topics: list[str], created: datetime, **fields: Any) -> StoredMemory:
    return StoredMemory(
        id=memory_id,
        tenant_id=TENANT,
        scope=SCOPE,
        fact=f"Fact {memory_id}.",
        topics=topics,
        create_time=created,
        update_time=created,
        revision_id="r",
        version=1,
        **fields,
    )


# --- pure -------------------------------------------------------------------------------------------


def test_shares_are_proportional_with_largest_remainder_at_least_one_and_at_most_the_size():
    # Given groups of 6, 3 and 1 memories (10) and a target of 5
    # Then 6 → 3, 3 → 1.5 → 1 or 2 by remainder, 1 → at least 1; the whole stays near 5
    assert shares({"a": 6, "b": 3, "c": 1}, 5) == {"a": 3, "b": 2, "c": 1}
    # and within the target nothing changes
    assert shares({"a": 2, "b": 1}, 5) == {"a": 2, "b": 1}
    # and more groups than the target keep one each
    assert shares({"a": 4, "b": 4, "c": 4}, 2) == {"a": 1, "b": 1, "c": 1}


def test_parts_fit_a_prompt_and_a_transaction():
    assert parts(10, 3) == [(10, 3)]
    assert parts(5, 5) == [(5, 5)]
    for size, target in ((100, 5), (41, 40), (90, 80), (46, 45)):
        split = parts(size, target)
        assert sum(n for n, _ in split) == size
        assert all(n <= MAX_PART and n + t <= MAX_PART_CHANGES and t >= 1 for n, t in split), (size, target, split)
    assert parts(100, 5) == [(34, 2), (33, 2), (33, 1)]


def test_group_keys_by_first_topic_or_utc_window():
    created = datetime(2026, 3, 4, 13, 30, tzinfo=UTC)
    memory = _memory("m1", ["B", "A"], created)
    assert group_key(memory, _request()) == "topic:B"
    assert group_key(_memory("m2", [], created), _request()) == "topic:"
    windowed = _request(group_by="time_window", window_hours=24)
    assert group_key(memory, windowed) == "window:2026-03-04T00:00:00Z"
    assert group_key(memory, _request(group_by="time_window", window_hours=6)) == "window:2026-03-04T12:00:00Z"


def test_plan_orders_members_oldest_first_and_only_groups_over_their_share_are_over():
    start = datetime(2026, 3, 4, tzinfo=UTC)
    memories = [_memory(f"m{i}", ["A"], start + timedelta(minutes=i)) for i in range(4)]
    memories.append(_memory("n0", ["B"], start))
    work = plan(list(reversed(memories)), _request(max_memories=3))
    assert [(p.key, [i for i, _ in p.members], p.target, p.over) for p in work] == [
        ("topic:A#0", ["m0", "m1", "m2", "m3"], 2, True),
        ("topic:B#0", ["n0"], 1, False),
    ]


def test_request_validation_names_the_field():
    for body, field in (
        ({"group_by": "day"}, "group_by"),
        ({"max_memories": 0}, "max_memories"),
        ({"max_memories": "3"}, "max_memories"),
        ({"group_by": "time_window"}, "window_hours"),
        ({"group_by": "time_window", "window_hours": 0}, "window_hours"),
        ({"window_hours": 24}, "window_hours"),
        ({"colour": "red"}, "colour"),
    ):
        with pytest.raises(ValidationError, match=field):
            _request(**body)


def test_offline_compressor_deduplicates_sentences_and_deals_them_into_the_target():
    facts = ["The user likes tea.", "The user likes tea. The user lives in Faro", "the user likes tea", "Hi!"]
    assert compress_facts(facts, 2) == ["The user likes tea. The user lives in Faro.", "Hi!"]
    assert compress_facts(facts, 1) == ["The user likes tea. The user lives in Faro. Hi!"]
    assert compress_facts(["  "], 3) == []


def test_the_compression_prompt_reads_back():
    prompt = CompressionPrompt(memories=["The user likes tea.", "Line one\nline two \\ done"], target=1)
    [system, user] = prompt.messages()
    assert "at most the number of facts" in system["content"]
    assert parse_compression_user(user["content"]) == prompt
    assert parse_compression_user("EXISTING:\n0: x") is None


# --- the step on the fakes ------------------------------------------------------------------------------


class Starter:
    def __init__(self) -> None:
        self.started: list[tuple[str, str, str]] = []

    def start(self, tenant_id: str, operation_id: str, kind: str = "generate") -> None:
        self.started.append((tenant_id, operation_id, kind))


class HookedLLM(OfflineLLM):
    """The offline compressor, counting calls, running ``hook`` before answering, with fixed token counts."""

    def __init__(self, hook: Callable[[CompressionPrompt], None] | None = None) -> None:
        self.hook = hook
        self.prompts: list[CompressionPrompt] = []

    def compress(self, prompt: CompressionPrompt) -> Any:
        self.prompts.append(prompt)
        if self.hook is not None:
            self.hook(prompt)
        answer = super().compress(prompt)
        return type(answer)(output=answer.output, input_tokens=100, output_tokens=10)


def _create(stores: Any, embedder: Any, clock: Any, facts: list[tuple[str, str]], tenant: str = TENANT) -> list:
    items = [
        NewMemory(scope=SCOPE, fact=fact, topics=[topic], metadata={"lang": "en", "n": i})
        for i, (fact, topic) in enumerate(facts)
    ]
    created = []
    for item in items:  # one by one, a second apart: distinct creation times
        created += create_memories(stores.memories, stores.configs, embedder, clock, tenant, [item])
        clock.advance(seconds=1)
    return created


FACTS = [
    ("The user likes green tea.", "USER_PREFERENCES"),
    ("The user likes jazz.", "USER_PREFERENCES"),
    ("The user likes hiking.", "USER_PREFERENCES"),
    ("The user likes green tea.", "USER_PREFERENCES"),
    ("The user lives in Faro.", "USER_PERSONAL_INFO"),
    ("The user works as a nurse.", "USER_PERSONAL_INFO"),
]


def _run(stores: Any, embedder: Any, clock: Any, llm: Any, tenant: str = TENANT, **body: Any):
    starter = Starter()
    request = _request(**body)
    operation = compression.start_compression(stores.operations, starter, clock, tenant, request)
    assert starter.started == [(tenant, operation.id, "compress")]
    ctx = StepContext(tenant, operation.id)
    result, more = compression.compress(
        stores.operations, stores.memories, stores.leases, stores.configs, embedder, llm, clock, ctx
    )
    return ctx, result, more


def test_compress_replaces_each_group_over_its_share_with_summaries(stores, embedder, clock):
    # Given 4 preferences (one repeated) and 2 personal facts of a scope, and another tenant's memories
    originals = _create(stores, embedder, clock, FACTS)
    theirs = _create(stores, embedder, clock, FACTS[:3], tenant=OTHER)
    llm = HookedLLM()

    # When compressing the scope to 2 memories by topic
    ctx, result, more = _run(stores, embedder, clock, llm, max_memories=2)

    # Then each topic kept its share of 1: two calls, two new memories, and the report says so
    assert not more and result is not None
    assert result.compression is not None
    assert result.compression.model_dump() == {
        "groups": 2,
        "groups_compressed": 2,
        "groups_skipped": 0,
        "memories_before": 6,
        "memories_after": 2,
        "llm_calls": 2,
        "input_tokens": 200,
        "output_tokens": 20,
    }
    assert [p.target for p in llm.prompts] == [1, 1]
    created = {g.memory.topics[0]: g.memory for g in result.generated_memories}
    preferences = created["USER_PREFERENCES"]
    assert preferences.fact == "The user likes green tea. The user likes jazz. The user likes hiking."
    assert preferences.source.memory_ids == [m.id for m in originals[:4]]
    assert preferences.source.operation_id == ctx.operation_id
    assert preferences.metadata == {"lang": "en", "compressed": True, "original_count": 4}
    assert created["USER_PERSONAL_INFO"].source.memory_ids == [m.id for m in originals[4:]]
    # and the originals are gone, each with a DELETED revision naming the memory it went into
    remaining = {m.id for m in stores.memories.matching(TENANT, SCOPE)}
    assert remaining == {g.memory.id for g in result.generated_memories}
    newest = list_revisions(stores.memories, TENANT, originals[0].id)[0]
    assert newest.action is Action.DELETED and newest.labels == {"compressed_into": preferences.id}
    assert newest.operation_id == ctx.operation_id
    # and the operation recorded the result and the usage; Finalize waits for the originals too
    operation = get_operation(stores.operations, TENANT, ctx.operation_id)
    assert operation.result == result and operation.usage.llm_calls == 2 and operation.usage.embedding_calls == 2
    assert set(changed_ids(result)) == remaining | {m.id for m in originals}
    # and the other tenant's memories are untouched
    assert {m.id for m in stores.memories.matching(OTHER, SCOPE)} == {m.id for m in theirs}


def test_a_memory_changed_during_the_call_leaves_its_group_alone(stores, embedder, clock):
    # Given a model call during which a client edits one memory of the preferences group
    originals = _create(stores, embedder, clock, FACTS)
    jazz = originals[1]

    def edit(prompt: CompressionPrompt) -> None:
        if "The user likes jazz." in prompt.memories:
            update = UpdateMemoryRequest(fact="The user likes bebop jazz.")
            update_memory(stores.memories, stores.configs, embedder, clock, TENANT, jazz.id, update)

    # When compressing
    _, result, _ = _run(stores, embedder, clock, HookedLLM(edit), max_memories=2)

    # Then that group was left as it was (the edit kept), the other was compressed
    assert result is not None and result.compression is not None
    assert (result.compression.groups_compressed, result.compression.groups_skipped) == (1, 1)
    assert result.compression.memories_after == 5
    assert get_memory(stores.memories, clock, TENANT, jazz.id).fact == "The user likes bebop jazz."
    for memory in originals[:4]:
        assert stores.memories.get(TENANT, memory.id) is not None


def test_a_retried_or_continued_step_never_compresses_twice(stores, embedder, clock):
    # Given a compression whose first invocation runs out of time after one group
    originals = _create(stores, embedder, clock, FACTS)
    llm = HookedLLM()
    operation = compression.start_compression(stores.operations, Starter(), clock, TENANT, _request())
    ctx = StepContext(TENANT, operation.id)
    args = (stores.operations, stores.memories, stores.leases, stores.configs, embedder, llm, clock, ctx)
    first, more = compression.compress(*args, seconds=0)
    assert (first, more, len(llm.prompts)) == (None, True, 1)
    # and a memory is added to the scope meanwhile (not in the stored plan)
    late = _create(stores, embedder, clock, [("The user likes chess.", "USER_PREFERENCES")])[0]

    # When the step runs again, then once more (a retry after success)
    result, more = compression.compress(*args)
    again, _ = compression.compress(*args)

    # Then the second invocation did only the other group, the third nothing; the plan was kept
    assert not more and len(llm.prompts) == 2 and again == result
    assert result is not None and result.compression is not None
    assert result.compression.groups_compressed == 2 and result.compression.memories_before == 6
    assert stores.memories.get(TENANT, late.id) is not None
    assert len(stores.operations.get_blob(TENANT, operation.id, OperationDocument.PLAN)) == 2
    assert {m.id for m in stores.memories.matching(TENANT, SCOPE)} == {late.id} | {
        g.memory.id for g in result.generated_memories
    }
    assert all(stores.memories.get(TENANT, m.id) is None for m in originals)


def test_rolling_back_an_original_restores_it_and_the_summary_can_then_be_deleted(stores, embedder, clock):
    # Given a compressed group
    originals = _create(stores, embedder, clock, FACTS[:3])
    _, result, _ = _run(stores, embedder, clock, HookedLLM(), max_memories=1)
    assert result is not None
    [summary] = result.generated_memories

    # When each original is rolled back to its revision before the deletion, and the summary deleted
    for original in originals:
        before = next(r for r in list_revisions(stores.memories, TENANT, original.id) if r.action is not Action.DELETED)
        rollback(
            stores.memories,
            stores.configs,
            embedder,
            clock,
            TENANT,
            original.id,
            RollbackRequest(revision_id=before.id),
        )
    delete_memory(stores.memories, stores.configs, clock, TENANT, summary.memory.id)

    # Then the scope holds the originals' texts again, and only them
    assert sorted(m.fact for m in stores.memories.matching(TENANT, SCOPE)) == sorted(m.fact for m in originals)


def test_nothing_is_compressed_within_the_target_and_a_busy_scope_waits(stores, embedder, clock):
    _create(stores, embedder, clock, FACTS[:2])
    llm = HookedLLM()
    _, result, _ = _run(stores, embedder, clock, llm, max_memories=5)
    assert result is not None and result.compression is not None
    assert (result.compression.groups, result.compression.groups_compressed, len(llm.prompts)) == (1, 0, 0)
    assert result.compression.memories_after == 2 and result.generated_memories == []
    # And the operation holds the scope's lease until Finalize: another compression (or a generation's
    # Consolidate) of the scope meanwhile raises ScopeBusy (retried by the ASL)
    assert not stores.leases.acquire(TENANT, scope_hash(SCOPE), "someone", clock.now(), 60)
    with pytest.raises(ScopeBusy):
        _run(stores, embedder, clock, llm, max_memories=1)


def test_an_answer_with_too_many_facts_leaves_the_group_alone(stores, embedder, clock):
    _create(stores, embedder, clock, FACTS[:3])

    class Chatty(HookedLLM):
        def compress(self, prompt: CompressionPrompt) -> Any:
            answer = super().compress(prompt)
            answer.output.facts = ["One.", "Two."]
            return answer

    _, result, _ = _run(stores, embedder, clock, Chatty(), max_memories=1)
    assert result is not None and result.compression is not None
    assert (result.compression.groups_skipped, result.compression.memories_after, result.compression.llm_calls) == (
        1,
        3,
        1,
    )


def test_a_bad_filter_is_refused_before_anything_is_recorded(stores, clock):
    starter = Starter()
    with pytest.raises(InvalidInput):
        compression.start_compression(stores.operations, starter, clock, TENANT, _request(filter={"$bogus": 1}))
    assert starter.started == []


def test_finalize_succeeds_once_the_index_shows_the_compression(stores, embedder, clock, index):
    _create(stores, embedder, clock, FACTS)
    ctx, result, _ = _run(stores, embedder, clock, HookedLLM(), max_memories=2)
    operation = finalize(stores.operations, stores.memories, stores.leases, index, clock, ctx)
    assert operation.status is OperationStatus.SUCCEEDED and operation.result == result
    # and the lease is given back: another compression of the scope may start
    assert stores.leases.acquire(TENANT, scope_hash(SCOPE), "next", clock.now(), 60)


def test_new_ids_derive_from_operation_and_part():
    part = Part(key="topic:A#0", members=[("m1", 1), ("m2", 1)], target=2)
    assert new_ids("op-1", part) == new_ids("op-1", part)
    assert len(set(new_ids("op-1", part) + new_ids("op-2", part))) == 4
