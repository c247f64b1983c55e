"""``engram_dev.patches``: each patch refuses a library version it was not written for, with a message that
names the package and both versions; the botocore hooks answer the emulator's Lambda invocations and show
DynamoDB requests to an observer; an emulator patch checks moto's version before changing anything."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from engram_dev import patches


def test_a_patch_refuses_another_version_of_its_library_and_says_which():
    # Given moto installed at its pinned version, when a patch written for another version checks it
    installed = metadata.version("moto")
    with pytest.raises(patches.PatchVersionError) as raised:
        patches.require("moto", "4.0.0", patch="some patch")
    # Then the error names the patch, the package, the expected and the installed version
    message = str(raised.value)
    assert "some patch" in message and "moto 4.0.0" in message and f"moto {installed} is installed" in message


def test_a_hook_on_public_api_accepts_the_same_major_version_only():
    installed = metadata.version("botocore")
    major = installed.split(".")[0]
    patches.require("botocore", f"{major}.0.0", patch="hooks", same="major")  # same major: accepted
    with pytest.raises(patches.PatchVersionError, match=rf"botocore {int(major) + 1}\.x .*botocore {installed}"):
        patches.require("botocore", f"{int(major) + 1}.0.0", patch="hooks", same="major")


def test_the_pinned_versions_are_the_installed_ones():
    # The patches are checked against what pyproject.toml installs: a version bump must revisit them
    for package, version in (patches.MOTO, patches.POWERTOOLS):
        assert metadata.version(package) == version, package
    assert metadata.version("botocore").split(".")[0] == patches.BOTOCORE[1].split(".")[0]


def test_an_emulator_patch_checks_moto_before_touching_it(monkeypatch):
    import moto.dynamodb.models as models

    original = models.DynamoDBBackend.transact_write_items
    # Given a moto other than the one the patches were written for, and no emulator patch applied yet
    monkeypatch.setattr(patches, "MOTO", ("moto", "0.0.1"))
    monkeypatch.setattr(patches, "_moto_patched", set())
    patches.require.cache_clear()
    # When a patch is applied, then it refuses and leaves moto as it was
    try:
        with pytest.raises(patches.PatchVersionError, match="moto 0.0.1"):
            patches.in_place_emulator_transactions()
        assert models.DynamoDBBackend.transact_write_items is original
    finally:
        patches.require.cache_clear()


def test_the_cold_start_patch_checks_powertools(monkeypatch):
    monkeypatch.setattr(patches, "POWERTOOLS", ("aws-lambda-powertools", "2.0.0"))
    with pytest.raises(patches.PatchVersionError, match="aws-lambda-powertools 2.0.0"):
        patches.mark_cold_start_done()


def _emulator_client(stack: Any, service: str) -> Any:
    return boto3.session.Session().client(
        service,
        region_name="us-east-1",
        endpoint_url=stack.emulator.endpoint_url,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_lambda_invocation_sent_to_the_emulator_runs_the_function_in_this_process(local_stack):
    # Given the local stack, whose emulator answers Lambda invocations with the template's handlers
    runtime = local_stack.runtime
    before = runtime.invocations.get("RecordFailureFunction", 0)
    # When a client invokes a function there with an event its handler rejects
    response = _emulator_client(local_stack, "lambda").invoke(
        FunctionName="RecordFailureFunction", Payload=json.dumps({"not": "a workflow input"}).encode()
    )
    # Then the handler ran here, and its exception came back as Lambda's function error
    assert runtime.invocations["RecordFailureFunction"] == before + 1
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] and error["errorMessage"] and isinstance(error["stackTrace"], list)


class Recorder:
    """A ``DynamoDBObserver`` that records what it is told."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.answered: list[tuple[str, Any]] = []
        self.read_back: Any = None

    def before(self, operation: str, params: dict[str, Any], read: Any) -> Any:
        self.sent.append(operation)
        return operation, params

    def after(self, state: Any, response: dict[str, Any], read: Any) -> None:
        operation, params = state
        self.answered.append((operation, response))
        if operation == "PutItem":
            self.read_back = read(params["TableName"], {k: params["Item"][k] for k in ("PK", "SK")})


