"""The emulator never loses a committed write: transactions are isolated and undo only their own writes,
in place (the table and its stream shard stay the same objects, so the stream keeps flowing into the
index), at a cost that does not grow with the table; what moto would keep forever is bounded.

Through the session's local stack: its emulator's DynamoDB (boto3 clients to it) and its HTTP API."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from engram import wiring
from engram.logic.auth import create_api_key
from engram_dev import patches
from engram_dev.client import EngramClient
from engram_dev.emulator import REGION
from engram_dev.lambda_runtime import ACCOUNT_ID


def _ddb(stack: Any) -> Any:
    return stack.emulator.client("dynamodb")


def _moto_table(stack: Any) -> Any:
    return patches.emulator_table(stack.resources.table_name, ACCOUNT_ID, REGION)


def _key(prefix: str) -> dict[str, Any]:
    return {"PK": {"S": f"TEST#{prefix}#{uuid.uuid4().hex}"}, "SK": {"S": "X"}}


def _failing_check(table: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": _key("absent"),
            "ConditionExpression": "attribute_exists(PK)",
        }
    }


def _client(stack: Any, tenant: str) -> EngramClient:
    deps = wiring.dependencies()
    return EngramClient(stack.api_url, create_api_key(deps.api_keys, deps.clock, tenant, "test"))


def _eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


# --- the emulator's transactions ------------------------------------------------------------------


def test_a_failed_condition_cancels_the_transaction_and_writes_nothing(local_stack):
    # Given a transaction putting an item, whose other item's condition fails
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    put = _key("put")
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": put}}, _failing_check(table)])
    # Then DynamoDB's error, with a reason per item, and the put did not happen
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r.get("Code", "None") for r in raised.value.response["CancellationReasons"]] == [
        "None",
        "ConditionalCheckFailed",
    ]
    assert "Item" not in ddb.get_item(TableName=table, Key=put)


def test_a_write_failing_midway_is_undone_in_place_with_its_stream_records(local_stack):
    # Given an item with a string attribute, and the table and stream shard objects of the emulator
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    existing, fresh = _key("existing"), _key("fresh")
    ddb.put_item(TableName=table, Item={**existing, "count": {"S": "not a number"}})
    moto_table = _moto_table(local_stack)
    shard, records_before = moto_table.stream_shard, len(moto_table.stream_shard.items)
    # When a transaction puts a new item, then adds to the string (rejected when written)
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": fresh}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": existing,
                        "UpdateExpression": "SET #c = #c + :one",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    # Then it failed as DynamoDB fails it, the put is undone, the item is as it was, the table and its
    # stream shard are the same objects, and the stream holds no record of the transaction
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in ddb.get_item(TableName=table, Key=fresh)
    assert ddb.get_item(TableName=table, Key=existing)["Item"]["count"] == {"S": "not a number"}
    assert _moto_table(local_stack) is moto_table and moto_table.stream_shard is shard
    assert len(shard.items) <= records_before


def test_a_failed_transaction_keeps_a_write_made_while_it_ran(local_stack, monkeypatch):
    """The adversarial finding, made deterministic: moto restored a copy of the whole table taken when a
    transaction began, dropping what another request committed meanwhile."""
    from moto.dynamodb.models.table import Table

    ddb, other, table = _ddb(local_stack), _ddb(local_stack), local_stack.resources.table_name
    marker, existing, concurrent = _key("marker"), _key("existing"), _key("concurrent")
    ddb.put_item(TableName=table, Item={**existing, "count": {"S": "text"}})
    paused, release = threading.Event(), threading.Event()
    put_item = Table.put_item

    def pausing_put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if item_attrs.get("PK") == marker["PK"]:
            paused.set()
            release.wait(10)
        return put_item(self, item_attrs, *args, **kwargs)

    monkeypatch.setattr(Table, "put_item", pausing_put_item)
    failed: list[str] = []

    def failing_transaction() -> None:
        update = {
            "TableName": table,
            "Key": existing,
            "UpdateExpression": "SET #c = #c + :one",
            "ExpressionAttributeNames": {"#c": "count"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
        try:
            ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": marker}}, {"Update": update}])
        except ClientError as error:
            failed.append(error.response["Error"]["Code"])

    # Given a transaction paused in the middle of its writes (its second write will fail)
    transaction = threading.Thread(target=failing_transaction)
    transaction.start()
    assert paused.wait(10)
    # When another request writes an item meanwhile (it may have to wait for the transaction)
    writer = threading.Thread(target=lambda: other.put_item(TableName=table, Item={**concurrent, "v": {"S": "kept"}}))
    writer.start()
    writer.join(1.0)
    release.set()
    transaction.join(10)
    writer.join(10)
    # Then the transaction failed and left nothing, and the other write is there
    assert failed == ["ValidationException"]
    assert "Item" not in ddb.get_item(TableName=table, Key=marker)
    assert ddb.get_item(TableName=table, Key=concurrent, ConsistentRead=True)["Item"]["v"] == {"S": "kept"}


def test_a_transaction_never_copies_the_table(local_stack, monkeypatch):
    from moto.dynamodb.models.table import Table

    copies: list[Any] = []
    monkeypatch.setattr(Table, "__deepcopy__", lambda self, memo: copies.append(self) or self, raising=False)
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": _key("a")}}])
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": _key("b")}}, _failing_check(table)]
        )
    assert copies == []


def test_the_emulator_keeps_no_reference_to_the_items_it_made(local_stack):
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord

    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    for _ in range(5):
        ddb.put_item(TableName=table, Item=_key("tracked"))
    assert len(Item.instances_tracked) == 0
    assert len(StreamRecord.instances_tracked) == 0


def test_delivered_stream_records_are_forgotten_and_iterators_bounded(local_stack, monkeypatch):
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    monkeypatch.setattr(patches, "MAX_SHARD_ITERATORS", 5)
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    for _ in range(30):
        ddb.put_item(TableName=table, Item=_key("stream"))
    shard = _moto_table(local_stack).stream_shard
    # the poller delivers them, then the emulator lets them go, and keeps few iterators
    assert _eventually(lambda: len(shard.items) < 10), len(shard.items)
    streams = dynamodbstreams_backends[ACCOUNT_ID][REGION]
    assert _eventually(lambda: len(streams.shard_iterators) <= 6), len(streams.shard_iterators)


# --- through the API ---------------------------------------------------------------------------------


def test_indexing_goes_on_after_a_failed_transaction(local_stack, api, scope):
    # Given a failed transaction (moto used to put a copy of the table, with a new stream shard, in place)
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": _key("x")}}, _failing_check(table)]
        )
    # When a memory is created afterwards, then search finds it (the stream still reaches the index)
    created = api.create(scope, f"The user collects {uuid.uuid4().hex[:8]} stamps")
    found = lambda: [m["memory"]["id"] for m in api.retrieve(scope, created["fact"], top_k=5)["memories"]]  # noqa: E731 - polled
    assert _eventually(lambda: created["id"] in found()), "the new memory never reached the index"


def test_a_tenants_memories_survive_another_tenants_failing_transactions(local_stack):
    # Given tenant B creating 60 memories while 30 failing transactions (each with 20 puts) run at once
    tenant_b = _client(local_stack, f"tenant-b-{uuid.uuid4().hex[:6]}")
    scope = {"user_id": "b"}
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    created: list[str] = []

    def create() -> None:
        for n in range(60):
            created.append(tenant_b.create(scope, f"fact number {n} of tenant b")["id"])

    def fail() -> None:
        for _ in range(30):
            puts = [{"Put": {"TableName": table, "Item": _key("tenant-a")}} for _ in range(20)]
            with pytest.raises(ClientError):
                ddb.transact_write_items(TransactItems=[*puts, _failing_check(table)])

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(create), pool.submit(fail)]:
            future.result()
    # Then all 60 are listed and each can be read
    listed = {m["memory"]["id"] for m in tenant_b.retrieve(scope, page_size=100)["memories"]}
    assert listed == set(created) and len(created) == 60
    assert [tenant_b.request("GET", f"/v1/memories/{memory_id}")[0] for memory_id in created] == [200] * 60


def test_concurrent_updates_of_one_memory_each_have_their_revision(local_stack, api, scope):
    # Given one memory, and 8 threads each updating it 5 times
    memory = api.create(scope, "The user likes tea")

    def patch(worker: int) -> list[tuple[int, Any]]:
        return [
            api.request("PATCH", f"/v1/memories/{memory['id']}", {"metadata": {"worker": worker, "n": n}})
            for n in range(5)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [answer for answers in pool.map(patch, range(8)) for answer in answers]
    # Then every 200 names a revision the memory has, and there is one UPDATED revision per 200
    succeeded = [body["revision_id"] for status, body in answers if status == 200]
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 409, 503}, statuses
    revisions = api._ok("GET", f"/v1/memories/{memory['id']}/revisions")["revisions"]
    updated = [r["id"] for r in revisions if r["action"] == "UPDATED"]
    assert succeeded and set(succeeded) <= {r["id"] for r in revisions}
    assert len(updated) == len(succeeded), (statuses, len(updated))


def test_a_resent_request_never_starts_a_second_operation(local_stack, api, scope):
    # Given failing transactions running the whole time
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    stop = threading.Event()

    def fail() -> None:
        while not stop.is_set():
            puts = [{"Put": {"TableName": table, "Item": _key("noise")}} for _ in range(10)]
            with pytest.raises(ClientError):
                ddb.transact_write_items(TransactItems=[*puts, _failing_check(table)])

    noise = threading.Thread(target=fail)
    noise.start()
    try:
        # When each of 10 generate requests is sent twice with its Idempotency-Key
        def twice(n: int) -> set[str]:
            key = f"resend-{uuid.uuid4().hex}"
            body = {"scope": scope, "messages": [{"role": "user", "content": f"I have {n} cats."}]}
            ids = set()
            for _ in range(2):
                status, answer = api.request("POST", "/v1/memories/generate", body, {"Idempotency-Key": key})
                assert status in (200, 202), answer
                ids.add(answer["id"])
            return ids

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(twice, range(10)))
    finally:
        stop.set()
        noise.join(30)
    # Then each pair got one operation, and each operation finishes
    assert [len(ids) for ids in results] == [1] * 10
    assert {api.wait(operation_id, timeout=180)["status"] for ids in results for operation_id in ids} == {"SUCCEEDED"}


def test_the_table_store_writes_only_the_items_that_changed(local_stack):
    # Given the stack's table on disk, up to date, holding many items
    ddb, table = _ddb(local_stack), local_stack.resources.table_name
    for _ in range(50):
        ddb.put_item(TableName=table, Item=_key("bulk"))
    local_stack.tables.flush()
    before = local_stack.tables.rows_written
    # When one item is written, then another three times and the first deleted
    key, gone = _key("changed"), _key("gone")
    ddb.put_item(TableName=table, Item=gone)
    local_stack.tables.flush()
    written = local_stack.tables.rows_written
    for n in range(3):
        ddb.put_item(TableName=table, Item={**key, "n": {"N": str(n)}})
    ddb.delete_item(TableName=table, Key=gone)
    local_stack.tables.flush()
    # Then the store wrote those rows only, not the table: one per item changed since its last flush (the
    # background flush may run between the writes: the changed item then twice, or three times)
    assert written - before == 1
    assert 2 <= local_stack.tables.rows_written - written <= 4
