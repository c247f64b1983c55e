"""The handlers invoked with the sample events in events/ (the same files `sam local invoke -e` uses)."""

from __future__ import annotations

import json
import uuid

import pytest
from engram import wiring
from engram.errors import IndexUnavailable
from engram.logic.auth import create_api_key, usage_identifier_key
from engram_dev.lambda_runtime import FunctionError
from engram_dev.project import project_root


def _event(name: str) -> dict:
    return json.loads((project_root() / "events" / name).read_text())


def test_index_sync_upserts_memory_items_skips_others_and_deletes_on_remove(local_stack):
    event = _event("index_sync_stream.json")
    insert_only = {"Records": event["Records"][:2]}
    # When the INSERT of a memory (and of an operation item) arrives
    result = local_stack.runtime.invoke("IndexSyncFunction", insert_only)
    # Then the memory is in the index at its revision, and nothing failed
    assert result == {"batchItemFailures": []}
    assert wiring.dependencies().index.revisions("dev", ["0199a0c0d0e0f00000000001"]) == {
        "0199a0c0d0e0f00000000001": "0199a0c0d0e0f00000000002"
    }
    # When its REMOVE arrives, it leaves the index
    result = local_stack.runtime.invoke("IndexSyncFunction", {"Records": event["Records"][2:]})
    assert result == {"batchItemFailures": []}
    assert wiring.dependencies().index.revisions("dev", ["0199a0c0d0e0f00000000001"]) == {}


def test_index_sync_reports_only_the_failed_record(local_stack, monkeypatch):
    class DownIndex:
        def upsert(self, documents):
            raise IndexUnavailable("scripted: index down")

        def delete(self, tenant_id, memory_ids):
            return None

    monkeypatch.setattr(wiring.dependencies(), "index", DownIndex())
    # Given the INSERT of a memory (100) and of an operation item (200), while the index is down
    event = _event("index_sync_stream.json")
    result = local_stack.runtime.invoke("IndexSyncFunction", {"Records": event["Records"][:2]})
    # Then only the memory's record failed
    assert result == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    # Given the whole sample (that memory is then removed): its last change, the delete, succeeds
    assert local_stack.runtime.invoke("IndexSyncFunction", event) == {"batchItemFailures": []}


def test_authorizer_allows_a_known_key_with_its_tenant_and_rejects_others(local_stack):
    event = _event("authorizer_token.json")
    deps = wiring.dependencies()
    create_api_key(deps.api_keys, deps.clock, "tenant-sample", "sample", event["authorizationToken"].split()[1])
    policy = local_stack.runtime.invoke("AuthorizerFunction", event)
    assert policy["principalId"] == "tenant-sample"
    assert policy["context"] == {"tenant_id": "tenant-sample"}
    # the tenant's own usage-plan key on this API (its throttle and quota)
    assert policy["usageIdentifierKey"] == usage_identifier_key("abcdef1234", "tenant-sample")
    [statement] = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*"]
    with pytest.raises(FunctionError) as error:
        local_stack.runtime.invoke("AuthorizerFunction", {**event, "authorizationToken": "Bearer egm_unknown"})
    assert error.value.message == "Unauthorized"


def test_a_step_with_an_unknown_operation_fails_with_a_typed_error(local_stack):
    with pytest.raises(FunctionError) as error:
        local_stack.runtime.invoke("LoadSourceFunction", _event("step_input.json"))
    assert error.value.error_type == "NotFound"


def test_the_authorizer_answers_a_throttled_table_with_an_error_not_unauthorized(local_stack, monkeypatch):
    """A DynamoDB throttle (or outage) while reading the key must reach API Gateway as a function error
    (its AUTHORIZER_FAILURE: 5xx, retry), never as "Unauthorized" (401: the client would drop a good key)."""
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import GetError

    class ThrottledKeys:
        def get(self, key_hash: str) -> None:
            throttled = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise GetError("Failed to get item", cause=ClientError(throttled, "GetItem"))

    # Given a table that throttles every read
    monkeypatch.setattr(wiring.dependencies(), "api_keys", ThrottledKeys())
    # When a well-formed key is checked
    with pytest.raises(FunctionError) as error:
        local_stack.runtime.invoke("AuthorizerFunction", _event("authorizer_token.json"))
    # Then the function fails with the storage error itself
    assert error.value.error_type == "GetError" and error.value.message != "Unauthorized"


# --- one proxy event per route (events/api/), run through the API function ----------------------------

#: The example ids in events/api/*.json, replaced by real ones as the scenario creates them.
EXAMPLE_IDS = {
    "memory": "0199a0c0d0e0f00000000001",
    "revision": "0199a0c0d0e0f00000000002",
    "operation": "0199a0c0d0e0f00000000003",
    "receipt": "0199a0c0d0e0f00000000004",
}
#: Every sample, in an order where each finds what it needs, with the statuses it may answer.
SCENARIO = [
    ("put_config", {200}),
    ("get_config", {200}),
    ("create_memory", {201}),
    ("batch_create_memories", {201}),
    ("get_memory", {200}),
    ("update_memory", {200}),
    ("list_memory_revisions", {200}),
    ("rollback_memory", {200}),
    ("retrieve_memories", {200}),
    ("count_memories", {200}),
    ("archive_memories", {200}),
    ("compress_memories", {202}),
    ("get_stats", {200}),
    ("purge_memories", {200}),
    ("delete_memory", {204}),
    ("append_session_events", {201}),
    ("list_session_events", {200}),
    ("truncate_session", {200}),
    ("delete_session", {204}),
    ("generate_memories", {200, 202}),
    ("get_operation", {200}),
    ("forget_scope", {200, 202}),
    ("get_forget_receipt", {200}),
]