def test_dynamodb_requests_are_shown_to_an_observer(local_stack):
    # Given an observer and a client of the emulator's table
    table = local_stack.resources.table_name
    ddb = _emulator_client(local_stack, "dynamodb")
    key = {"PK": {"S": f"TEST#{uuid.uuid4().hex}"}, "SK": {"S": "A"}}
    recorder = Recorder()
    # When it puts an item, reads it, and makes a put whose condition fails, while observed
    with patches.observe_dynamodb_requests(recorder):
        ddb.put_item(TableName=table, Item={**key, "fact": {"S": "x"}})
        ddb.get_item(TableName=table, Key=key)
        with pytest.raises(ClientError):
            ddb.put_item(TableName=table, Item=key, ConditionExpression="attribute_not_exists(PK)")
    ddb.delete_item(TableName=table, Key=key)  # after the block: not observed
    # Then the observer saw each request before it was sent, and the successful ones after, with their
    # responses; its own read (of the item just put) was not observed
    assert recorder.sent == ["PutItem", "GetItem", "PutItem"]
    assert [operation for operation, _ in recorder.answered] == ["PutItem", "GetItem"]
    assert recorder.answered[1][1]["Item"]["fact"] == {"S": "x"}
    assert recorder.read_back == {**key, "fact": {"S": "x"}}


def test_the_emulator_parses_dynamodb_requests_into_what_moto_parses():
    # Given the emulator's patches (its own parser for DynamoDB and DynamoDB Streams request bodies)
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    patches.install_emulator_patches()
    value = {
        "S": "text",
        "N": "12.50",
        "B": "aGVsbG8=",
        "BS": ["AAE=", "AgM="],
        "NS": ["1", "2"],
        "SS": ["a", "b"],
        "NULL": True,
        "BOOL": False,
        "M": {"nested": {"L": [{"B": "AAA="}, {"M": {"deep": {"N": "3"}}}, {"NULL": True}]}},
    }
    item = {"PK": {"S": "T#t#M#1"}, "SK": {"S": "M"}, "e": {"B": "AAAAAA=="}, "all": value, "gone": None}
    requests = [
        (
            "dynamodb",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
                    {
                        "Update": {
                            "TableName": "t",
                            "Key": {"PK": {"S": "a"}, "SK": {"S": "b"}},
                            "UpdateExpression": "ADD #c :one",
                            "ExpressionAttributeNames": {"#c": "count"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ],
                "ClientRequestToken": None,
                "NotInTheModel": 1,
            },
        ),
        ("dynamodb", "BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": item}}]}}),
        ("dynamodb", "Query", {"TableName": "t", "Limit": 5, "ConsistentRead": True, "ExclusiveStartKey": item}),
        ("dynamodbstreams", "GetRecords", {"ShardIterator": "iterator", "Limit": 100}),
    ]
    for service, operation, body in requests:
        model = get_service_model(service).operation_model(operation)
        parser = JSONParser(model)
        raw = json.dumps(body).encode()
        # When the emulator parses the request body
        parsed = parser._parse_json_body(raw, model.input_shape)
        # Then it is what moto's generic parser makes of it (blobs decoded, numbers converted, nulls and
        # members outside the model dropped)
        assert parsed == parser._parse_shape(model.input_shape, json.loads(raw)), operation
    assert parsed == {"ShardIterator": "iterator", "Limit": 100}


@contextlib.contextmanager
def _scratch_table(ddb: Any, name: str) -> Iterator[None]:
    """Delete the emulator table ``name`` after the block (the tests create it inside)."""
    try:
        yield
    finally:
        with contextlib.suppress(ClientError):
            ddb.delete_table(TableName=name)


def _create_keyed_table(ddb: Any, name: str, **options: Any) -> Any:
    """Create the emulator table ``name`` keyed by ``PK`` (hash) and ``SK`` (range), strings, on demand."""
    return ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        **options,
    )


def _tree_dump(node: Any, seen: set[int] | None = None) -> Any:
    """A moto update-expression tree as plain data (its ``parent`` links left out)."""
    if isinstance(node, list | tuple):
        return [_tree_dump(item) for item in node]
    if isinstance(node, dict):
        return {key: _tree_dump(item) for key, item in node.items()}
    if type(node).__module__.startswith("moto.dynamodb.parsing."):
        fields = {name: _tree_dump(item) for name, item in vars(node).items() if name != "parent"}
        return [type(node).__name__, fields]
    return repr(node)


