"""``engram_dev.patches``: each patch refuses a library version it was not written for, with a message that
names the package and both versions; the botocore hooks answer the emulator's Lambda invocations and show
DynamoDB requests to an observer; an emulator patch checks moto's version before changing anything."""

from __future__ import annotations

import json
import uuid
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
