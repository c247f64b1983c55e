"""The behaviour every ``VectorIndex`` adapter must show, run on each adapter that can run here.

The embedded ``LocalIndex`` and the use-case tests' ``FakeIndex`` (``tests.fakes``) always run, which
holds the fake to the adapters' behaviour. ``OpenSearchIndex`` runs against a real cluster only when
``OPENSEARCH_URL`` is set and the ``opensearch`` marker is selected (``pytest -m opensearch``).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from engram.errors import ConfigurationError
from engram.models.filters import Node, parse
from engram.models.index import IndexDocument, IndexQuery, RetrievalMode
from engram.models.ranking import BM25_B, BM25_K1, hybrid_weights
from engram.ports import VectorIndex
from engram_dev.local_index import LocalIndex

from tests.fakes import FakeIndex

DIM = 8
NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def at(degrees: float, dim: int = DIM) -> list[float]:
    """A unit vector at ``degrees`` from the first axis in the plane of the first two axes, so its
    cosine with ``at(0)`` is ``cos(degrees)``."""
    radians = math.radians(degrees)
    return [math.cos(radians), math.sin(radians)] + [0.0] * (dim - 2)


def doc(
    memory_id: str,
    vector: list[float],
    *,
    tenant: str = "tenant-a",
    scope: str = "scope-1",
    topics: Sequence[str] = (),
    model: str = "model-1",
    revision: str = "rev-1",
    expire: datetime | None = None,
    fact: str | None = None,
    metadata: dict[str, object] | None = None,
    created: datetime = NOW,
) -> IndexDocument:
    return IndexDocument(
        tenant_id=tenant,
        memory_id=memory_id,
        scope_hash=scope,
        fact=fact if fact is not None else f"fact of {memory_id}",
        topics=list(topics),
        embedding=vector,
        embedding_model=model,
        revision_id=revision,
        update_time=NOW,
        expire_time=expire,
        metadata=dict(metadata or {}),
        create_time=created,
    )


def query(
    vector: list[float],
    *,
    tenant: str = "tenant-a",
    scope: str = "scope-1",
    model: str = "model-1",
    k: int = 10,
    topics: list[str] | None = None,
    exclude: Sequence[str] = (),
    text: str | None = None,
    mode: RetrievalMode = "dense",
    filter: Node | None = None,
) -> IndexQuery:
    return IndexQuery(
        tenant_id=tenant,
        scope_hash=scope,
        vector=vector,
        embedding_model=model,
        k=k,
        topics=topics,
        exclude_ids=list(exclude),
        text=text,
        mode=mode,
        filter=filter,
    )


@dataclass
class Subject:
    """An adapter under test, with the fake clock it reads and a way to make writes searchable."""

    index: VectorIndex
    clock: FakeClock
    settle: Callable[[], None]

    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        self.index.upsert(documents)
        self.settle()

    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        self.index.delete(tenant_id, memory_ids)
        self.settle()

    def ids(self, q: IndexQuery) -> list[str]:
        return [hit.memory_id for hit in self.index.search(q)]


def _opensearch_subject(engine: str, custom_ids: bool) -> Iterator[Subject]:
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        pytest.skip("OPENSEARCH_URL is not set")
    from engram.adapters.opensearch import OpenSearchIndex, build_client

    client = build_client(url, "us-east-1", "es", "none")
    name = f"engram-test-{uuid.uuid4().hex[:12]}"
    clock = FakeClock(NOW)
    index = OpenSearchIndex(client, name, DIM, engine=engine, custom_ids=custom_ids, clock=clock)  # type: ignore[arg-type]
    index.ensure_index()
    try:
        yield Subject(index, clock, settle=lambda: client.indices.refresh(index=name))
    finally:
        client.indices.delete(index=name)


@pytest.fixture(
    params=[
        "local",
        "fake",
        pytest.param("opensearch-lucene", marks=pytest.mark.opensearch),
        pytest.param("opensearch-faiss", marks=pytest.mark.opensearch),
        pytest.param("opensearch-serverless-ids", marks=pytest.mark.opensearch),
    ]
)
def subject(request: pytest.FixtureRequest, tmp_path) -> Iterator[Subject]:
    if request.param == "local":
        clock = FakeClock(NOW)
        index = LocalIndex(tmp_path, clock=clock)
        index.ensure_index()
        yield Subject(index, clock, settle=lambda: None)
    elif request.param == "fake":
        clock = FakeClock(NOW)
        yield Subject(FakeIndex(clock), clock, settle=lambda: None)
    elif request.param == "opensearch-lucene":
        yield from _opensearch_subject("lucene", custom_ids=True)
    elif request.param == "opensearch-faiss":
        yield from _opensearch_subject("faiss", custom_ids=True)
    else:
        yield from _opensearch_subject("lucene", custom_ids=False)


# --- ranking ------------------------------------------------------------------------------------


def test_nearest_first_with_cosine_scores(subject: Subject) -> None:
    """Given memories at 10°, 30°, 60° and 120° from the query,
    when searching,
    then they come back nearest first with their cosine similarity as score (negative beyond 90°)."""
    subject.upsert([doc("m60", at(60)), doc("m120", at(120)), doc("m10", at(10)), doc("m30", at(30))])

    hits = subject.index.search(query(at(0)))

    assert [h.memory_id for h in hits] == ["m10", "m30", "m60", "m120"]
    assert [h.score for h in hits] == pytest.approx([math.cos(math.radians(d)) for d in (10, 30, 60, 120)], abs=1e-4)
    assert all(h.revision_id == "rev-1" for h in hits)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_equal_scores_are_ordered_by_memory_id(subject: Subject, mode: RetrievalMode) -> None:
    """Given three memories with the same vector and the same fact,
    when searching in any mode,
    then their scores are equal and their order is by memory id."""
    subject.upsert([doc(m, at(20), fact="jazz") for m in ("b", "c", "a")])

    hits = subject.index.search(query(at(0), text="jazz", mode=mode))

    assert [h.memory_id for h in hits] == ["a", "b", "c"]
    assert hits[0].score == pytest.approx(hits[2].score, abs=1e-6)


def test_k_limits_the_number_of_hits(subject: Subject) -> None:
    """Given five memories, when searching with k=2, then only the two nearest come back."""
    subject.upsert([doc(f"m{d}", at(d)) for d in (50, 10, 40, 20, 30)])

    assert subject.ids(query(at(0), k=2)) == ["m10", "m20"]


# --- isolation and filters ----------------------------------------------------------------------


def test_tenant_isolation(subject: Subject) -> None:
    """Given tenants A and B holding the same memory id, scope hash and vector,
    when B searches, reads revisions and deletes that id,
    then B only ever sees and touches its own document, and A's stays intact."""
    subject.upsert(
        [
            doc("same", at(0), tenant="tenant-a", revision="rev-a"),
            doc("same", at(0), tenant="tenant-b", revision="rev-b"),
            doc("only-a", at(5), tenant="tenant-a"),
        ]
    )

    hits = subject.index.search(query(at(0), tenant="tenant-b"))
    assert [(h.memory_id, h.revision_id) for h in hits] == [("same", "rev-b")]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert subject.index.search(query(at(0), tenant="tenant-c")) == []
    assert subject.index.revisions("tenant-b", ["same", "only-a"]) == {"same": "rev-b"}

    subject.delete("tenant-b", ["same", "only-a"])

    assert subject.ids(query(at(0), tenant="tenant-b")) == []
    assert subject.ids(query(at(0), tenant="tenant-a")) == ["same", "only-a"]
    assert subject.index.revisions("tenant-a", ["same"]) == {"same": "rev-a"}


