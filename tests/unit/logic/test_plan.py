"""Consolidation's ``plan``: from the model's decisions to the changes and results, as a pure function.

No fakes: every input is a value built here (ids come from a counter), every output is compared as a value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engram.logic.generation import (
    Plan,
    PlanOptions,
    StepContext,
    once_per_memory,
    plan,
    rewritten_facts,
    stored_fact,
)
from engram.models.api import GenerateRequest, MetadataMergeStrategy
from engram.models.config import TenantConfig
from engram.models.extraction import CandidateFact, ConsolidationDecision, Decision
from engram.models.memory import Action, Source, StoredMemory

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EARLIER = NOW - timedelta(days=30)
SCOPE = {"user_id": "u-1"}
PERSONAL = "USER_PERSONAL_INFO"
PREFERENCES = "USER_PREFERENCES"


def counter() -> Callable[[], str]:
    """An id source giving ``id-1``, ``id-2``, ..."""
    numbers = itertools.count(1)
    return lambda: f"id-{next(numbers)}"


def options(**fields: Any) -> PlanOptions:
    return PlanOptions(
        **{
            "tenant_id": "t-1",
            "operation_id": "op-1",
            "scope": SCOPE,
            "embedding_model": "model-a",
            "new_id": counter(),
            **fields,
        }
    )


def candidate(text: str, topics: tuple[str, ...] = (PERSONAL,), event_ids: tuple[str, ...] = ("0",)) -> CandidateFact:
    return CandidateFact(fact=text, topics=list(topics), event_ids=list(event_ids))


def neighbour(text: str, memory_id: str = "m-1", **fields: Any) -> StoredMemory:
    """An existing memory, written 30 days before ``NOW`` (version 3, revision ``r-<id>``)."""
    values: dict[str, Any] = {
        "id": memory_id,
        "tenant_id": "t-1",
        "scope": SCOPE,
        "fact": text,
        "topics": [PERSONAL],
        "create_time": EARLIER,
        "update_time": EARLIER,
        "revision_id": f"r-{memory_id}",
        "source": Source(operation_id="op-0", event_ids=["9"]),
        "embedding": [9.0, 9.0],
        "embedding_model": "model-old",
        "version": 3,
    }
    return StoredMemory(**{**values, **fields})


def decision(
    candidate: int, kind: Decision, memory: int | None = None, text: str | None = None
) -> ConsolidationDecision:
    return ConsolidationDecision(candidate=candidate, decision=kind, memory=memory, fact=text)


def vectors(*texts: str) -> dict[str, list[float]]:
    """A distinct vector for each text: ``[position, length]``."""
    return {text: [float(i), float(len(text))] for i, text in enumerate(texts)}


# --- CREATE / UPDATE / DELETE / NOOP -------------------------------------------------------------------


def test_a_create_makes_a_new_memory_of_the_candidate_with_its_revision() -> None:
    # Given a candidate the model creates, a request with metadata, labels and a one-hour TTL
    fact = candidate("The user lives in Lisbon.", topics=(PERSONAL, PREFERENCES), event_ids=("0", "2"))
    opts = options(
        metadata={"app": "a"}, revision_labels={"via": "test"}, created_ttl_seconds=3600, revision_ttl_seconds=86400
    )

    # When planned
    planned = plan([fact], [], [decision(0, Decision.CREATE)], vectors(fact.fact), NOW, opts)

    # Then one CREATED change holds the new memory, in the request's scope, with the candidate's provenance
    [change] = planned.changes
    assert (change.action, change.before) == (Action.CREATED, None)
    assert change.after == StoredMemory(
        id="id-1",
        tenant_id="t-1",
        scope=SCOPE,
        fact="The user lives in Lisbon.",
        topics=[PERSONAL, PREFERENCES],
        metadata={"app": "a"},
        create_time=NOW,
        update_time=NOW,
        expire_time=NOW + timedelta(hours=1),
        revision_id="id-2",
        source=Source(operation_id="op-1", event_ids=["0", "2"]),
        embedding=[0.0, 25.0],
        embedding_model="model-a",
    )
    # ... recorded by a CREATED revision with the memory's revision id, and reported without a previous one
    revision = change.revision
    assert (revision.id, revision.memory_id, revision.action) == ("id-2", "id-1", Action.CREATED)
    assert (revision.fact, revision.previous_fact, revision.operation_id) == (fact.fact, None, "op-1")
    assert revision.labels == {"via": "test"} and revision.candidate_facts == [fact.fact]
    assert (revision.create_time, revision.expire_time) == (NOW, NOW + timedelta(days=1))
    [generated] = planned.generated
    assert (generated.action, generated.memory, generated.previous_revision_id) == (
        Action.CREATED,
        change.after.public(),
        None,
    )


def test_an_update_rewrites_the_neighbour_in_place_with_a_new_revision() -> None:
    # Given a neighbour and a model that merges a candidate into it with a rewritten text
    old = neighbour("The user lives in Lisbon.", topics=[PERSONAL])
    fact = candidate("The user lives in Porto.", topics=(PREFERENCES, PERSONAL), event_ids=("1",))
    merged = "The user lives in Porto, having moved from Lisbon."

    # When planned
    planned = plan([fact], [old], [decision(0, Decision.UPDATE, 0, merged)], vectors(fact.fact, merged), NOW, options())

    # Then the memory keeps its id, creation time and version, and takes the text, its vector, the union
    # of the topics, the candidate's provenance and a new revision id
    [change] = planned.changes
    assert (change.action, change.before) == (Action.UPDATED, old)
    assert change.after == old.model_copy(
        update={
            "fact": merged,
            "topics": [PERSONAL, PREFERENCES],
            "update_time": NOW,
            "revision_id": "id-1",
            "source": Source(operation_id="op-1", event_ids=["1"]),
            "embedding": [1.0, float(len(merged))],
            "embedding_model": "model-a",
        }
    )
    # ... with a revision naming the previous text, and reported with the previous revision id
    assert (change.revision.id, change.revision.action) == ("id-1", Action.UPDATED)
    assert (change.revision.fact, change.revision.previous_fact) == (merged, "The user lives in Lisbon.")
    [generated] = planned.generated
    assert (generated.action, generated.memory.id, generated.previous_revision_id) == (Action.UPDATED, "m-1", "r-m-1")


def test_a_delete_removes_the_neighbour_and_reports_it_as_it_was() -> None:
    # Given a neighbour the candidate contradicts
    old = neighbour("The user has a cat.")
    fact = candidate("The user no longer has a cat.")

    # When planned
    planned = plan([fact], [old], [decision(0, Decision.DELETE, 0)], vectors(fact.fact), NOW, options())

    # Then the memory is deleted, with a DELETED revision of a new id holding the deleted text
    [change] = planned.changes
    assert (change.action, change.after, change.before) == (Action.DELETED, None, old)
    assert (change.revision.id, change.revision.memory_id) == ("id-1", "m-1")
    assert (change.revision.fact, change.revision.previous_fact) == ("The user has a cat.", "The user has a cat.")
    [generated] = planned.generated
    assert (generated.action, generated.memory, generated.previous_revision_id) == (
        Action.DELETED,
        old.public(),
        "r-m-1",
    )


def test_a_noop_changes_nothing() -> None:
    # Given a candidate the model finds already known
    old = neighbour("The user lives in Lisbon.")
    fact = candidate("The user lives in Lisbon")

    # When planned
    planned = plan([fact], [old], [decision(0, Decision.NOOP, 0)], vectors(fact.fact), NOW, options())

    # Then there is nothing to write or report
    assert planned == Plan()
    assert planned.result.generated_memories == []


def test_changes_and_results_follow_the_order_of_the_decisions() -> None:
    # Given three candidates decided in the order 2, 0, 1
    facts = [candidate("A."), candidate("B."), candidate("C.")]
    old = neighbour("Old B.")
    decisions = [decision(2, Decision.CREATE), decision(0, Decision.CREATE), decision(1, Decision.UPDATE, 0, "B.")]

    # When planned
    planned = plan(facts, [old], decisions, vectors("A.", "B.", "C."), NOW, options())

    # Then the changes and the results come in that order, one result per change
    assert [c.after.fact for c in planned.changes if c.after] == ["C.", "A.", "B."]
    assert [(g.action, g.memory.fact) for g in planned.generated] == [
        (Action.CREATED, "C."),
        (Action.CREATED, "A."),
        (Action.UPDATED, "B."),
    ]
    assert planned.result.generated_memories == planned.generated


# --- the request's options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (MetadataMergeStrategy.MERGE, {"app": "a", "lang": "pt", "tier": "new"}),
        (MetadataMergeStrategy.OVERWRITE, {"lang": "pt", "tier": "new"}),
    ],
)
def test_an_update_merges_or_replaces_metadata_by_the_strategy(
    strategy: MetadataMergeStrategy, expected: dict[str, str]
) -> None:
    # Given a neighbour with metadata and a request with other metadata, sharing one key
    old = neighbour("The user lives in Lisbon.", metadata={"app": "a", "tier": "old"})
    fact = candidate("The user lives in Porto.")
    opts = options(metadata={"lang": "pt", "tier": "new"}, metadata_merge_strategy=strategy)

    # When planned
    planned = plan([fact], [old], [decision(0, Decision.UPDATE, 0, fact.fact)], vectors(fact.fact), NOW, opts)

    # Then the updated memory's metadata is the union (the request winning) or the request's alone
    assert planned.changes[0].after is not None and planned.changes[0].after.metadata == expected


def test_with_require_exact_match_an_update_keeps_the_shared_metadata() -> None:
    # Given a neighbour whose metadata equals the request's (the only kind the model is shown)
    old = neighbour("The user lives in Lisbon.", metadata={"app": "a"})
    fact = candidate("The user lives in Porto.")
    opts = options(metadata={"app": "a"}, metadata_merge_strategy=MetadataMergeStrategy.REQUIRE_EXACT_MATCH)

    # When planned, updating it and creating a second candidate
    facts = [fact, candidate("The user likes jazz.")]
    decisions = [decision(0, Decision.UPDATE, 0, fact.fact), decision(1, Decision.CREATE)]
    planned = plan(facts, [old], decisions, vectors(fact.fact, "The user likes jazz."), NOW, opts)

    # Then both the updated and the created memory carry exactly that metadata
    assert [c.after.metadata for c in planned.changes if c.after] == [{"app": "a"}, {"app": "a"}]


def test_an_update_keeps_topics_the_request_did_not_allow_and_adds_the_candidates() -> None:
    # Given a neighbour with a topic the request did not offer (a custom one), and a candidate with two
    # topics, one of them the neighbour's
    old = neighbour("The user plays chess.", topics=["hobbies", PERSONAL])
    fact = candidate("The user plays chess on Sundays.", topics=(PERSONAL, PREFERENCES))

    # When planned
    planned = plan([fact], [old], [decision(0, Decision.UPDATE, 0, fact.fact)], vectors(fact.fact), NOW, options())

    # Then the memory keeps every topic it had, in order, and gains the candidate's new one once
    after = planned.changes[0].after
    assert after is not None and after.topics == ["hobbies", PERSONAL, PREFERENCES]


def test_a_created_memory_has_exactly_the_candidates_topics() -> None:
    # Given a candidate without topics (a pre-extracted fact) and one with a custom topic
    facts = [candidate("The user likes jazz.", topics=()), candidate("The user plays chess.", topics=("hobbies",))]

    # When both are created
    decisions = [decision(0, Decision.CREATE), decision(1, Decision.CREATE)]
    planned = plan(facts, [], decisions, vectors(*(f.fact for f in facts)), NOW, options())

    # Then plan adds and removes none: the topics were chosen at extraction
    assert [c.after.topics for c in planned.changes if c.after] == [[], ["hobbies"]]


@pytest.mark.parametrize(
    ("updated_ttl_seconds", "expected"),
    [(None, EARLIER + timedelta(days=60)), (600, NOW + timedelta(minutes=10))],
    ids=["no-ttl-keeps-expiry", "ttl-resets-expiry"],
)
def test_an_update_keeps_the_memorys_expiry_unless_a_ttl_applies(
    updated_ttl_seconds: int | None, expected: datetime
) -> None:
    # Given a neighbour expiring 60 days after it was written
    old = neighbour("The user lives in Lisbon.", expire_time=EARLIER + timedelta(days=60))
    fact = candidate("The user lives in Porto.")

    # When planned with or without a TTL for updated memories
    opts = options(updated_ttl_seconds=updated_ttl_seconds, created_ttl_seconds=60)
    planned = plan([fact], [old], [decision(0, Decision.UPDATE, 0, fact.fact)], vectors(fact.fact), NOW, opts)

    # Then it keeps its expiry, or expires that long after now (the TTL of created memories plays no part)
    assert planned.changes[0].after is not None and planned.changes[0].after.expire_time == expected


def test_without_ttls_nothing_written_expires() -> None:
    # Given options with no TTL at all
    facts = [candidate("The user likes jazz."), candidate("The user lives in Porto.")]
    old = neighbour("The user lives in Lisbon.")
    decisions = [decision(0, Decision.CREATE), decision(1, Decision.UPDATE, 0, "The user lives in Porto.")]

    # When planned
    planned = plan(facts, [old], decisions, vectors(*(f.fact for f in facts)), NOW, options())

    # Then neither memory nor revision has an expiry
    assert [c.after.expire_time for c in planned.changes if c.after] == [None, None]
    assert [c.revision.expire_time for c in planned.changes] == [None, None]


def test_options_for_a_request_take_its_ttl_before_the_tenants() -> None:
    # Given a tenant with TTLs for generated memories and revisions
    config = TenantConfig.model_validate(
        {
            "ttl": {
                "generate_created_ttl_seconds": 600,
                "generate_updated_ttl_seconds": 1200,
                "revision_ttl_seconds": 86400,
            }
        }
    )
    ctx = StepContext(tenant_id="t-1", operation_id="op-1")
    with_ttl = GenerateRequest.model_validate(
        {"scope": SCOPE, "facts": [{"fact": "x"}], "ttl_seconds": 3600, "revision_labels": {"via": "test"}}
    )
    without_ttl = GenerateRequest.model_validate({"scope": SCOPE, "facts": [{"fact": "x"}]})

    # When options are made for a request with a TTL and for one without
    given = PlanOptions.for_request(ctx, with_ttl, config, "model-a")
    defaulted = PlanOptions.for_request(ctx, without_ttl, config, "model-a")

    # Then the request's TTL applies to created and updated memories, else the tenant's; revisions always
    # follow the tenant
    assert (given.created_ttl_seconds, given.updated_ttl_seconds, given.revision_ttl_seconds) == (3600, 3600, 86400)
    assert (defaulted.created_ttl_seconds, defaulted.updated_ttl_seconds) == (600, 1200)
    assert given.revision_labels == {"via": "test"} and given.scope == SCOPE
    assert (given.tenant_id, given.operation_id, given.embedding_model) == ("t-1", "op-1", "model-a")


# --- texts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_text", "expected"),
    [
        ("  The user   lives\nin Porto. ", "The user lives in Porto."),
        ("   ", "The candidate."),
        (None, "The candidate."),
        ("x" * 2500, "x" * 2000),
    ],
    ids=["whitespace-collapsed", "blank-keeps-candidate", "missing-keeps-candidate", "cut-to-2000"],
)
def test_an_update_stores_the_models_text_cleaned_or_else_the_candidates(model_text: str | None, expected: str) -> None:
    # Given an UPDATE whose text is messy, blank, missing or too long
    fact = candidate("The candidate.")
    update = decision(0, Decision.UPDATE, 0, model_text)

    # When the stored text is chosen and planned
    old = neighbour("Old.")
    planned = plan([fact], [old], [update], vectors(fact.fact, expected), NOW, options())

    # Then it is the cleaned text, never an empty one
    assert stored_fact(update, fact) == expected
    assert planned.changes[0].after is not None and planned.changes[0].after.fact == expected


def test_only_update_texts_that_differ_from_their_candidate_need_their_own_vectors() -> None:
    # Given an UPDATE kept as the candidate, a rewritten one, a CREATE and a DELETE
    facts = [candidate("A."), candidate("B."), candidate("C."), candidate("D.")]
    decisions = [
        decision(0, Decision.UPDATE, 0, " A. "),
        decision(1, Decision.UPDATE, 1, "B, merged."),
        decision(2, Decision.CREATE, None, "ignored"),
        decision(3, Decision.DELETE, 2),
    ]

    # When the rewritten texts are listed
    # Then only the rewritten UPDATE text is
    assert rewritten_facts(facts, decisions) == ["B, merged."]


def test_a_text_without_a_vector_is_an_error_not_an_empty_embedding() -> None:
    # Given a rewritten UPDATE text whose vector was not computed
    fact = candidate("The user lives in Porto.")
    update = decision(0, Decision.UPDATE, 0, "The user lives in Porto now.")

    # When planned, Then it fails rather than store a memory without its vector
    with pytest.raises(KeyError):
        plan([fact], [neighbour("Old.")], [update], vectors(fact.fact), NOW, options())


# --- one change per memory -----------------------------------------------------------------------------


def test_a_second_update_of_one_memory_creates_its_candidate_instead() -> None:
    # Given two candidates the model both merges into memory 0
    old = neighbour("The user lives in Lisbon.")
    facts = [candidate("The user lives in Porto."), candidate("The user lives in Porto city.")]
    decisions = [
        decision(0, Decision.UPDATE, 0, "The user lives in Porto."),
        decision(1, Decision.UPDATE, 0, "Merged text the model wrote."),
    ]

    # When planned
    planned = plan(facts, [old], decisions, vectors(*(f.fact for f in facts)), NOW, options())

    # Then the memory is updated once, and the second candidate becomes a new memory of its own text
    assert [(c.action, c.after.id if c.after else None) for c in planned.changes] == [
        (Action.UPDATED, "m-1"),
        (Action.CREATED, "id-2"),
    ]
    assert [g.memory.fact for g in planned.generated] == ["The user lives in Porto.", "The user lives in Porto city."]


@pytest.mark.parametrize(
    "first",
    [decision(0, Decision.UPDATE, 0, "The user lives in Porto."), decision(0, Decision.DELETE, 0)],
    ids=["after-update", "after-delete"],
)
def test_a_delete_of_a_memory_already_changed_is_dropped(first: ConsolidationDecision) -> None:
    # Given a memory changed by one decision and deleted by a later one
    old = neighbour("The user lives in Lisbon.")
    facts = [candidate("The user lives in Porto."), candidate("The user moved away.")]
    decisions = [first, decision(1, Decision.DELETE, 0)]

    # When planned
    planned = plan(facts, [old], decisions, vectors(*(f.fact for f in facts)), NOW, options())

    # Then only the first change of it is written
    expected = {Decision.UPDATE: Action.UPDATED, Decision.DELETE: Action.DELETED}[first.decision]
    assert [(c.action, c.before) for c in planned.changes] == [(expected, old)]
    assert [g.action for g in planned.generated] == [expected]


def test_changing_each_memory_once_is_the_same_rule_before_and_in_plan() -> None:
    # Given decisions with duplicates on memories 0 and 1
    decisions = [
        decision(0, Decision.UPDATE, 0, "a"),
        decision(1, Decision.DELETE, 1),
        decision(2, Decision.UPDATE, 0, "c"),
        decision(3, Decision.DELETE, 1),
        decision(4, Decision.NOOP, 0),
    ]

    # When the rule is applied once and twice
    once = once_per_memory(decisions)

    # Then the later change of each memory is turned into a CREATE or dropped, NOOPs pass, and applying
    # the rule again changes nothing
    assert [(d.candidate, d.decision, d.memory) for d in once] == [
        (0, Decision.UPDATE, 0),
        (1, Decision.DELETE, 1),
        (2, Decision.CREATE, None),
        (4, Decision.NOOP, 0),
    ]
    assert once_per_memory(once) == once


# --- purity and bad input ------------------------------------------------------------------------------


def test_plan_is_a_function_of_its_inputs_and_leaves_them_unchanged() -> None:
    # Given inputs for an update, a delete and a create
    old, gone = neighbour("The user lives in Lisbon."), neighbour("The user has a cat.", memory_id="m-2")
    facts = [candidate("The user lives in Porto."), candidate("No cat."), candidate("The user likes jazz.")]
    decisions = [
        decision(0, Decision.UPDATE, 0, "The user lives in Porto."),
        decision(1, Decision.DELETE, 1),
        decision(2, Decision.CREATE),
    ]
    embeddings = vectors(*(f.fact for f in facts))
    snapshot = [m.model_copy(deep=True) for m in (old, gone)]

    # When planned twice with id sources that give the same ids
    first = plan(facts, [old, gone], decisions, embeddings, NOW, options(new_id=counter()))
    second = plan(facts, [old, gone], decisions, embeddings, NOW, options(new_id=counter()))

    # Then the plans are equal and the neighbours were not modified
    assert first == second
    assert [old, gone] == snapshot


@pytest.mark.parametrize(
    "bad",
    [
        decision(1, Decision.CREATE),
        decision(-1, Decision.CREATE),
        decision(0, Decision.UPDATE, 1, "x"),
        decision(0, Decision.UPDATE, -1, "x"),
        decision(0, Decision.DELETE, None),
    ],
    ids=["candidate-missing", "candidate-negative", "memory-missing", "memory-negative", "delete-without-memory"],
)
def test_a_decision_naming_something_not_there_is_refused(bad: ConsolidationDecision) -> None:
    # Given one candidate, one neighbour and a decision naming something else
    fact = candidate("The user lives in Porto.")

    # When planned, Then nothing is planned for it
    with pytest.raises(ValueError):
        plan([fact], [neighbour("Old.")], [bad], vectors(fact.fact, "x"), NOW, options())