def _nodes(node: Any) -> list[Any]:
    found = [node]
    for child in getattr(node, "children", None) or []:
        if type(child).__module__.startswith("moto.dynamodb.parsing."):
            found.extend(_nodes(child))
    return found


@pytest.mark.parametrize(
    "expression",
    [
        "ADD #c :one SET #t = :ttl",
        "SET a.b[2].c = if_not_exists(a.b[2].c, :zero) + :one, l = list_append(l, :more) REMOVE x, y[1]",
        "SET #n = :v DELETE s :members",
    ],
)
def test_the_emulator_copies_an_update_expression_like_deepcopy(expression):
    # Given an update expression's tree as moto parses it
    import copy
    import importlib

    # moto's module is untyped (it exports the class under a type: ignore): looked up by name
    parser = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    tree = parser.make(expression)
    # When the emulator's copier copies it
    copied = patches.copy_expression_tree(tree)
    # Then it is what copy.deepcopy makes, a new node for every node, with parents inside the copy
    assert _tree_dump(copied) == _tree_dump(copy.deepcopy(tree)) == _tree_dump(tree)
    originals, copies = _nodes(tree), _nodes(copied)
    assert len(originals) == len(copies) > 3
    assert not {id(n) for n in originals} & {id(n) for n in copies}
    ids = {id(n) for n in copies}
    assert all(n.parent is None or id(n.parent) in ids for n in copies)


@pytest.mark.parametrize(
    "expression",
    [
        "ADD #c :one SET #t = :ttl",
        "SET a.b[1].c = if_not_exists(a.b[1].c, :zero) + :one, l = list_append(l, :more) REMOVE x, y[0]",
        "SET #n = :v DELETE s :members",
    ],
)
def test_the_emulator_validates_an_update_expression_as_moto_does(expression):
    # Given an update expression, the values and names it uses and an item to apply it to
    import copy
    import importlib

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    patches.install_emulator_patches()
    parsing = importlib.import_module("moto.dynamodb.parsing.expressions")  # untyped module: by name
    validators = importlib.import_module("moto.dynamodb.parsing.validators")
    attrs = {
        "PK": {"S": "k"},
        "a": {"M": {"b": {"L": [{"M": {}}, {"M": {"c": {"N": "4"}}}]}}},
        "l": {"L": [{"N": "1"}]},
        "x": {"S": "gone"},
        "y": {"L": [{"N": "1"}, {"N": "2"}]},
        "s": {"SS": ["a", "b"]},
        "#c": {"N": "1"},
    }
    values = {
        ":one": {"N": "1"},
        ":zero": {"N": "0"},
        ":ttl": {"N": "1700000000"},
        ":more": {"L": [{"N": "2"}]},
        ":v": {"S": "v"},
        ":members": {"SS": ["a"]},
    }
    names = {"#c": "count", "#t": "ttl", "#n": "name"}
    table = type("Table", (), {"table_key_attrs": ["PK"], "attr": [], "attribute_keys": ["PK"]})()

    def validated(traverse: Any) -> Any:
        item = Item(DynamoType(attrs["PK"]), None, copy.deepcopy(attrs))
        tree = parsing.UpdateExpressionParser.make(expression)
        original = validators.DepthFirstTraverser.traverse
        validators.DepthFirstTraverser.traverse = traverse
        try:
            return validators.UpdateExpressionValidator(
                tree, expression_attribute_names=names, expression_attribute_values=values, item=item, table=table
            ).validate()
        finally:
            validators.DepthFirstTraverser.traverse = original

    # When moto's own passes and the emulator's validate it
    ours, theirs = validated(patches.traverse_once), validated(patches._originals["DepthFirstTraverser.traverse"])
    # Then the validated trees are the same
    assert _tree_dump(ours) == _tree_dump(theirs)
    assert len(_nodes(ours)) > 3