def test_scope_isolation(subject: Subject) -> None:
    """Given memories in two scopes of one tenant, when searching scope 2, then only its memory returns."""
    subject.upsert([doc("s1", at(0), scope="scope-1"), doc("s2", at(45), scope="scope-2")])

    assert subject.ids(query(at(0), scope="scope-2")) == ["s2"]
    assert subject.ids(query(at(0), scope="scope-3")) == []


DISTRACTORS: dict[str, dict[str, object]] = {
    "other scope": {"scope": "scope-2"},
    "other tenant": {"tenant": "tenant-b"},
    "other model": {"model": "model-2"},
    "no wanted topic": {"topics": ["other"]},
    "expired": {"expire": NOW - timedelta(seconds=1)},
}


MODES: list[RetrievalMode] = ["dense", "lexical", "hybrid"]
#: Facts for the filter tests: the distractors match the query's words better than the wanted ones.
CLOSE_FACT = "The user loves jazz, jazz festivals and jazz clubs."
WANTED_FACTS = {60: "The user likes jazz music a lot these days.", 70: "The user heard jazz once.", 80: "jazz"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(DISTRACTORS))
def test_filters_apply_before_top_k(subject: Subject, kind: str, mode: RetrievalMode) -> None:
    """Given 50 memories closer to the query (by vector and by words) than the 3 wanted ones, all
    failing one filter,
    when searching with k=3 in any mode,
    then exactly the 3 wanted memories come back (the filter ran before the top k were chosen)."""
    fails_one_filter = {"topics": ["wanted"], **DISTRACTORS[kind]}
    closer = [doc(f"x{i:02d}", at(1 + i * 0.01), fact=CLOSE_FACT, **fails_one_filter) for i in range(50)]  # type: ignore[arg-type]
    wanted = [doc(f"w{d}", at(d), topics=["wanted"], fact=WANTED_FACTS[d]) for d in (60, 70, 80)]
    subject.upsert(closer + wanted)

    hits = subject.ids(query(at(0), k=3, topics=["wanted"], text="jazz festivals", mode=mode))

    assert sorted(hits) == ["w60", "w70", "w80"]
    if mode == "dense":
        assert hits == ["w60", "w70", "w80"]


