"""Usage analytics over HTTP on the local stack (issue 13): ``GET /v1/stats`` counts what a scope and the
tenant store and do, per day; bad parameters name the field; another tenant's key sees nothing."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode


def _stats(client, **params) -> tuple[int, dict]:
    query = {k: json.dumps(v) if k == "scope" else v for k, v in params.items()}
    return client.request("GET", "/v1/stats?" + urlencode(query))


def test_stats_count_a_scope_its_topics_groups_and_days(api, scope):
    # Given three memories of a scope (one deleted) and a generation
    api.create(scope, "The user likes tea.", topics=["USER_PREFERENCES"], metadata={"lang": "en"})
    api.create(scope, "The user likes jazz.", topics=["USER_PREFERENCES"], metadata={"lang": "en"})
    gone = api.create(scope, "O utilizador vive em Lisboa.", metadata={"lang": "pt"})
    assert api.request("DELETE", f"/v1/memories/{gone['id']}")[0] == 204
    operation = api.generate(scope, messages=[{"role": "user", "content": "I live in Porto."}], wait_seconds=20)
    assert operation["status"] == "SUCCEEDED", operation
    made = len(operation["result"]["generated_memories"])

    # When the scope's stats of the last 7 days are read, grouped by a metadata key
    status, stats = _stats(api, scope=scope, days=7, group_by="metadata.lang")

    # Then they count the memories, topics and groups, and today's writes and generation
    assert status == 200, stats
    assert stats["total"] == 2 + made and stats["by_topic"]["USER_PREFERENCES"] >= 2
    assert stats["by_group"] == {"en": 2} and stats["by_group_complete"] is True
    assert len(stats["per_day"]) == 7 and len(stats["usage_per_day"]) == 7
    today = stats["per_day"][-1]
    assert (today["created"], today["deleted"]) == (3 + made, 1)
    assert stats["usage_per_day"][-1]["operations"] == 1
    assert set(stats["usage_per_day"][-1]) == {
        "date",
        "operations",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "embedding_calls",
        "estimated_cost_usd",
    }
    # and the tenant's stats include them
    status, tenant = _stats(api, days=1)
    assert status == 200 and tenant["total"] >= stats["total"] and tenant["scope"] is None


def test_another_tenant_sees_nothing_of_this_tenant(api, scope, tenant_client):
    api.create(scope, "The user likes tea.")
    other = tenant_client(f"other-{uuid.uuid4().hex[:8]}")
    for params in ({"scope": scope}, {}):
        status, stats = _stats(other, days=1, **params)
        assert status == 200 and stats["total"] == 0 and stats["by_topic"] == {}
        assert stats["per_day"][0]["created"] == 0 and stats["usage_per_day"][0]["operations"] == 0


def test_bad_parameters_name_the_field(api, scope):
    for params, field in (
        ({"days": 0}, "days"),
        ({"days": "x"}, "days"),
        ({"group_by": "lang"}, "group_by"),
        ({"group_by": "metadata.lang"}, "group_by"),
        ({"colour": "red"}, "colour"),
    ):
        status, body = _stats(api, **params)
        assert status == 422 and field in body["error"]["message"], (params, body)
    status, body = api.request("GET", "/v1/stats?scope=not-json")
    assert status == 422 and "scope" in body["error"]["message"]


def test_a_topic_with_brackets_is_stored_and_counted(api, scope):
    # Given memories whose topics hold brackets and a percent sign (a 500 before: the counter's attribute
    # name was read as a document path with a list index)
    topics = ["[iv", "a[1]", "50%"]
    status, created = api.request(
        "POST",
        "/v1/memories/batch",
        {"memories": [{"scope": scope, "fact": f"Fact {t}.", "topics": [t]} for t in topics]},
    )
    assert status == 201, created
    # When the scope's stats are read
    status, stats = _stats(api, scope=scope, days=1)
    # Then each topic is counted under its own name
    assert status == 200, stats
    assert stats["by_topic"] == {topic: 1 for topic in topics}