def test_update_and_condition_expressions_mean_the_same_with_the_emulator_patches(local_stack):
    # Given the emulator's patches (cached condition parses, the tree copier) and a table of the emulator
    ddb = _emulator_client(local_stack, "dynamodb")
    name = f"patches-{uuid.uuid4().hex[:8]}"
    with _scratch_table(ddb, name):
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        )
        key = {"PK": {"S": "k"}}
        ddb.put_item(TableName=name, Item={**key, "l": {"L": [{"N": "1"}]}, "m": {"M": {"a": {"N": "1"}}}})
        for _ in range(2):  # the second time from the caches
            # When the same updates run twice
            ddb.update_item(
                TableName=name,
                Key=key,
                UpdateExpression="SET m.a = if_not_exists(m.a, :zero) + :one, l = list_append(l, :more) ADD #c :one",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}, ":more": {"L": [{"N": "2"}]}},
            )
        item = ddb.get_item(TableName=name, Key=key)["Item"]
        # Then each applied to the item as it was then (nothing of the first run was kept in a shared tree)
        assert item["m"] == {"M": {"a": {"N": "3"}}}
        assert item["count"] == {"N": "2"}
        assert item["l"] == {"L": [{"N": "1"}, {"N": "2"}, {"N": "2"}]}
        # And a transaction's conditions are judged each time, an unused name refused each time
        for expected in ("ConditionalCheckFailed", "ConditionalCheckFailed"):
            with pytest.raises(ClientError) as failed:
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": name, "Item": key, "ConditionExpression": "attribute_not_exists(PK)"}}
                    ]
                )
            assert expected in str(failed.value)
        for _ in range(2):
            with pytest.raises(ClientError) as refused:
                ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": name,
                                "Item": {"PK": {"S": "new"}},
                                "ConditionExpression": "attribute_not_exists(#p)",
                                "ExpressionAttributeNames": {"#p": "PK", "#unused": "x"},
                            }
                        }
                    ]
                )
            assert refused.value.response["Error"]["Code"] == "ValidationException"
            assert "#unused" in str(refused.value)


def test_the_emulator_stream_records_carry_what_a_reader_needs(local_stack):
    # Given the emulator's patches and a table with a stream of both images
    import time

    ddb = _emulator_client(local_stack, "dynamodb")
    name = f"patches-{uuid.uuid4().hex[:8]}"
    with _scratch_table(ddb, name):
        arn = _create_keyed_table(
            ddb, name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        )["TableDescription"]["LatestStreamArn"]
        item = {"PK": {"S": "p"}, "SK": {"S": "s"}, "e": {"B": b"\x00\x01"}, "m": {"M": {"x": {"N": "1"}}}}
        before = time.time()
        # When an item is put, then changed
        ddb.put_item(TableName=name, Item=item)
        ddb.put_item(TableName=name, Item={**item, "m": {"M": {"x": {"N": "2"}}}})
        streams = _emulator_client(local_stack, "dynamodbstreams")
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    # Then the records are those of DynamoDB: event names, keys, images, sequence, a size and a time
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    first, second = (r["dynamodb"] for r in records)
    assert first["Keys"] == second["Keys"] == {"PK": {"S": "p"}, "SK": {"S": "s"}}
    assert first["NewImage"]["e"] == {"B": b"\x00\x01"} and "OldImage" not in first
    assert second["OldImage"]["m"] == {"M": {"x": {"N": "1"}}} and second["NewImage"]["m"] == {"M": {"x": {"N": "2"}}}
    assert int(second["SequenceNumber"]) == int(first["SequenceNumber"]) + 1
    assert 0 < first["SizeBytes"] < second["SizeBytes"]
    assert before - 1 <= first["ApproximateCreationDateTime"].timestamp() <= time.time() + 1
    assert len({r["eventID"] for r in records}) == 2