@pytest.mark.parametrize("mode", MODES)
def test_metadata_and_time_filter_applies_before_top_k(subject: Subject, mode: RetrievalMode) -> None:
    """Given 50 memories closer to the query (by vector and by words) than the 3 wanted ones, half with
    other metadata and half created before the filter's time,
    when searching with k=3 and a filter on metadata and create time, in any mode,
    then exactly the 3 wanted memories come back (the filter ran inside the search)."""
    old = NOW - timedelta(days=30)
    closer = [
        doc(
            f"x{i:02d}",
            at(1 + i * 0.01),
            fact=CLOSE_FACT,
            metadata={"lang": "en"} if i % 2 else {"lang": "pt"},
            created=NOW if i % 2 else old,
        )
        for i in range(50)
    ]
    wanted = [doc(f"w{d}", at(d), fact=WANTED_FACTS[d], metadata={"lang": "pt"}) for d in (60, 70, 80)]
    subject.upsert(closer + wanted)
    node = parse({"lang": "pt", "create_time": {"$gte": (NOW - timedelta(days=1)).isoformat()}})

    hits = subject.ids(query(at(0), k=3, text="jazz festivals", mode=mode, filter=node))

    assert sorted(hits) == ["w60", "w70", "w80"]


#: Memories for the list-valued metadata filters: a list, an empty list, a plain string, null, nothing.
TAGGED: dict[str, dict[str, object]] = {
    "py": {"tags": ["python", "aws"]},
    "go": {"tags": ["go"]},
    "empty": {"tags": []},
    "str": {"tags": "python"},
    "null": {"tags": None},
    "none": {},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"tags": {"$in": ["python", "rust"]}}, {"py", "str"}),
        ({"tags": {"$contains": "python"}}, {"py"}),
        ({"tags": {"$contains": "pyth"}}, set()),
        ({"tags": {"$nin": ["python"]}}, {"go", "empty", "null", "none"}),
        ({"tags": {"$ne": "python"}}, {"py", "go", "empty", "null", "none"}),
        ({"tags": "python"}, {"str"}),
        ({"tags": {"$gte": "a"}}, {"str"}),
    ],
    ids=["in-any-item", "contains", "contains-no-substring", "nin", "ne", "eq", "range"],
)
def test_filters_on_list_valued_and_null_metadata(subject: Subject, expression: dict, expected: set[str]) -> None:
    """Given memories whose "tags" is a list, an empty list, a plain string, null or absent,
    when searching with a filter on "tags",
    then a list matches $in by any item and $contains by a whole item, equals no single value, and
    null matches no value (as in DynamoDB: the store contract holds it to the same table)."""
    subject.upsert([doc(name, at(i), metadata=metadata) for i, (name, metadata) in enumerate(TAGGED.items())])

    hits = subject.ids(query(at(0), k=10, filter=parse(expression)))

    assert set(hits) == expected


