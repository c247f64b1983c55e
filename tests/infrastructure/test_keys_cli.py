"""``engram keys create`` / ``revoke`` against the local stack (as a user would, from the printed
endpoint and table), and the authorizer's answers: 200 with a new key, 403 once revoked, 401 otherwise."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.stub import Stubber
from engram_dev.cli import main
from engram_dev.client import EngramClient
from engram_dev.keys import stack_output


def _target(local_stack) -> list[str]:
    return ["--endpoint-url", local_stack.emulator.endpoint_url, "--table-name", local_stack.resources.table_name]


def _create(local_stack, capsys, tenant: str) -> tuple[str, str]:
    assert main(["keys", "create", "--tenant", tenant, "--name", "ci", *_target(local_stack)]) == 0
    out = capsys.readouterr().out
    [key] = re.findall(r"egm_[A-Za-z0-9_-]{43}", out)
    [key_id] = re.findall(r"Key id.*: ([0-9a-f]{64})", out)
    return key, key_id


def test_a_created_key_authenticates_as_its_tenant_and_is_shown_once(local_stack, capsys, scope):
    """Given a key made with `engram keys create`, when it calls the API, then it acts as its tenant;
    the stored item holds only the hash."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    key, key_id = _create(local_stack, capsys, tenant)
    client = EngramClient(local_stack.api_url, key)
    status, created = client.request("POST", "/v1/memories", {"scope": scope, "fact": "The user likes tea."})
    assert status == 201, created
    # the dev tenant cannot see it: the key's tenant is the one given to `keys create`
    dev = EngramClient(local_stack.api_url, local_stack.api_key)
    assert dev.request("GET", f"/v1/memories/{created['id']}")[0] == 404
    assert client.request("GET", f"/v1/memories/{created['id']}")[0] == 200
    from engram.adapters.dynamodb.api_keys import DynamoApiKeys
    from engram.adapters.dynamodb.table import Table

    table = Table(local_stack.resources.table_name, "us-east-1", local_stack.emulator.endpoint_url)
    api_keys = DynamoApiKeys(table)
    assert api_keys.get(key_id) == (tenant, False)
    assert api_keys.get(key) is None  # the plaintext is not a key of the table


@pytest.mark.parametrize("by", ["key", "key-id"])
def test_a_revoked_key_gets_403_and_an_unknown_one_401(local_stack, capsys, by):
    key, key_id = _create(local_stack, capsys, "t-revoke")
    client = EngramClient(local_stack.api_url, key)
    assert client.request("GET", "/v1/operations/nope")[0] == 404  # authenticated
    which = [key] if by == "key" else ["--key-id", key_id]
    assert main(["keys", "revoke", *which, *_target(local_stack)]) == 0
    status, body = client.request("GET", "/v1/operations/nope")
    assert status == 403 and body["error"]["code"] == "PERMISSION_DENIED"
    status, body = EngramClient(local_stack.api_url, key + "x").request("GET", "/v1/operations/nope")
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"


def test_revoking_an_unknown_key_fails(local_stack, capsys):
    assert main(["keys", "revoke", "--key-id", "0" * 64, *_target(local_stack)]) == 1
    assert "no such key" in capsys.readouterr().err


def test_a_stack_name_resolves_to_its_table_output():
    import boto3

    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(cloudformation) as stub:
        outputs = [
            {"OutputKey": "ApiUrl", "OutputValue": "https://x"},
            {"OutputKey": "TableName", "OutputValue": "engram-Table-1"},
        ]
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "engram",
                        "CreationTime": "2026-01-01T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": outputs,
                    }
                ]
            },
            {"StackName": "engram"},
        )
        assert stack_output(cloudformation, "engram", "TableName") == "engram-Table-1"
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {"StackName": "other", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
                ]
            },
            {"StackName": "other"},
        )
        with pytest.raises(SystemExit, match="no TableName output"):
            stack_output(cloudformation, "other", "TableName")