def test_a_stream_image_and_its_size_are_what_moto_makes():
    # Given the emulator's patches and a moto item holding every kind of value, at the top and nested
    # (binary values in base64, as moto keeps what a request sent)
    import base64

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    patches.install_emulator_patches()

    def wire(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {key: wire(member) for key, member in value.items()}
        if isinstance(value, list):
            return [wire(member) for member in value]
        return value

    every = _item_of_every_kind()
    attrs = wire({**every, **{f"top_{kind}": {kind: value} for kind, value in every["all"]["M"]["v"].items()}})
    attrs["unicode_ключ"] = {"S": "naïve café ☕"}
    item = Item(DynamoType(attrs["PK"]), DynamoType(attrs["SK"]), attrs)
    # When the stream record's image and size are made in one walk
    image, size = patches.stream_image(item)
    # Then they are moto's own image and size of the item
    assert image == item.to_json()["Attributes"]
    assert size == item.size()
    assert [patches.value_size(value) for value in item.attrs.values()] == [v.size() for v in item.attrs.values()]
    # (a nested binary is decoded as moto decodes it; a top-level one stays as stored)
    assert image["top_M"]["M"]["nested"]["L"][0] == {"B": b"\x00"} and image["top_B"] == attrs["top_B"]


def _item_of_every_kind() -> dict[str, Any]:
    """An item (as a client sends it: binary values as bytes) holding every kind of attribute value,
    nested maps and lists, an empty string and an empty list."""
    value = {
        "S": "text",
        "N": "12.50",
        "B": b"hello",
        "BS": [b"\x00\x01", b"\x02"],
        "NS": ["1", "2"],
        "SS": ["a", "b"],
        "NULL": True,
        "BOOL": False,
        "M": {"nested": {"L": [{"B": b"\x00"}, {"M": {"deep": {"N": "3"}}}, {"NULL": True}, {"S": ""}]}},
        "L": [],
    }
    return {"PK": {"S": "T#t#M#1"}, "SK": {"S": "M"}, "e": {"B": b"\x00" * 16}, "all": {"M": {"v": value}}}


def test_the_emulator_serializes_item_answers_into_what_moto_serializes():
    # Given the emulator's patches and read results holding every kind of attribute value
    from moto.core import serialize as serialize_module
    from moto.core.responses import ActionContext, ActionResult
    from moto.core.serialize import get_serializer_class
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    patches.install_emulator_patches()
    item = _item_of_every_kind()
    capacity = [{"TableName": "t", "CapacityUnits": 1.5}]
    results = {
        "GetItem": {"Item": item, "ConsumedCapacity": capacity[0]},
        "BatchGetItem": {"Responses": {"t": [item, item]}, "UnprocessedKeys": {}, "ConsumedCapacity": capacity},
        "Query": {"Items": [item], "Count": 1, "ScannedCount": 3, "LastEvaluatedKey": {"PK": {"S": "x"}}},
        "Scan": {"Items": [], "Count": 0, "ScannedCount": 0, "LastEvaluatedKey": None},
        "TransactGetItems": {"Responses": [{"Item": item}, {}]},
        "PutItem": {"Attributes": item, "ConsumedCapacity": capacity[0]},
        "UpdateItem": {"Attributes": {"count": {"N": "2"}}},
        "DeleteItem": {},
        "BatchWriteItem": {
            "ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}],
            "ItemCollectionMetrics": {},
            "UnprocessedItems": {},
        },
        "TransactWriteItems": {"ConsumedCapacity": [], "ItemCollectionMetrics": {}},
    }
    model = get_service_model("dynamodb")
    serializer = get_serializer_class("dynamodb", model.protocol)
    for operation, result in results.items():
        context = ActionContext(model, model.operation_model(operation), serializer, DynamoHandler())
        # When the emulator serializes the answer, and moto's generic serializer does
        wrapper = ActionResult if operation in ("BatchWriteItem", "TransactWriteItems") else DynamoResult
        status, headers, body = wrapper(result).execute_result(context)
        generic = patches._moto_execute_result(wrapper(result), context)
        # Then both give the same status, content type and document
        assert (status, headers["Content-Type"]) == (generic[0], generic[1]["Content-Type"]), operation
        assert json.loads(body) == json.loads(generic[2]), operation
        # (and the answer is the emulator's serializer's, not moto's reached by a fallback)
        fast = patches._answer_serializer(context.operation_model.output_shape, {}, serialize_module)
        assert json.loads(json.dumps(fast(DynamoResult(result).result))) == json.loads(body), operation
    # (moto's serializer is kept aside, not in place)
    assert ActionResult.execute_result is not patches._originals["ActionResult.execute_result"]


def test_dynamodb_requests_are_serialized_into_what_botocore_serializes():
    # Given the patches (this process's DynamoDB request bodies serialized per shape) and requests with
    # every kind of attribute value, conditions, nested maps and lists, floats and numbers
    import decimal

    from botocore import serialize
    from botocore.session import get_session

    patches.install_emulator_patches()
    item = _item_of_every_kind()
    requests = {
        "TransactWriteItems": {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"PK": {"S": "a"}, "SK": {"S": "b"}},
                        "UpdateExpression": "ADD #c :one",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ],
            "ClientRequestToken": "token",
        },
        "BatchWriteItem": {"RequestItems": {"t": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": item}}]}},
        "Query": {"TableName": "t", "Limit": 5, "ConsistentRead": True, "ExclusiveStartKey": item},
        "BatchGetItem": {"RequestItems": {"t": {"Keys": [item], "ConsistentRead": True}}},
        "RestoreTableToPointInTime": {
            "TargetTableName": "x",
            "RestoreDateTime": 1_700_000_000.5,
            "SourceTableName": "y",
        },
        "UpdateTable": {
            "TableName": "t",
            "WarmThroughput": {"ReadUnitsPerSecond": 5},
            "OnDemandThroughput": {"MaxReadRequestUnits": 10},
        },
    }
    model = get_session().get_service_model("dynamodb")
    serializer = serialize.JSONSerializer()
    for operation, parameters in requests.items():
        operation_model = model.operation_model(operation)
        # When the request is serialized by the patched serializer and by botocore's own
        request = serializer.serialize_to_request(parameters, operation_model)
        expected = patches._botocore_serialize_to_request(serializer, parameters, operation_model)
        # Then the two are the same request, byte for byte
        assert request == expected, operation
    # (and the patched serializer made the first: botocore's is kept aside, not in place)
    assert (
        serialize.JSONSerializer.serialize_to_request is not patches._originals["JSONSerializer.serialize_to_request"]
    )
    assert json.loads(request["body"])["OnDemandThroughput"] == {"MaxReadRequestUnits": 10}
    assert patches._float_value(serializer, decimal.Decimal("1.5")) == 1.5
    assert patches._float_value(serializer, float("inf")) == "Infinity"


def test_the_emulator_converts_attribute_values_as_moto_does():
    # Given the emulator's patches (DynamoType built without intermediate lists) and values of every type
    from moto.dynamodb.models.dynamo_type import DynamoType

    patches.install_emulator_patches()
    values: list[dict[str, Any]] = [
        {"S": "text"},
        {"N": "1.5"},
        {"B": b"\x00\x01"},
        {"SS": ["a", "b"]},
        {"NULL": True},
        {"L": [{"S": "a"}, {"M": {"k": {"L": [{"N": "1"}]}}}]},
        {"M": {"a": {"BOOL": True}, "b": {"M": {}}}},
        {"S": "first", "N": "2"},  # not a valid value: moto takes the first pair
    ]
    for value in values:
        # When the emulator converts a value, and moto's own conversion does
        converted = DynamoType(value)
        expected = DynamoType.__new__(DynamoType)
        patches._originals["DynamoType.__init__"](expected, value)
        # Then both are the same value, down to the nested ones
        assert (converted.type, converted.to_json(), converted.size()) == (
            expected.type,
            expected.to_json(),
            expected.size(),
        ), value
        assert converted == expected and DynamoType(converted) == expected
    assert isinstance(DynamoType(values[5]).value[1].value["k"], DynamoType)
    with pytest.raises(IndexError):
        DynamoType({})


def _item_calls(name: str) -> list[tuple[str, dict[str, Any]]]:
    """One request of every ``DIRECT_CALLS`` operation on table ``name`` (keys PK/SK), in an order that
    leaves the table as it found it, each asking for what it can return (old and new images, consumed
    capacity, item collection metrics)."""
    item = _item_of_every_kind()
    key = {"PK": item["PK"], "SK": item["SK"]}
    total = {"ReturnConsumedCapacity": "TOTAL"}
    return [
        ("PutItem", {"TableName": name, "Item": item, "ReturnValues": "ALL_OLD", **total}),
        ("PutItem", {"TableName": name, "Item": item, "ReturnValues": "ALL_OLD"}),
        ("GetItem", {"TableName": name, "Key": key, "ConsistentRead": True, **total}),
        (
            "UpdateItem",
            {
                "TableName": name,
                "Key": key,
                "UpdateExpression": "ADD #c :one SET #t = :t",
                "ExpressionAttributeNames": {"#c": "count", "#t": "text"},
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":t": {"S": "naïve ☕"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        (
            "Query",
            {"TableName": name, "KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": item["PK"]}},
        ),
        ("Scan", {"TableName": name, "Limit": 1, **total}),
        ("BatchGetItem", {"RequestItems": {name: {"Keys": [key, {"PK": {"S": "absent"}, "SK": {"S": "x"}}]}}}),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": name, "Key": key}}]}),
        (
            "BatchWriteItem",
            {
                "RequestItems": {
                    name: [{"PutRequest": {"Item": {"PK": {"S": "b"}, "SK": {"S": "1"}, "e": {"B": b"\x01"}}}}]
                },
                "ReturnItemCollectionMetrics": "SIZE",
                **total,
            },
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Delete": {"TableName": name, "Key": {"PK": {"S": "b"}, "SK": {"S": "1"}}}},
                    {"ConditionCheck": {"TableName": name, "Key": key, "ConditionExpression": "attribute_exists(PK)"}},
                ],
                **total,
            },
        ),
        ("DeleteItem", {"TableName": name, "Key": key, "ReturnValues": "ALL_OLD", **total}),
    ]


def _failing_calls(name: str) -> list[tuple[str, dict[str, Any]]]:
    """Requests the emulator refuses, with the error fields a caller reads (a failed condition's item, a
    transaction's cancellation reasons)."""
    item = {"PK": {"S": "f"}, "SK": {"S": "1"}, "e": {"B": b"\x00\x01"}}
    exists = "attribute_not_exists(PK)"
    return [
        ("PutItem", {"TableName": name, "Item": item, "ConditionExpression": exists}),
        (
            "PutItem",
            {
                "TableName": name,
                "Item": item,
                "ConditionExpression": exists,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": name, "Item": {"PK": {"S": "g"}, "SK": {"S": "1"}}}},
                    {
                        "Put": {
                            "TableName": name,
                            "Item": item,
                            "ConditionExpression": exists,
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                ]
            },
        ),
        ("UpdateItem", {"TableName": name, "Key": {"PK": {"S": "f"}, "SK": {"S": "1"}}, "UpdateExpression": "SET"}),
        ("GetItem", {"TableName": f"{name}-absent", "Key": {"PK": {"S": "f"}, "SK": {"S": "1"}}}),
    ]


def _answers(ddb: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """What botocore returns for each call (``ResponseMetadata`` left out), or the class and response of
    the error it raised."""
    answers: list[Any] = []
    for operation, request in calls:
        try:
            answer = ddb._make_api_call(operation, request)
        except ClientError as error:
            answers.append((type(error).__name__, {k: v for k, v in error.response.items() if k != "ResponseMetadata"}))
        else:
            answers.append({k: v for k, v in answer.items() if k != "ResponseMetadata"})
    return answers


def test_dynamodb_item_calls_answer_what_the_emulator_answers_over_its_api(local_stack, monkeypatch):
    # Given a table of the emulator, and a record of the requests that take the emulator's HTTP-shaped way
    ddb = _emulator_client(local_stack, "dynamodb")
    name = f"patches-{uuid.uuid4().hex[:8]}"
    sent: list[str] = []
    http_way = patches.direct_emulator_request

    def recorded(url: str, method: str, headers: dict[str, Any], body: bytes) -> Any:
        target = patches._header(headers, "X-Amz-Target") or ""
        if target.startswith("DynamoDB_"):  # (not the stream poller's reads)
            sent.append(target)
        return http_way(url, method, headers, body)

    monkeypatch.setattr(patches, "direct_emulator_request", recorded)
    with _scratch_table(ddb, name):
        _create_keyed_table(ddb, name)
        ddb.put_item(TableName=name, Item={"PK": {"S": "f"}, "SK": {"S": "1"}, "e": {"B": b"\x00\x01"}})
        sent.clear()
        # When every item operation, and requests the emulator refuses, are answered in the calling thread
        direct = _answers(ddb, _item_calls(name)), _answers(ddb, _failing_calls(name))
        assert sent == []  # (none took the HTTP-shaped way)
        # and then again the HTTP-shaped way (the table is as it was)
        monkeypatch.setattr(patches, "direct_dynamodb_calls", False)
        over_api = _answers(ddb, _item_calls(name)), _answers(ddb, _failing_calls(name))
        assert len(sent) == len(_item_calls(name)) + len(_failing_calls(name))
    # Then the answers and the errors are the same, to the field
    assert direct == over_api
    errors = direct[1]
    assert [(e[0], e[1]["Error"]["Code"]) for e in errors] == [
        ("ConditionalCheckFailedException", "ConditionalCheckFailedException"),
        ("ConditionalCheckFailedException", "ConditionalCheckFailedException"),
        ("TransactionCanceledException", "TransactionCanceledException"),
        ("ClientError", "ValidationException"),
        ("ResourceNotFoundException", "ResourceNotFoundException"),
    ]
    assert errors[1][1]["Item"]["e"] == {"B": b"\x00\x01"}
    assert [r["Code"] for r in errors[2][1]["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert direct[0][0]["ConsumedCapacity"]["CapacityUnits"] > 0 and direct[0][1]["Attributes"]["e"] == {
        "B": b"\x00" * 16
    }


def test_direct_calls_give_moto_the_parameters_its_parser_makes():
    # Given the patches and requests of every item operation (blobs, nested maps and lists, numbers)
    from botocore import serialize
    from botocore.session import get_session
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    patches.install_emulator_patches()
    model = get_session().get_service_model("dynamodb")
    serializer = serialize.JSONSerializer()
    calls = _item_calls("t") + _failing_calls("t")
    calls.append(
        ("Query", {"TableName": "t", "Limit": 5, "ScanIndexForward": False, "ExclusiveStartKey": {"B": {"B": "text"}}})
    )
    assert {operation for operation, _ in calls} == set(patches.DIRECT_CALLS)
    for operation, parameters in calls:
        operation_model = model.operation_model(operation)
        # When the parameters are made from the client's, and moto parses the body botocore sends
        made = patches._request_params(operation_model, parameters)
        body = serializer.serialize_to_request(parameters, operation_model)["body"]
        parser = JSONParser(
            get_service_model("dynamodb").operation_model(operation), map_type=DynamoHandler.PROTOCOL_PARSER_MAP_TYPE
        )
        parsed = parser.parse(
            {"method": "POST", "values": {}, "headers": {}, "body": body, "url_path": "/", "url_params": {}}
        )
        # Then they are the same parameters
        assert made == dict(parsed), operation
    # (a blob given as text arrives as its UTF-8 bytes, as through the body)
    assert made["ExclusiveStartKey"] == {"B": {"B": b"text"}}
    # And a value it does not make (a file-like blob) is refused, so that the body is parsed instead
    with pytest.raises(TypeError):
        patches._request_params(
            model.operation_model("PutItem"), {"TableName": "t", "Item": {"b": {"B": io.BytesIO(b"x")}}}
        )


def test_answers_are_enriched_as_moto_enriches_them():
    # Given the patches, and answers moto enriches: JSON text, XML with a RequestId, bytes
    from moto.core.responses import BaseResponse

    patches.install_emulator_patches()
    original = patches._originals["BaseResponse._enrich_response"]
    for body in ('{"Records": [{"eventID": "1"}]}', "<R><RequestId>x</RequestId></R>", b"\x00{}"):
        # When the emulator enriches one, and moto's own function does
        ours_headers, ours = BaseResponse._enrich_response({"status": 200}, body)
        theirs_headers, theirs = original({"status": 200}, body)
        # Then the body is the same (a RequestId rewritten to the new id), the headers alike
        if isinstance(body, str) and "<RequestId>" in body:
            assert ours == f"<R><RequestId>{ours_headers['x-amzn-requestid']}</RequestId></R>"
        else:
            assert ours == theirs == body
        assert ours_headers.keys() == theirs_headers.keys() == {"status", "x-amzn-requestid"}
        assert ours_headers["status"] == "200" and len(ours_headers["x-amzn-requestid"]) == 52