@pytest.mark.parametrize("mode", MODES)
def test_excluded_ids_apply_before_top_k(subject: Subject, mode: RetrievalMode) -> None:
    """Given 50 near memories that are excluded and 3 far ones,
    when searching with k=3 excluding the 50, in any mode,
    then the 3 far ones come back."""
    near = [doc(f"x{i:02d}", at(1 + i * 0.01), fact=CLOSE_FACT) for i in range(50)]
    subject.upsert(near + [doc(f"w{d}", at(d), fact=WANTED_FACTS[d]) for d in (60, 70, 80)])

    hits = subject.ids(query(at(0), k=3, exclude=[d.memory_id for d in near], text="jazz festivals", mode=mode))

    assert sorted(hits) == ["w60", "w70", "w80"]


def test_topics_filter_matches_any_topic(subject: Subject) -> None:
    """Given memories with various topics,
    when searching for topics [a, c],
    then exactly the memories holding a or c come back."""
    subject.upsert(
        [
            doc("has-a", at(10), topics=["a"]),
            doc("has-b", at(20), topics=["b"]),
            doc("has-b-c", at(30), topics=["b", "c"]),
            doc("none", at(40)),
        ]
    )

    assert subject.ids(query(at(0), topics=["a", "c"])) == ["has-a", "has-b-c"]


def test_no_or_empty_topics_means_no_topic_filter(subject: Subject) -> None:
    """Given memories with and without topics, when searching with topics None or [], then all return."""
    subject.upsert([doc("has-a", at(10), topics=["a"]), doc("none", at(20))])

    assert subject.ids(query(at(0), topics=None)) == ["has-a", "none"]
    assert subject.ids(query(at(0), topics=[])) == ["has-a", "none"]


def test_exclude_ids(subject: Subject) -> None:
    """Given three memories, when excluding the nearest, then the next two come back."""
    subject.upsert([doc("m10", at(10)), doc("m20", at(20)), doc("m30", at(30))])

    assert subject.ids(query(at(0), k=2, exclude=["m10"])) == ["m20", "m30"]


def test_embedding_model_filter(subject: Subject) -> None:
    """Given memories embedded by two models, when searching with model 2, then only its memories return."""
    subject.upsert([doc("m1", at(0), model="model-1"), doc("m2", at(30), model="model-2")])

    assert subject.ids(query(at(0), model="model-2")) == ["m2"]
    assert subject.ids(query(at(0), model="model-3")) == []


def test_expired_memories_are_not_returned(subject: Subject) -> None:
    """Given a memory expired a second ago, one expiring in an hour and one without expiry,
    when searching now and again two hours later,
    then the expired one never returns and the second disappears once its time passed."""
    subject.upsert(
        [
            doc("expired", at(5), expire=NOW - timedelta(seconds=1)),
            doc("later", at(10), expire=NOW + timedelta(hours=1)),
            doc("forever", at(20)),
        ]
    )

    assert subject.ids(query(at(0))) == ["later", "forever"]

    subject.clock.current = NOW + timedelta(hours=2)

    assert subject.ids(query(at(0))) == ["forever"]


