"""Opt-in end-to-end suite against a deployed stack: ``make e2e STACK=<stack name>``.

Reads the stack's outputs (``ApiUrl``, ``TableName``) through CloudFormation with your AWS credentials
and region, creates a throw-away API key for a fresh tenant (``engram keys``) and puts the tenant on the
stack's default usage plan, then runs generate -> poll -> retrieve -> purge, and checks the authorizer's
401/403 and the 403 of a tenant on no usage plan. ``ENGRAM_E2E_API_KEY`` uses
an existing key instead (then the key is neither created nor revoked); ``ENGRAM_E2E_API_URL`` overrides
the ``ApiUrl`` output (an emulator such as LocalStack serves the API at another address). Costs a few
LLM calls.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from engram_dev.client import EngramClient

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    stack_name = os.environ.get("ENGRAM_E2E_STACK")
    if not stack_name:
        pytest.fail("set ENGRAM_E2E_STACK (make e2e STACK=<stack name>) to run the e2e suite")
    import boto3

    [stack] = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    found = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if os.environ.get("ENGRAM_E2E_API_URL"):
        found["ApiUrl"] = os.environ["ENGRAM_E2E_API_URL"]
    return found


@pytest.fixture(scope="module")
def api_keys(outputs: dict[str, str]) -> Any:
    import boto3
    from engram.adapters.dynamodb.api_keys import DynamoApiKeys
    from engram.adapters.dynamodb.table import Table

    return DynamoApiKeys(Table(outputs["TableName"], boto3.session.Session().region_name or "us-east-1"))


@pytest.fixture(scope="module")
def api_key(outputs: dict[str, str], api_keys: Any) -> Iterator[str]:
    existing = os.environ.get("ENGRAM_E2E_API_KEY")
    if existing:
        yield existing
        return
    from engram.clock import SystemClock
    from engram.logic.auth import create_api_key, hash_key

    tenant = f"e2e-{uuid.uuid4().hex[:8]}"
    _put_on_default_plan(outputs, tenant)
    key = create_api_key(api_keys, SystemClock(), tenant, "e2e suite")
    yield key
    api_keys.revoke(hash_key(key))


def _put_on_default_plan(outputs: dict[str, str], tenant: str) -> None:
    import boto3
    from engram_dev.usage_plans import assign_tenant

    assign_tenant(boto3.client("apigateway"), outputs["DefaultUsagePlanId"], tenant, outputs["ApiId"])


@pytest.fixture(scope="module")
def client(outputs: dict[str, str], api_key: str) -> EngramClient:
    return EngramClient(outputs["ApiUrl"], api_key, timeout=60)


def test_generate_poll_retrieve_purge(client: EngramClient) -> None:
    scope = {"user_id": f"e2e-{uuid.uuid4().hex[:10]}"}
    messages = [
        {"role": "user", "content": "I live in Lisbon and I work as a nurse. I'm allergic to peanuts."},
        {"role": "assistant", "content": "Thanks, noted."},
    ]
    operation = client.generate(scope, messages=messages)
    assert operation["status"] in ("RUNNING", "SUCCEEDED")
    operation = client.wait(operation["id"], timeout=300, poll=2)
    assert operation["status"] == "SUCCEEDED", operation.get("error")
    generated = operation["result"]["generated_memories"]
    assert generated, "no memories generated"

    found = client.retrieve(scope, "Where does the user live?", top_k=5)["memories"]
    assert any("Lisbon" in hit["memory"]["fact"] for hit in found), found

    status, dry_run = client.request("POST", "/v1/memories/purge", {"scope": scope, "force": False})
    assert status == 200 and dry_run["purge_count"] >= len(generated)
    status, purged = client.request("POST", "/v1/memories/purge", {"scope": scope, "force": True})
    assert status == 200 and purged["purge_count"] == dry_run["purge_count"]
    deadline = time.monotonic() + 60
    while client.request("POST", "/v1/memories/retrieve", {"scope": scope})[1]["memories"]:
        assert time.monotonic() < deadline, "purged memories are still listed"
        time.sleep(2)


def test_missing_or_unknown_keys_get_401(outputs: dict[str, str]) -> None:
    for key in ("", "egm_not-a-real-key"):
        status, body = EngramClient(outputs["ApiUrl"], key).request("GET", "/v1/operations/x")
        assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED", (key, status, body)


def test_a_revoked_key_gets_403(outputs: dict[str, str], api_keys: Any) -> None:
    from engram.clock import SystemClock
    from engram.logic.auth import create_api_key, hash_key

    key = create_api_key(api_keys, SystemClock(), f"e2e-{uuid.uuid4().hex[:8]}", "e2e revoked")
    api_keys.revoke(hash_key(key))
    status, body = EngramClient(outputs["ApiUrl"], key).request("GET", "/v1/operations/x")
    assert status == 403 and body["error"]["code"] == "PERMISSION_DENIED", (status, body)


def test_a_tenant_on_no_usage_plan_gets_403(outputs: dict[str, str], api_keys: Any) -> None:
    from engram.clock import SystemClock
    from engram.logic.auth import create_api_key, hash_key

    key = create_api_key(api_keys, SystemClock(), f"e2e-{uuid.uuid4().hex[:8]}", "e2e no plan")
    try:
        status, body = EngramClient(outputs["ApiUrl"], key).request("GET", "/v1/config")
        assert status == 403 and body["error"]["code"] == "PERMISSION_DENIED", (status, body)
    finally:
        api_keys.revoke(hash_key(key))
