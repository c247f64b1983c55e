"""``MemoryRepository``: reads, guarded atomic writes, revisions, pages and filters — the same on the fake
and on DynamoDB."""

from __future__ import annotations

import pytest
from engram.errors import InvalidInput, InvalidPageToken, StoreConflict
from engram.models.filters import parse
from engram.models.memory import Action
from engram.models.operation import GeneratedMemory, OperationResult
from engram.ports import Change

from tests.integration.store.builders import SCOPE, created, deleted, later, memory, operation, updated


def test_a_created_memory_reads_back_whole_at_version_1(stores, tenant) -> None:
    # Given a memory with every field set, an expiry included
    new = memory(tenant, expire_time=later(3600))

    # When it is created
    stores.memories.apply_changes(tenant, [created(new)])

    # Then it reads back equal, at version 1, alone and in a batch read
    stored = stores.memories.get(tenant, new.id)
    assert stored == new.model_copy(update={"version": 1})
    assert stores.memories.get_many(tenant, [new.id, new.id, "missing"]) == {new.id: stored}


def test_another_tenant_sees_nothing(stores, tenant) -> None:
    # Given a memory of this tenant
    new = memory(tenant)
    stores.memories.apply_changes(tenant, [created(new)])

    # When another tenant reads it by id, lists the same scope or reads its revisions
    other = f"{tenant}-other"

    # Then there is nothing
    assert stores.memories.get(other, new.id) is None
    assert stores.memories.get_many(other, [new.id]) == {}
    assert stores.memories.page(other, SCOPE, 10, None) == ([], None)
    assert stores.memories.revisions(other, new.id) == []
    assert list(stores.memories.scan(other)) == []


def test_creating_an_existing_memory_conflicts(stores, tenant) -> None:
    # Given a stored memory
    new = memory(tenant)
    stores.memories.apply_changes(tenant, [created(new)])
    # When it is created again, Then the write conflicts
    with pytest.raises(StoreConflict):
        stores.memories.apply_changes(tenant, [created(new.model_copy(update={"revision_id": "r-2"}))])


def test_a_failed_guard_writes_nothing_of_the_change_set(stores, tenant) -> None:
    # Given a stored memory, and a copy of it read before someone else updated it
    first = memory(tenant)
    stores.memories.apply_changes(tenant, [created(first)])
    stale = stores.memories.get(tenant, first.id)
    stores.memories.apply_changes(tenant, [updated(stale, fact="The user lives in Porto.")])

    # When a change set creates a memory and updates the stale copy
    fresh = memory(tenant, "The user likes jazz.")
    with pytest.raises(StoreConflict):
        stores.memories.apply_changes(tenant, [created(fresh), updated(stale, fact="The user lives in Faro.")])

    # Then neither change was written
    assert stores.memories.get(tenant, fresh.id) is None
    assert stores.memories.get(tenant, first.id).fact == "The user lives in Porto."


def test_updates_bump_the_version_and_a_deletion_keeps_the_history(stores, tenant) -> None:
    # Given a memory created, then updated
    new = memory(tenant)
    stores.memories.apply_changes(tenant, [created(new)])
    change = updated(stores.memories.get(tenant, new.id), fact="The user lives in Porto.", topics=["X"])
    stores.memories.apply_changes(tenant, [change])
    after = stores.memories.get(tenant, new.id)
    assert (after.version, after.fact, after.topics) == (2, "The user lives in Porto.", ["X"])

    # When it is deleted (from its current version; a stale one would conflict)
    with pytest.raises(StoreConflict):
        stores.memories.apply_changes(tenant, [deleted(new.model_copy(update={"version": 1}))])
    removal = deleted(after)
    stores.memories.apply_changes(tenant, [removal])

    # Then it is gone, and its revisions remain, newest first
    assert stores.memories.get(tenant, new.id) is None
    history = stores.memories.revisions(tenant, new.id)
    assert [r.action for r in history] == [Action.DELETED, Action.UPDATED, Action.CREATED]
    assert history[0] == removal.revision
    assert history[1].previous_fact == new.fact