# --- lexical and hybrid modes -------------------------------------------------------------------


def test_lexical_returns_only_memories_sharing_a_word_best_first(subject: Subject) -> None:
    """Given memories about jazz, tea and Lisbon,
    when searching lexically for "jazz" (with no vector at all),
    then only the jazz memories come back, the shorter (denser) one first, with positive BM25 scores."""
    subject.upsert(
        [
            doc("long", at(0), fact="The user plays jazz piano in a band on most weekends."),
            doc("short", at(90), fact="The user loves jazz."),
            doc("tea", at(0), fact="The user drinks green tea."),
            doc("city", at(0), fact="The user lives in Lisbon."),
        ]
    )

    hits = subject.index.search(query([], text="jazz", mode="lexical"))

    assert [h.memory_id for h in hits] == ["short", "long"]
    assert hits[0].score > hits[1].score > 0
    assert all(h.revision_id == "rev-1" for h in hits)


def test_lexical_scores_are_bm25(subject: Subject) -> None:
    """Given three memories of one scope (the only documents: corpus statistics are the same whether an
    adapter keeps them per scope or per shard),
    when searching lexically for "jazz",
    then each score is Lucene's BM25 (k1 1.2, b 0.3: ``engram.models.ranking``) of the analysed fact:
    with N documents, df of them holding the term, the fact's term count tf and length |d| (terms after
    analysis) and the mean length L, ``ln(1 + (N - df + 0.5) / (df + 0.5)) * tf / (tf + k1 * (1 - b +
    b * |d| / L))``."""
    subject.upsert(
        [
            doc("a", at(0), fact="The user loves jazz."),  # user, love, jazz
            doc("b", at(0), fact="Jazz, jazz and more jazz on weekends."),  # jazz, jazz, more, jazz, weekend
            doc("c", at(0), fact="The user drinks green tea."),  # user, drink, green, tea
        ]
    )

    hits = subject.index.search(query([], text="jazz", mode="lexical"))

    idf, mean_length = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)), (3 + 5 + 4) / 3
    assert (BM25_K1, BM25_B) == (1.2, 0.3)
    a = idf * 1 / (1 + 1.2 * (0.7 + 0.3 * 3 / mean_length))
    b = idf * 3 / (3 + 1.2 * (0.7 + 0.3 * 5 / mean_length))
    assert [h.memory_id for h in hits] == ["b", "a"]
    assert [h.score for h in hits] == pytest.approx([b, a], rel=1e-4)


def test_lexical_uses_the_english_analyzer(subject: Subject) -> None:
    """Given facts with inflected words, a possessive and capitals,
    when searching with other forms of those words,
    then they match (stems, possessives, case), and a query of stop words alone matches nothing."""
    subject.upsert(
        [
            doc("run", at(0), fact="The user is running marathons."),
            doc("ana", at(0), fact="Ana's sister lives in PORTO."),
            doc("other", at(0), fact="The user likes tea."),
        ]
    )

    assert subject.ids(query([], text="marathon runs", mode="lexical")) == ["run"]
    assert subject.ids(query([], text="Where does Ana live?", mode="lexical")) == ["ana"]
    assert subject.ids(query([], text="porto", mode="lexical")) == ["ana"]
    assert subject.ids(query([], text="the and of it", mode="lexical")) == []
    assert subject.ids(query([], text=None, mode="lexical")) == []


def test_lexical_respects_k_and_scope(subject: Subject) -> None:
    """Given five jazz memories in scope 1 and one in scope 2,
    when searching lexically with k=2,
    then two memories of scope 1 come back."""
    subject.upsert([doc(f"m{i}", at(0), fact=f"The user likes jazz number {i}.") for i in range(5)])
    subject.upsert([doc("s2", at(0), scope="scope-2", fact="jazz")])

    hits = subject.ids(query([], text="jazz", mode="lexical", k=2))

    assert len(hits) == 2 and "s2" not in hits


