"""What only the DynamoDB adapter has: its item classes agree with the table the template defines, and
``Idempotency-Key`` records live in the table under the keys the adapter builds."""

from __future__ import annotations

import time
import uuid

from boto3.dynamodb.conditions import Key
from engram import wiring
from engram.adapters.dynamodb.items import (
    ExpiryIndex,
    IdempotencyItem,
    PartsIndex,
    ScopeIndex,
    TableItem,
    TenantIndex,
)
from engram.models.scope import scope_hash
from engram_dev.project import load_template


def test_the_item_classes_use_the_templates_keys_indexes_and_ttl_attribute() -> None:
    props = load_template()["Resources"]["Table"]["Properties"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == [TableItem.pk.attr_name, TableItem.sk.attr_name]
    assert props["TimeToLiveSpecification"]["AttributeName"] == TableItem.ttl.attr_name
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in props["GlobalSecondaryIndexes"]}
    assert indexes == {
        ScopeIndex.Meta.index_name: [ScopeIndex.gsi1pk.attr_name, ScopeIndex.gsi1sk.attr_name],
        TenantIndex.Meta.index_name: [TenantIndex.gsi2pk.attr_name, TenantIndex.gsi2sk.attr_name],
        ExpiryIndex.Meta.index_name: [ExpiryIndex.gsi3pk.attr_name, ExpiryIndex.gsi3sk.attr_name],
        PartsIndex.Meta.index_name: [PartsIndex.gsi4pk.attr_name, PartsIndex.gsi4sk.attr_name],
    }
    [parts] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == PartsIndex.Meta.index_name]
    assert parts["Projection"]["NonKeyAttributes"] == PartsIndex.Meta.projection.non_key_attributes


def test_an_idempotency_record_is_kept_in_the_tenants_partition_and_expires_in_a_day(api, scope) -> None:
    # Given the dev tenant's idempotency partition
    table = wiring.dependencies().table
    partition = IdempotencyItem.key("dev", "")[0]
    records = _records(table, partition)

    # When a request carries an Idempotency-Key
    headers = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    status, _ = api.request("POST", "/v1/memories", {"scope": scope, "fact": "The user likes tea."}, headers=headers)

    # Then one completed record was added there, under a request hash, expiring through the table's TTL,
    # with the tag that lists it under the request's scope (expiring with it)
    assert status == 201
    [new, tag] = sorted(
        (item for key, item in _records(table, partition).items() if key not in records),
        key=lambda item: not item[TableItem.sk.attr_name].startswith(IdempotencyItem.SK_PREFIX),
    )
    assert new[TableItem.sk.attr_name].startswith(IdempotencyItem.SK_PREFIX)
    assert new[IdempotencyItem.status.attr_name] == "COMPLETED"
    assert abs(int(new[TableItem.ttl.attr_name]) - (time.time() + 24 * 3600)) < 120
    request_hash = new[TableItem.sk.attr_name].removeprefix(IdempotencyItem.SK_PREFIX)
    assert tag[TableItem.sk.attr_name] == IdempotencyItem.tag_key("dev", scope_hash(scope), request_hash)[1]
    assert 0 <= int(tag[TableItem.ttl.attr_name]) - int(new[TableItem.ttl.attr_name]) <= 120


def _records(table, partition: str) -> dict[str, dict]:
    import boto3

    resource = boto3.resource("dynamodb", region_name=table.region, endpoint_url=table.host)
    answer = resource.Table(table.name).query(KeyConditionExpression=Key(TableItem.pk.attr_name).eq(partition))
    return {item[TableItem.sk.attr_name]: item for item in answer["Items"]}