def test_a_revision_id_is_written_once(stores, tenant) -> None:
    # Given a stored memory and an update that reuses the id of its CREATED revision
    new = memory(tenant)
    stores.memories.apply_changes(tenant, [created(new)])
    before = stores.memories.get(tenant, new.id)
    update = updated(before, fact="The user lives in Porto.")
    reused = Change(update.action, update.after, update.before, created(new).revision)
    # When it is applied, Then it conflicts and the memory is unchanged
    with pytest.raises(StoreConflict):
        stores.memories.apply_changes(tenant, [reused])
    assert stores.memories.get(tenant, new.id).version == 1


def test_one_write_holds_46_changes_and_blocks_hold_any_number(stores, tenant) -> None:
    # Given 47 new memories (each write also updates the usage counters of the scope and the tenant)
    changes = [created(memory(tenant, f"The user owns book number {i}.")) for i in range(47)]

    # When all 47 go in one write, Then it is refused and nothing is written
    with pytest.raises(InvalidInput):
        stores.memories.apply_changes(tenant, changes)
    assert stores.memories.get_many(tenant, [c.after.id for c in changes]) == {}

    # When 46 go in one write, and all 47 in blocks, Then all are written
    stores.memories.apply_changes(tenant, changes[:46])
    stores.memories.apply_in_blocks(tenant, changes[46:])
    assert len(stores.memories.get_many(tenant, [c.after.id for c in changes])) == 47


def test_changes_of_many_scopes_fit_fewer_per_write_and_blocks_split_them(stores, tenant) -> None:
    # Given 46 new memories, each of its own scope (two counter items each, besides the tenant's two)
    changes = [created(memory(tenant, f"Fact {i}.", scope={"user_id": f"u-{i}"})) for i in range(46)]

    # When they go in one write, Then it is refused (over 100 items) and nothing is written
    with pytest.raises(InvalidInput, match="items"):
        stores.memories.apply_changes(tenant, changes)
    assert stores.memories.get_many(tenant, [c.after.id for c in changes]) == {}

    # When they go in blocks, Then all are written
    stores.memories.apply_in_blocks(tenant, changes)
    assert len(stores.memories.get_many(tenant, [c.after.id for c in changes])) == 46


def test_apply_in_blocks_writes_more_than_one_write_holds(stores, tenant) -> None:
    # Given 120 new memories, When they are written in blocks, Then all are stored
    changes = [created(memory(tenant, f"The user owns record number {i}.")) for i in range(120)]
    stores.memories.apply_in_blocks(tenant, changes)
    assert len(list(stores.memories.scan(tenant))) == 120


def test_an_operation_result_is_recorded_once_with_its_changes(stores, tenant) -> None:
    # Given a running operation
    op = operation()
    stores.operations.create(tenant, op, SCOPE, {"scope": SCOPE})
    new = memory(tenant)
    result = OperationResult(generated_memories=[GeneratedMemory(memory=new.public(), action=Action.CREATED)])

    # When its changes are applied with its result
    stores.memories.apply_changes(tenant, [created(new)], operation_id=op.id, result=result)

    # Then both are stored; a second result (a retried step) conflicts and writes nothing
    assert stores.operations.get(tenant, op.id).result == result
    again = memory(tenant, "The user likes jazz.")
    with pytest.raises(StoreConflict):
        stores.memories.apply_changes(tenant, [created(again)], operation_id=op.id, result=OperationResult())
    assert stores.memories.get(tenant, again.id) is None
    # And a missing operation conflicts too
    with pytest.raises(StoreConflict):
        stores.memories.apply_changes(tenant, [created(again)], operation_id="missing", result=OperationResult())


def _all_pages(stores, tenant, scope, page_size, node=None) -> list[str]:
    ids, token = [], None
    while True:
        page, token = stores.memories.page(tenant, scope, page_size, token, node)
        assert len(page) <= page_size
        ids += [m.id for m in page]
        if token is None:
            return ids


def test_pages_list_newest_first_and_their_tokens_reach_every_memory(stores, tenant) -> None:
    # Given five memories of the scope (created one second apart) and one of another scope
    mine = [memory(tenant, f"Fact {i}.", create_time=later(i)) for i in range(5)]
    theirs = memory(tenant, "Another scope.", scope={"user_id": "u-2"}, create_time=later(10))
    stores.memories.apply_changes(tenant, [created(m) for m in [*mine, theirs]])

    # When the scope, then the tenant, is listed two at a time
    # Then the pages hold the memories newest first, each once
    assert _all_pages(stores, tenant, dict(reversed(SCOPE.items())), 2) == [m.id for m in reversed(mine)]
    assert _all_pages(stores, tenant, None, 2) == [theirs.id, *[m.id for m in reversed(mine)]]
    assert [m.id for m in stores.memories.matching(tenant, SCOPE)] == [m.id for m in reversed(mine)]