def test_hybrid_fuses_min_max_scores_like_opensearch(subject: Subject) -> None:
    """Given memories B (nearest, no word match), A (near, matches "jazz" in a longer fact),
    C (far, no match) and D (farthest, matches "jazz" alone),
    when searching in hybrid mode with k=3 (the model's weights: 0.6 lexical, 0.4 dense),
    then each list's top max(50, 5k) (dense: B, A, C, D — deeper than k; lexical: D, A) is min-max
    rescaled (max 1, min 0.001) and a memory scores 0.6 * lexical + 0.4 * dense, a list that does not
    hold it giving 0: D 0.6 + 0.4 * 0.001, B 0.4 (dense only), A 0.6 * 0.001 + 0.4 * its dense score
    (rescaled between D's and B's cosines); C is cut by k."""
    subject.upsert(
        [
            doc("a", at(10), fact="jazz club"),
            doc("b", at(0), fact="green tea"),
            doc("c", at(50), fact="black tea"),
            doc("d", at(70), fact="jazz"),
        ]
    )

    hits = subject.index.search(query(at(0), text="jazz", mode="hybrid", k=3))

    cos10, cos70 = math.cos(math.radians(10)), math.cos(math.radians(70))
    a_dense = (cos10 - cos70) / (1 - cos70)
    assert hybrid_weights("model-1").as_list() == [0.6, 0.4]
    assert [h.memory_id for h in hits] == ["d", "b", "a"]
    assert [h.score for h in hits] == pytest.approx([0.6 + 0.4 * 0.001, 0.4, 0.6 * 0.001 + 0.4 * a_dense], abs=1e-4)


def test_hybrid_without_word_matches_is_rescaled_dense(subject: Subject) -> None:
    """Given memories none of which shares a word with the query,
    when searching in hybrid mode,
    then the order is the dense order and the scores are the dense weight (0.4) times the rescaled
    cosines (first 1.0, last 0.001): the lexical list gives each 0."""
    subject.upsert([doc("m10", at(10)), doc("m40", at(40)), doc("m70", at(70))])

    hits = subject.index.search(query(at(0), text="saxophone", mode="hybrid"))

    cos10, cos40, cos70 = (math.cos(math.radians(d)) for d in (10, 40, 70))
    assert [h.memory_id for h in hits] == ["m10", "m40", "m70"]
    rescaled = [1.0, (cos40 - cos70) / (cos10 - cos70), 0.001]
    assert [h.score for h in hits] == pytest.approx([0.4 * r for r in rescaled], abs=1e-4)


def test_hybrid_single_result_scores_one(subject: Subject) -> None:
    """Given one memory, when searching in hybrid mode, then it scores 1.0 (a one-score list)."""
    subject.upsert([doc("only", at(30), fact="jazz")])

    hits = subject.index.search(query(at(0), text="jazz", mode="hybrid"))

    assert [(h.memory_id, h.score) for h in hits] == [("only", pytest.approx(1.0))]


def test_modes_ignore_each_others_input_where_they_should(subject: Subject) -> None:
    """Given memories, when searching dense with text, the text changes nothing; when searching
    lexically with a vector, the vector changes nothing."""
    subject.upsert([doc("near", at(5), fact="tea"), doc("far", at(80), fact="jazz")])

    assert subject.ids(query(at(0), text="jazz")) == ["near", "far"]
    assert subject.ids(query(at(0), text="jazz", mode="lexical")) == ["far"]


# --- writes -------------------------------------------------------------------------------------


