"""``engram keys create`` / ``revoke`` against the local stack (as a user would, from the printed
endpoint and table), and the authorizer's answers: 200 with a new key, 403 once revoked, 401 otherwise."""

from __future__ import annotations

import json
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


# --- per-tenant usage plans (API Gateway; the emulator's, as the local stack has no API Gateway) -----------


def _api_and_plan(local_stack, stages: int = 1) -> tuple[str, str]:
    """A REST API (``stages`` of them, for a plan covering several) and a usage plan on its prod stage."""
    apigateway = local_stack.emulator.client("apigateway")
    apis = [apigateway.create_rest_api(name=f"engram-{uuid.uuid4().hex[:6]}")["id"] for _ in range(stages)]
    plan = apigateway.create_usage_plan(
        name=f"plan-{uuid.uuid4().hex[:6]}", apiStages=[{"apiId": api, "stage": "prod"} for api in apis]
    )
    return apis[0], plan["id"]


def _tenant_keys(local_stack, api_id: str, tenant: str) -> list[dict]:
    apigateway = local_stack.emulator.client("apigateway")
    found = apigateway.get_api_keys(nameQuery=f"engram-{api_id}-{tenant}", includeValues=True)["items"]
    return [k for k in found if k["name"] == f"engram-{api_id}-{tenant}"]


def _plan_key_ids(local_stack, plan_id: str) -> list[str]:
    return [
        k["id"] for k in local_stack.emulator.client("apigateway").get_usage_plan_keys(usagePlanId=plan_id)["items"]
    ]


def test_against_the_local_stack_no_usage_plan_is_touched(local_stack, capsys):
    # Given the local stack's table (no API Gateway there), When a key is created, Then it is created and
    # the output says no usage plan was involved
    assert main(["keys", "create", "--tenant", "t-noplan", *_target(local_stack)]) == 0
    out = capsys.readouterr().out
    assert "Usage plan: none" in out and re.search(r"egm_[A-Za-z0-9_-]{43}", out)


def test_create_puts_the_tenant_once_on_the_usage_plan_the_authorizer_names(local_stack, capsys):
    from engram.logic.auth import usage_identifier_key

    api_id, plan_id = _api_and_plan(local_stack)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    # When two keys are created for one tenant with a usage plan
    for _ in range(2):
        assert main(["keys", "create", "--tenant", tenant, "--usage-plan-id", plan_id, *_target(local_stack)]) == 0
    out = capsys.readouterr().out
    # Then the tenant has one API Gateway key, with the value the authorizer derives, on the plan once
    [key] = _tenant_keys(local_stack, api_id, tenant)
    assert key["value"] == usage_identifier_key(api_id, tenant) and key["enabled"] is True
    assert _plan_key_ids(local_stack, plan_id) == [key["id"]]
    assert "added to it now" in out and "already on it" in out
    # And the authorizer, for a request to that API, names that key as the request's usage-plan key
    engram_key = re.findall(r"egm_[A-Za-z0-9_-]{43}", out)[-1]
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {engram_key}",
        "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/prod/GET/v1/config",
    }
    policy = local_stack.runtime.invoke("AuthorizerFunction", event)
    assert policy["principalId"] == tenant and policy["usageIdentifierKey"] == key["value"]


def test_a_stack_name_gives_the_table_the_api_and_the_default_plan(local_stack, capsys):
    # Given a "deployed stack" in the emulator's CloudFormation with an Engram stack's outputs
    api_id, plan_id = _api_and_plan(local_stack)
    stack_name = f"engram-{uuid.uuid4().hex[:6]}"
    outputs = {"TableName": local_stack.resources.table_name, "ApiId": api_id, "DefaultUsagePlanId": plan_id}
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    cloudformation = local_stack.emulator.client("cloudformation")
    cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    target = ["--stack-name", stack_name, "--endpoint-url", local_stack.emulator.endpoint_url]
    # When a key is created for a tenant with --stack-name
    assert main(["keys", "create", "--tenant", "t-stack", *target]) == 0
    [key] = re.findall(r"egm_[A-Za-z0-9_-]{43}", capsys.readouterr().out)
    # Then the key works on the stack's table, and the tenant is on the stack's default plan
    assert EngramClient(local_stack.api_url, key).request("GET", "/v1/config")[0] == 200
    [tenant_key] = _tenant_keys(local_stack, api_id, "t-stack")
    assert _plan_key_ids(local_stack, plan_id) == [tenant_key["id"]]
    # And --no-usage-plan leaves plans alone (another tenant: no API Gateway key made)
    assert main(["keys", "create", "--tenant", "t-stack-2", "--no-usage-plan", *target]) == 0
    assert not _tenant_keys(local_stack, api_id, "t-stack-2")
    # And `keys plan` puts an existing tenant (e.g. keys made before usage plans) on the default plan
    assert main(["keys", "plan", "--tenant", "t-stack-2", *target]) == 0
    assert len(_plan_key_ids(local_stack, plan_id)) == 2


def test_a_tenant_on_another_plan_of_the_api_is_not_moved_and_no_key_is_handed_out(local_stack, capsys):
    api_id, plan_id = _api_and_plan(local_stack)
    other = local_stack.emulator.client("apigateway").create_usage_plan(
        name="premium", apiStages=[{"apiId": api_id, "stage": "prod"}]
    )["id"]
    plan_target = ["--endpoint-url", local_stack.emulator.endpoint_url]
    assert main(["keys", "plan", "--tenant", "t-moved", "--usage-plan-id", other, *plan_target]) == 0
    capsys.readouterr()
    # When a key is created for it on the default plan
    code = main(["keys", "create", "--tenant", "t-moved", "--usage-plan-id", plan_id, *_target(local_stack)])
    # Then nothing changes and no key is printed: the operator is told how to move the tenant
    captured = capsys.readouterr()
    assert code == 1 and "egm_" not in captured.out
    assert f"delete-usage-plan-key --usage-plan-id {other}" in captured.err
    assert _plan_key_ids(local_stack, plan_id) == []


@pytest.mark.parametrize("problem", ["unknown plan", "plan of two APIs"])
def test_a_plan_that_cannot_be_used_is_a_clear_error(local_stack, capsys, problem):
    plan_id = "nope123" if problem == "unknown plan" else _api_and_plan(local_stack, stages=2)[1]
    code = main(["keys", "plan", "--tenant", "t-err", "--usage-plan-id", plan_id, *_target(local_stack)[:2]])
    err = capsys.readouterr().err
    assert code == 1 and f"could not put tenant t-err on usage plan {plan_id}" in err
    if problem == "plan of two APIs":
        assert "covers 2 APIs" in err


@pytest.mark.parametrize("tenant", ["dev#SES#zz", "a b", "t:1", "", "x" * 65])
def test_a_tenant_outside_the_grammar_is_refused_and_no_key_is_stored(local_stack, capsys, tenant):
    """Given a tenant id with the key delimiter (or otherwise outside the tenant id grammar), when a key is
    created for it, then argparse refuses it (exit 2, naming the rule) and nothing is printed as a key."""
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--tenant", tenant, *_target(local_stack)])
    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert "tenant" in captured.err and "not a valid identifier" in captured.err
    assert "egm_" not in captured.out
