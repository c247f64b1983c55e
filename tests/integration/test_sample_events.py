"""The handlers invoked with the sample events in events/ (the same files `sam local invoke -e` uses)."""

from __future__ import annotations

import json

import pytest
from engram import wiring
from engram.errors import IndexUnavailable
from engram.logic.auth import create_api_key
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
    result = local_stack.runtime.invoke("IndexSyncFunction", _event("index_sync_stream.json"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "100"}]}


def test_authorizer_allows_a_known_key_with_its_tenant_and_rejects_others(local_stack):
    event = _event("authorizer_token.json")
    deps = wiring.dependencies()
    create_api_key(deps.api_keys, deps.clock, "tenant-sample", "sample", event["authorizationToken"].split()[1])
    policy = local_stack.runtime.invoke("AuthorizerFunction", event)
    assert policy["principalId"] == "tenant-sample"
    assert policy["context"] == {"tenant_id": "tenant-sample"}
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