@pytest.mark.parametrize("token", ["not-base64!", "bm90IGpzb24", "WzFd"], ids=["garbage", "not-json", "a-list"])
def test_a_bad_page_token_is_invalid_input(stores, tenant, token: str) -> None:
    # Given a token no page gave, When a page is read with it, Then the input is refused
    with pytest.raises(InvalidInput):
        stores.memories.page(tenant, SCOPE, 10, token)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"lang": "pt"}, {"pt"}),
        ({"lang": {"$ne": "pt"}}, {"en", "none", "number"}),
        ({"lang": {"$in": ["pt", "en"]}}, {"pt", "en"}),
        ({"lang": {"$nin": ["pt"]}}, {"en", "none", "number"}),
        ({"priority": {"$gte": 2}}, {"pt", "number"}),
        ({"$or": [{"lang": "pt"}, {"priority": {"$lt": 2}}]}, {"pt", "en"}),
        ({"$not": {"lang": "en"}}, {"pt", "none", "number"}),
        ({"lang": 7}, {"number"}),
        ({"create_time": {"$gt": "2026-03-04T12:00:01.500Z"}}, {"none", "number"}),
    ],
    ids=["eq", "ne-absent", "in", "nin-absent", "gte", "or", "not", "types-differ", "create-time"],
)
def test_filters_match_as_the_filter_language_says(stores, tenant, expression, expected) -> None:
    # Given memories whose metadata differ (one has no "lang"; one has a number for it)
    named = {
        "pt": {"lang": "pt", "priority": 3},
        "en": {"lang": "en", "priority": 1},
        "none": {},
        "number": {"lang": 7, "priority": 2},
    }
    ids = {}
    for offset, (name, metadata) in enumerate(named.items()):
        new = memory(tenant, f"Fact {name}.", metadata=metadata, create_time=later(offset))
        stores.memories.apply_changes(tenant, [created(new)])
        ids[new.id] = name

    # When the scope is listed with the filter (one per page, so filters run page by page)
    found = _all_pages(stores, tenant, SCOPE, 1, parse(expression))

    # Then exactly the matching memories are listed
    assert {ids[i] for i in found} == expected
    assert {ids[m.id] for m in stores.memories.matching(tenant, SCOPE, parse(expression))} == expected


def test_scan_yields_every_memory_of_the_tenant(stores, tenant) -> None:
    # Given memories of three scopes of the tenant, and one of another tenant
    news = [memory(tenant, f"Fact {i}.", scope={"user_id": f"u-{i}"}) for i in range(3)]
    stores.memories.apply_changes(tenant, [created(m) for m in news])
    stores.memories.apply_changes(f"{tenant}-other", [created(memory(f"{tenant}-other"))])
    # When the tenant (then the table) is scanned, Then its memories are all there, and only they
    assert {m.id for m in stores.memories.scan(tenant)} == {m.id for m in news}
    assert {m.id for m in news} <= {m.id for m in stores.memories.scan()}


