"""PATCH, DELETE, revisions, rollback, purge and filters through the local stack."""

from __future__ import annotations

import time


def _wait_indexed(api, scope, query, expected_count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = api.retrieve(scope, query, top_k=100)["memories"]
        if len(found) == expected_count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"index did not reach {expected_count} results")


def test_patch_changes_fields_reembeds_and_writes_a_revision(api, scope):
    memory = api.create(scope, "The user lives in Lisbon.", metadata={"src": "a"})
    status, updated = api.request("PATCH", f"/v1/memories/{memory['id']}", {"fact": "The user lives in Porto."})
    assert status == 200
    assert updated["fact"] == "The user lives in Porto." and updated["metadata"] == {"src": "a"}
    assert updated["revision_id"] != memory["revision_id"] and updated["create_time"] == memory["create_time"]
    # the index follows: searching for Porto finds the updated memory
    found = _wait_indexed(api, scope, "Porto", 1)
    assert found[0]["memory"]["fact"] == "The user lives in Porto."
    status, body = api.request("GET", f"/v1/memories/{memory['id']}/revisions")
    assert status == 200
    assert [(r["action"], r["fact"], r.get("previous_fact")) for r in body["revisions"]] == [
        ("UPDATED", "The user lives in Porto.", "The user lives in Lisbon."),
        ("CREATED", "The user lives in Lisbon.", None),
    ]


def test_patch_errors(api, scope):
    memory = api.create(scope, "fact one")
    assert api.request("PATCH", f"/v1/memories/{memory['id']}", {})[0] == 422
    assert api.request("PATCH", f"/v1/memories/{memory['id']}", {"fact": "  "})[0] == 422
    assert api.request("PATCH", f"/v1/memories/{memory['id']}", {"ttl_seconds": 5})[0] == 422
    assert api.request("PATCH", "/v1/memories/nope", {"fact": "x"})[0] == 404


def test_delete_removes_the_memory_but_keeps_its_history(api, scope):
    memory = api.create(scope, "The user likes chess.")
    _wait_indexed(api, scope, "chess", 1)
    status, _ = api.request("DELETE", f"/v1/memories/{memory['id']}")
    assert status == 204
    assert api.request("GET", f"/v1/memories/{memory['id']}")[0] == 404
    assert api.request("DELETE", f"/v1/memories/{memory['id']}")[0] == 404
    _wait_indexed(api, scope, "chess", 0)
    revisions = api.request("GET", f"/v1/memories/{memory['id']}/revisions")[1]["revisions"]
    assert [r["action"] for r in revisions] == ["DELETED", "CREATED"]


def test_rollback_restores_an_earlier_revision_and_recreates_a_deleted_memory(api, scope):
    memory = api.create(scope, "The user drives a red car.")
    api.request("PATCH", f"/v1/memories/{memory['id']}", {"fact": "The user drives a blue car."})
    # roll back to the first revision
    status, restored = api.request(
        "POST", f"/v1/memories/{memory['id']}/rollback", {"revision_id": memory["revision_id"]}
    )
    assert status == 200 and restored["fact"] == "The user drives a red car."
    # delete, then roll back again: the memory comes back with its id
    api.request("DELETE", f"/v1/memories/{memory['id']}")
    status, recreated = api.request(
        "POST", f"/v1/memories/{memory['id']}/rollback", {"revision_id": memory["revision_id"]}
    )
    assert status == 200 and recreated["id"] == memory["id"] and recreated["scope"] == scope
    assert api.get(memory["id"])["fact"] == "The user drives a red car."
    revisions = api.request("GET", f"/v1/memories/{memory['id']}/revisions")[1]["revisions"]
    assert revisions[0]["labels"] == {"rollback_to": memory["revision_id"]}
    assert api.request("POST", f"/v1/memories/{memory['id']}/rollback", {"revision_id": "nope"})[0] == 404
    assert api.request("POST", "/v1/memories/nope/rollback", {"revision_id": "x"})[0] == 404