def test_upsert_replaces_the_previous_revision(subject: Subject) -> None:
    """Given a memory indexed at revision 1,
    when it is upserted again at revision 2 with a new vector,
    then search returns it once, at revision 2, scored by the new vector, and revisions() agrees."""
    subject.upsert([doc("m", at(60), revision="rev-1"), doc("other", at(30))])

    subject.upsert([doc("m", at(10), revision="rev-2")])

    hits = subject.index.search(query(at(0)))
    assert [(h.memory_id, h.revision_id) for h in hits] == [("m", "rev-2"), ("other", "rev-1")]
    assert hits[0].score == pytest.approx(math.cos(math.radians(10)), abs=1e-4)
    assert subject.index.revisions("tenant-a", ["m"]) == {"m": "rev-2"}


def test_delete(subject: Subject) -> None:
    """Given two memories,
    when one is deleted (along with an unknown id),
    then only the other is found and an empty delete is harmless."""
    subject.upsert([doc("keep", at(10)), doc("gone", at(5))])

    subject.delete("tenant-a", ["gone", "never-existed"])
    subject.delete("tenant-a", [])

    assert subject.ids(query(at(0))) == ["keep"]
    assert subject.index.revisions("tenant-a", ["keep", "gone"]) == {"keep": "rev-1"}


def test_revisions(subject: Subject) -> None:
    """Given memories at different revisions, one expired,
    when asking for their revisions plus an unknown id,
    then each held memory maps to its revision (expired included) and the unknown id is absent."""
    subject.upsert(
        [
            doc("m1", at(0), revision="r-1"),
            doc("m2", at(0), revision="r-2", scope="scope-2"),
            doc("m3", at(0), revision="r-3", expire=NOW - timedelta(days=1)),
        ]
    )

    assert subject.index.revisions("tenant-a", ["m1", "m2", "m3", "unknown"]) == {
        "m1": "r-1",
        "m2": "r-2",
        "m3": "r-3",
    }
    assert subject.index.revisions("tenant-a", []) == {}


# --- LocalIndex only ----------------------------------------------------------------------------


def test_local_index_survives_a_restart(tmp_path) -> None:
    """Given a LocalIndex that upserted, replaced and deleted memories,
    when a new LocalIndex opens the same folder,
    then it finds exactly the surviving memories, with the same scores and revisions."""
    first = LocalIndex(tmp_path, clock=FakeClock(NOW))
    first.upsert([doc("a", at(10)), doc("b", at(20), topics=["t"]), doc("c", at(30))])
    first.upsert([doc("b", at(15), topics=["t"], revision="rev-2", expire=NOW + timedelta(days=1))])
    first.delete("tenant-a", ["c"])

    second = LocalIndex(tmp_path, clock=FakeClock(NOW))

    assert second.search(query(at(0))) == first.search(query(at(0)))
    assert second.revisions("tenant-a", ["a", "b", "c"]) == {"a": "rev-1", "b": "rev-2"}
    assert second.search(query(at(0), topics=["t"]))[0].memory_id == "b"
    later = LocalIndex(tmp_path, clock=FakeClock(NOW + timedelta(days=2)))
    assert [h.memory_id for h in later.search(query(at(0)))] == ["a"]
    assert "index.sqlite3" in {p.name for p in (tmp_path / "index").iterdir()}


def test_local_index_clear_is_persisted(tmp_path) -> None:
    """Given a LocalIndex with memories, when it is cleared, then it and a reopened one are empty."""
    index = LocalIndex(tmp_path)
    index.upsert([doc("a", at(10))])

    index.clear()

    assert index.search(query(at(0))) == []
    assert len(LocalIndex(tmp_path)) == 0


def test_two_local_indexes_on_one_folder_see_each_others_writes(tmp_path) -> None:
    """Given two LocalIndex instances opened on the same folder,
    when each writes,
    then each sees the other's writes and neither loses the other's."""
    one, two = LocalIndex(tmp_path), LocalIndex(tmp_path)

    one.upsert([doc("from-one", at(10))])
    two.upsert([doc("from-two", at(20))])

    assert [h.memory_id for h in one.search(query(at(0)))] == ["from-one", "from-two"]
    assert [h.memory_id for h in two.search(query(at(0)))] == ["from-one", "from-two"]