def test_list_and_null_metadata_values_read_back_unchanged(stores, tenant) -> None:
    # Given a memory whose metadata holds a list of strings, an empty list and a null
    new = memory(tenant, metadata={"tags": ["python", "aws"], "empty": [], "gone": None, "n": 1.5})
    # When it is created and read back (alone, then in a page)
    stores.memories.apply_changes(tenant, [created(new)])
    # Then the values are the same, types included
    assert stores.memories.get(tenant, new.id).metadata == {
        "tags": ["python", "aws"],
        "empty": [],
        "gone": None,
        "n": 1.5,
    }
    assert stores.memories.page(tenant, SCOPE, 10, None)[0][0].metadata == new.metadata


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
        ({"tags": {"$in": [1, True]}}, set()),
        ({"$not": {"tags": {"$contains": "go"}}}, {"py", "empty", "str", "null", "none"}),
    ],
    ids=["in-any-item", "contains", "contains-no-substring", "nin", "ne", "eq", "range", "in-other-types", "not"],
)
def test_filters_on_list_valued_and_null_metadata(stores, tenant, expression, expected) -> None:
    # Given memories whose "tags" is a list, an empty list, a plain string, null, or absent
    named = {
        "py": {"tags": ["python", "aws"]},
        "go": {"tags": ["go"]},
        "empty": {"tags": []},
        "str": {"tags": "python"},
        "null": {"tags": None},
        "none": {},
    }
    ids = {}
    for offset, (name, metadata) in enumerate(named.items()):
        new = memory(tenant, f"Fact {name}.", metadata=metadata, create_time=later(offset))
        stores.memories.apply_changes(tenant, [created(new)])
        ids[new.id] = name

    # When the scope is listed with the filter
    found = _all_pages(stores, tenant, SCOPE, 2, parse(expression))

    # Then a list matches $in by any item and $contains by one item (never by substring), equals no
    # scalar, and null matches no value
    assert {ids[i] for i in found} == expected


def test_count_counts_the_live_memories_the_filter_matches(stores, tenant) -> None:
    # Given in the scope: two live memories tagged "python", one tagged "go", one "python" one that
    # expired a second before now and one that expires a second after; and a "python" one in another scope
    def add(name: str, tags: list[str], expire_seconds: float | None = None, scope=SCOPE) -> None:
        expire = later(expire_seconds) if expire_seconds is not None else None
        new = memory(tenant, f"Fact {name}.", scope=scope, metadata={"tags": tags}, expire_time=expire)
        stores.memories.apply_changes(tenant, [created(new)])

    add("a", ["python", "aws"])
    add("b", ["python"])
    add("c", ["go"])
    add("expired", ["python"], expire_seconds=99)
    add("expiring", ["python"], expire_seconds=101)
    add("elsewhere", ["python"], scope={"user_id": "u-2"})
    now = later(100)

    # When counting with and without a filter, in the scope and tenant-wide
    python = parse({"tags": {"$contains": "python"}})

    # Then expired memories are left out, and the filter and the scope apply
    assert stores.memories.count(tenant, SCOPE, None, now) == 4
    assert stores.memories.count(tenant, SCOPE, python, now) == 3
    assert stores.memories.count(tenant, None, python, now) == 4
    assert stores.memories.count(tenant, {"user_id": "nobody"}, None, now) == 0
    assert stores.memories.count(f"{tenant}-other", SCOPE, None, now) == 0


def test_revisions_page_newest_first_behind_tokens_bound_to_the_memory(stores, tenant) -> None:
    # Given a memory with five revisions, and another memory
    new, other = memory(tenant), memory(tenant, "The user likes jazz.")
    stores.memories.apply_changes(tenant, [created(new), created(other)])
    for n in range(4):
        stores.memories.apply_changes(tenant, [updated(stores.memories.get(tenant, new.id), fact=f"Fact {n}.")])
    everything = stores.memories.revisions(tenant, new.id)
    assert len(everything) == 5

    # When its revisions are read two at a time
    pages, token = [], None
    while True:
        page, token = stores.memories.revision_page(tenant, new.id, 2, token)
        pages.append(page)
        if token is None:
            break

    # Then the pages hold every revision once, newest first, in 2 + 2 + 1
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [r for page in pages for r in page] == everything

    # And a page stops before max_bytes (with at least one revision)
    one, token = stores.memories.revision_page(tenant, new.id, 5, None, max_bytes=1)
    assert len(one) == 1 and token is not None

    # And a token is refused by another memory, another tenant, and when altered
    _, token = stores.memories.revision_page(tenant, new.id, 2)
    for memory_id, owner, sent in (
        (other.id, tenant, token),
        (new.id, f"{tenant}-other", token),
        (new.id, tenant, token[:-2] + ("AA" if not token.endswith("AA") else "BB")),
    ):
        with pytest.raises(InvalidPageToken):
            stores.memories.revision_page(owner, memory_id, 2, sent)

    # And another tenant's first page is empty
    assert stores.memories.revision_page(f"{tenant}-other", new.id, 2) == ([], None)