def test_list_filter_on_metadata_and_time(api, scope):
    api.create(scope, "a", metadata={"lang": "en", "priority": 1})
    api.create(scope, "b", metadata={"lang": "pt", "priority": 3})
    api.create(scope, "c", metadata={"lang": "es"})

    def facts(flt):
        status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "filter": flt, "page_size": 100})
        assert status == 200, body
        return sorted(m["memory"]["fact"] for m in body["memories"])

    assert facts({"lang": "en"}) == ["a"]
    assert facts({"priority": {"$gte": 2}}) == ["b"]
    assert facts({"lang": {"$in": ["pt", "es"]}}) == ["b", "c"]
    assert facts({"$or": [{"lang": "en"}, {"priority": 3}]}) == ["a", "b"]
    assert facts({"$not": {"lang": "en"}}) == ["b", "c"]
    assert facts({"priority": {"$ne": 1}}) == ["b", "c"]
    assert facts({"create_time": {"$gte": "2000-01-01T00:00:00Z"}}) == ["a", "b", "c"]
    assert facts({"create_time": {"$lt": "2000-01-01T00:00:00Z"}}) == []
    for bad in ({"$bogus": 1}, {"lang": {"$regex": "x"}}, {"create_time": {"$gt": "yesterday"}}, {"lang": [1]}):
        status, body = api.request("POST", "/v1/memories/retrieve", {"scope": scope, "filter": bad})
        assert status == 422, (bad, body)


def test_purge_dry_run_counts_and_force_deletes(api, scope):
    api.create_batch([{"scope": scope, "fact": f"fact {i}", "metadata": {"batch": i % 2}} for i in range(6)])
    status, body = api.request("POST", "/v1/memories/purge", {"scope": scope, "filter": {"batch": 1}})
    assert status == 200 and body == {"purge_count": 3}
    assert len(api.retrieve(scope, page_size=100)["memories"]) == 6  # dry run deleted nothing
    body = api.request("POST", "/v1/memories/purge", {"scope": scope, "filter": {"batch": 1}, "force": True})[1]
    assert body == {"purge_count": 3}
    left = api.retrieve(scope, page_size=100)["memories"]
    assert sorted(m["memory"]["metadata"]["batch"] for m in left) == [0, 0, 0]
    assert api.request("POST", "/v1/memories/purge", {"force": True})[0] == 422
    body = api.request("POST", "/v1/memories/purge", {"scope": scope, "force": True})[1]
    assert body == {"purge_count": 3}
    assert api.retrieve(scope)["memories"] == []


def test_similarity_search_applies_the_filter_before_top_k(api, scope):
    # Given ten close matches in English and one in Portuguese
    api.create_batch(
        [
            {"scope": scope, "fact": f"The user likes green tea number {i}.", "metadata": {"lang": "en"}}
            for i in range(10)
        ]
    )
    pt = api.create(scope, "The user likes green tea.", metadata={"lang": "pt"})
    _wait_indexed(api, scope, "green tea", 11)
    # When searching with top_k=1 and a filter on the Portuguese one
    for mode in ("dense", "lexical", "hybrid"):
        status, body = api.request(
            "POST",
            "/v1/memories/retrieve",
            {"scope": scope, "query": "green tea", "top_k": 1, "mode": mode, "filter": {"lang": "pt"}},
        )
        # Then it is found, whatever the ten others score
        assert status == 200, body
        assert [m["memory"]["id"] for m in body["memories"]] == [pt["id"]], mode


def test_revisions_are_paged_newest_first(api, scope):
    # Given a memory with four revisions
    memory = api.create(scope, "The user reads 0 books a year.")
    for n in range(1, 4):
        assert (
            api.request("PATCH", f"/v1/memories/{memory['id']}", {"fact": f"The user reads {n} books a year."})[0]
            == 200
        )

    # When its revisions are read three at a time
    path = f"/v1/memories/{memory['id']}/revisions"
    status, first = api.request("GET", f"{path}?page_size=3")
    status_next, rest = api.request("GET", f"{path}?page_size=3&page_token={first['next_page_token']}")

    # Then the pages hold all four, newest first, and the last page has no token
    assert (status, status_next) == (200, 200)
    facts = [r["fact"] for r in first["revisions"] + rest["revisions"]]
    assert facts == [f"The user reads {n} books a year." for n in (3, 2, 1, 0)]
    assert len(first["revisions"]) == 3 and rest.get("next_page_token") is None

    # And a token of another memory, an altered one or a page size out of range is a 4xx
    other = api.create(scope, "The user swims.")
    assert api.request("GET", f"/v1/memories/{other['id']}/revisions?page_token={first['next_page_token']}")[0] == 400
    assert api.request("GET", f"{path}?page_token={first['next_page_token'][:-3]}xyz")[0] == 400
    assert api.request("GET", f"{path}?page_size=101")[0] == 422
    assert api.request("GET", f"{path}?page_size=0")[0] == 422