def _api_samples() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted((project_root() / "events/api").glob("*.json"))}


def test_every_route_of_the_template_has_a_sample_event():
    from engram_dev.project import functions

    # Engram's own API (the /v1 routes; the mem0-compatible surface under /mem0 has its own tests)
    routes = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for e in functions()["ApiFunction"]["Events"].values()
        if e["Type"] == "Api" and e["Properties"]["Path"].startswith("/v1/")
    }
    samples = {(event["httpMethod"], event["resource"]) for event in _api_samples().values()}
    assert routes <= samples, f"add events/api/<operation>.json for {sorted(routes - samples)}"
    assert set(_api_samples()) == {name for name, _ in SCENARIO}


def test_each_sample_event_runs_through_the_api_handler(local_stack):
    # Given the samples, for a fresh tenant, with the example ids replaced by those the scenario creates
    tenant = f"sample-{uuid.uuid4().hex[:8]}"
    ids = dict(EXAMPLE_IDS)
    samples = _api_samples()
    for name, statuses in SCENARIO:
        text = json.dumps(samples[name])
        for kind, example in EXAMPLE_IDS.items():
            text = text.replace(example, ids[kind])
        event = json.loads(text)
        assert event["requestContext"]["authorizer"]["tenant_id"] == "tenant-sample", name
        event["requestContext"]["authorizer"] = {"principalId": tenant, "tenant_id": tenant}
        # When it is handled by the API function, as API Gateway would invoke it
        response = local_stack.runtime.invoke("ApiFunction", event)
        # Then it answers with the route's success status
        assert response["statusCode"] in statuses, (name, response["statusCode"], response.get("body"))
        body = json.loads(response["body"]) if response.get("body") else {}
        if name == "create_memory":
            ids["memory"] = body["id"]
        elif name == "list_memory_revisions":
            ids["revision"] = body["revisions"][-1]["id"]  # the oldest: as created
        elif name == "generate_memories":
            ids["operation"] = body["id"]
        elif name == "forget_scope":
            ids["receipt"] = body["receipt_id"]


@pytest.fixture
def cors_origin(monkeypatch):
    """The stack deployed with ``CorsAllowOrigin`` set (its functions' ``ENGRAM_CORS_ALLOW_ORIGIN``)."""
    from engram.settings import get_settings

    monkeypatch.setenv("ENGRAM_CORS_ALLOW_ORIGIN", "https://app.example.com")
    get_settings.cache_clear()
    yield "https://app.example.com"
    monkeypatch.delenv("ENGRAM_CORS_ALLOW_ORIGIN")
    get_settings.cache_clear()


def _header(response: dict, name: str) -> str | None:
    multi = response.get("multiValueHeaders") or {}
    return (response.get("headers") or {}).get(name) or (multi.get(name) or [None])[-1]


def test_with_cors_every_api_answer_carries_the_origin_and_preflights_are_answered(local_stack, cors_origin):
    # Given a stack with an allowed origin
    tenant = {"principalId": "tenant-cors", "tenant_id": "tenant-cors"}
    ok = _api_samples()["get_config"]
    missing = _api_samples()["get_memory"]
    for event in (ok, missing):
        event["requestContext"]["authorizer"] = tenant
    # When the API answers, with success or an error, Then the answer names the origin
    for event, status in ((ok, 200), (missing, 404)):
        response = local_stack.runtime.invoke("ApiFunction", event)
        assert response["statusCode"] == status
        assert _header(response, "Access-Control-Allow-Origin") == cors_origin
    # And a browser's preflight (no credentials) is answered by the preflight function
    preflight = {**ok, "httpMethod": "OPTIONS", "headers": {"Origin": cors_origin}, "multiValueHeaders": {}}
    response = local_stack.runtime.invoke("CorsPreflightFunction", preflight)
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == cors_origin
    assert "Authorization" in response["headers"]["Access-Control-Allow-Headers"]


def test_without_cors_no_answer_carries_a_cors_header(local_stack):
    event = _api_samples()["get_config"]
    event["requestContext"]["authorizer"] = {"principalId": "tenant-cors", "tenant_id": "tenant-cors"}
    response = local_stack.runtime.invoke("ApiFunction", event)
    assert response["statusCode"] == 200 and _header(response, "Access-Control-Allow-Origin") is None


def test_the_readme_in_process_snippet_runs_as_printed(tmp_path):
    """The README's "SAM CLI" section shows how to call a handler in-process; run it as a user would, in a
    fresh interpreter (a local stack of its own) with none of the test environment."""
    import os
    import re
    import subprocess
    import sys

    readme = (project_root() / "README.md").read_text()
    section = readme.split("\n## SAM CLI\n", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ENGRAM_", "MOTO_", "POWERTOOLS_"))}
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "201 The user likes tea."