def test_local_index_never_mixes_dimensions(tmp_path) -> None:
    """Given memories of a 4-dimension model and an 8-dimension model,
    when searching each model with its own vector size,
    then each search returns only its model's memories."""
    index = LocalIndex(tmp_path)
    index.upsert([doc("small", at(0, dim=4), model="small-4"), doc("big", at(0), model="big-8")])

    assert [h.memory_id for h in index.search(query(at(0, dim=4), model="small-4"))] == ["small"]
    assert [h.memory_id for h in index.search(query(at(0), model="big-8"))] == ["big"]
    assert index.search(query(at(0, dim=4), model="big-8")) == []


def test_local_index_is_thread_safe(tmp_path) -> None:
    """Given 8 threads each upserting 25 memories one at a time while searching,
    when they finish,
    then all 200 memories are indexed, in memory and on disk."""
    index = LocalIndex(tmp_path)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(25):
                index.upsert([doc(f"w{worker}-{i:02d}", at(worker + i))])
                index.search(query(at(0), k=5))
        except BaseException as e:  # collected and asserted on below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(index.search(query(at(0), k=1000))) == 200
    assert len(LocalIndex(tmp_path)) == 200


def test_local_index_rejects_an_unreadable_file(tmp_path) -> None:
    """Given an index file that is not an SQLite database, when a LocalIndex opens it, then ConfigurationError."""
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.sqlite3").write_text("{not a database", encoding="utf-8")

    with pytest.raises(ConfigurationError):
        LocalIndex(tmp_path)


def test_local_index_file_holds_float32_embeddings(tmp_path) -> None:
    """Given one upserted memory, when reading the file, then it holds the document with a float32
    embedding (4 bytes per dimension) and no other copy."""
    LocalIndex(tmp_path).upsert([doc("a", at(10))])

    with sqlite3.connect(tmp_path / "index" / "index.sqlite3") as db:
        rows = db.execute("SELECT memory_id, embedding FROM documents").fetchall()
        (version,) = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()

    assert version == "2"
    assert [memory_id for memory_id, _ in rows] == ["a"]
    assert len(rows[0][1]) == DIM * 4


_WRITE_COST = """
import json, sys
from datetime import UTC, datetime
from pathlib import Path
from engram.models.index import IndexDocument
from engram_dev.local_index import LocalIndex

def doc(n):
    return IndexDocument(tenant_id="t", memory_id=f"m{n:06d}", scope_hash="s", fact=f"fact number {n} about Lisbon",
        topics=[], embedding=[float(n % 7), 1.0] + [0.5] * 382, embedding_model="m", revision_id="r",
        update_time=datetime(2026, 1, 1, tzinfo=UTC))

def written():
    return int(dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())["wchar"])

index = LocalIndex(sys.argv[1])
costs = {}
for size in (100, 2000):
    while len(index) < size:
        index.upsert([doc(n) for n in range(len(index), min(size, len(index) + 500))])
    before = written()
    for n in range(20):
        index.upsert([doc(size + n)])
    costs[size] = (written() - before) / 20
    index.delete("t", [f"m{size + n:06d}" for n in range(20)])
print(json.dumps(costs))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's /proc/self/io")
def test_local_index_writes_only_what_changes(tmp_path) -> None:
    """Given a LocalIndex of 100 and then of 2,000 memories (384 dimensions),
    when one memory is upserted at a time,
    then the bytes written per upsert do not grow with the index (the old index rewrote its whole file)."""
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_COST, str(tmp_path)], capture_output=True, text=True, timeout=300, check=True
    )
    costs = {int(size): per_upsert for size, per_upsert in json.loads(done.stdout).items()}

    assert costs[2000] < 2 * costs[100] + 16_384, costs
    assert costs[2000] < 64 * 1024, costs
