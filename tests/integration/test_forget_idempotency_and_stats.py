"""Forgetting and retention reach everything that counts or replays a scope (issue 10, issue 13): a forget
deletes the stored ``Idempotency-Key`` responses of the scope (so a re-send runs again instead of
replaying forgotten content) and counts them on the receipt; a forget and the retention job take what
they delete off ``GET /v1/stats``. Each test works in a tenant of its own, so its counters are exact."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

from engram import wiring
from engram.adapters.dynamodb.items import IdempotencyItem
from engram.models.scope import scope_hash


def _tenant(tenant_client, prefix: str):
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return name, tenant_client(name)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


def _idempotency_partition(tenant: str) -> dict[str, dict]:
    """Every item of the tenant's idempotency partition (DynamoDB JSON), by sort key."""
    table = wiring.dependencies().table
    answer = table.client.query(
        TableName=table.name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": IdempotencyItem.key(tenant, "")[0]}},
        ConsistentRead=True,
    )
    return {item["SK"]["S"]: item for item in answer["Items"]}


def _stats(client, **params) -> dict:
    query = {k: json.dumps(v) if k == "scope" else v for k, v in params.items()}
    status, body = client.request("GET", "/v1/stats?" + urlencode(query))
    assert status == 200, body
    return body


def test_a_forget_deletes_the_scopes_idempotency_records_and_an_old_key_no_longer_replays(tenant_client):
    # Given, in a tenant of its own, requests with keys that stored content of the scope: a create, a
    # PATCH, a batch that also holds another scope, and a mem0 add; and a create of another scope
    tenant, client = _tenant(tenant_client, "fidem")
    scope, other = {"user_id": f"u-{uuid.uuid4().hex[:8]}"}, {"user_id": f"o-{uuid.uuid4().hex[:8]}"}
    keys = {name: _key() for name in ("create", "patch", "batch", "mem0", "other")}
    create_body = {"scope": scope, "fact": "The user likes tea."}
    status, tea = client.request("POST", "/v1/memories", create_body, headers=keys["create"])
    assert status == 201, tea
    patch_body = {"fact": "The user likes green tea."}
    status, patched = client.request("PATCH", f"/v1/memories/{tea['id']}", patch_body, headers=keys["patch"])
    assert status == 200 and patched["fact"] == "The user likes green tea.", patched
    batch_body = {"memories": [{"scope": scope, "fact": "The user lives in Lisbon."}, {"scope": other, "fact": "X."}]}
    assert client.request("POST", "/v1/memories/batch", batch_body, headers=keys["batch"])[0] == 201
    mem0_body = {"messages": [{"role": "user", "content": "I love jazz"}], "user_id": scope["user_id"], "infer": False}
    assert client.request("POST", "/mem0/v3/memories/add", mem0_body, headers=keys["mem0"])[0] == 200
    other_body = {"scope": other, "fact": "The other user likes coffee."}
    status, coffee = client.request("POST", "/v1/memories", other_body, headers=keys["other"])
    assert status == 201
    tags = IdempotencyItem.tag_prefix(scope_hash(scope))
    assert sum(sk.startswith(tags) for sk in _idempotency_partition(tenant)) == 4

    # When the scope is forgotten
    status, receipt = client.request("POST", "/v1/forget", {"scope": scope})

    # Then the receipt counts the four records, and neither they nor their tags are left
    assert status == 200, receipt
    assert receipt["counts"]["idempotency_records"] == 4 and receipt["counts"]["memories"] == 3
    left = _idempotency_partition(tenant)
    assert not [sk for sk in left if sk.startswith(tags)]
    stored = [item["data"]["S"] for item in left.values() if "data" in item]
    assert len(stored) == 1 and "coffee" in stored[0] and "tea" not in " ".join(stored)
    # and a re-send with an old key runs again: the PATCH finds no memory; the create makes the memory anew
    # (its id comes from the key), with none of the forgotten history
    status, body = client.request("PATCH", f"/v1/memories/{tea['id']}", patch_body, headers=keys["patch"])
    assert status == 404 and "green tea" not in json.dumps(body)
    status, again = client.request("POST", "/v1/memories", create_body, headers=keys["create"])
    assert status == 201 and again["create_time"] > tea["create_time"], again
    status, history = client.request("GET", f"/v1/memories/{again['id']}/revisions")
    assert status == 200 and [r["action"] for r in history["revisions"]] == ["CREATED"]
    # while the other scope's record still replays its first response
    assert client.request("POST", "/v1/memories", other_body, headers=keys["other"]) == (201, coffee)


def test_a_forget_takes_the_scope_off_the_stats(tenant_client):
    # Given three memories of a scope (two with a topic) and one of another scope, in a tenant of its own
    _, client = _tenant(tenant_client, "fstats")
    scope, other = {"user_id": "forgotten"}, {"user_id": "kept"}
    for fact in ("The user likes tea.", "The user likes jazz."):
        assert client.request("POST", "/v1/memories", {"scope": scope, "fact": fact, "topics": ["USER_PREFERENCES"]})[0]
    for body in ({"scope": scope, "fact": "The user lives in Porto."}, {"scope": other, "fact": "Someone else."}):
        assert client.request("POST", "/v1/memories", body)[0] == 201
    assert (_stats(client, scope=scope, days=1)["total"], _stats(client, days=1)["total"]) == (3, 4)

    # When the scope is forgotten
    assert client.request("POST", "/v1/forget", {"scope": scope})[0] == 200

    # Then its stats hold nothing and count three deletions today, and the tenant's only the other scope
    forgotten, tenant = _stats(client, scope=scope, days=1), _stats(client, days=1)
    assert (forgotten["total"], forgotten["by_topic"], forgotten["per_day"][-1]["deleted"]) == (0, {}, 3)
    assert (tenant["total"], tenant["per_day"][-1]["created"], tenant["per_day"][-1]["deleted"]) == (1, 4, 3)
    assert "USER_PREFERENCES" not in tenant["by_topic"]


def test_retention_takes_expired_memories_off_the_stats(tenant_client, clock, local_stack):
    # Given two memories that expire after a minute and one that does not, in a tenant of its own
    _, client = _tenant(tenant_client, "rstats")
    scope = {"user_id": "short-lived"}
    for fact, ttl in (("In a meeting.", 60), ("Busy.", 60), ("Likes tea.", None)):
        body = {"scope": scope, "fact": fact, **({"ttl_seconds": ttl} if ttl else {})}
        assert client.request("POST", "/v1/memories", body)[0] == 201
    assert _stats(client, scope=scope, days=2)["total"] == 3

    # When two minutes pass and the retention job runs
    clock.advance(120)
    result = local_stack.runtime.invoke("RetentionFunction", {"max_items": 5000})

    # Then the scope's and the tenant's totals count only the memory left, and the deletions are counted
    assert result["memories"] >= 2
    for stats in (_stats(client, scope=scope, days=2), _stats(client, days=2)):
        assert stats["total"] == 1
        assert sum(day["deleted"] for day in stats["per_day"]) == 2
