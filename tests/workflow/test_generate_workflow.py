"""Retry and Catch paths of GenerateMemories, and the execution history the emulator records."""

from __future__ import annotations

import boto3
from engram.errors import ConfigurationError, LLMUnavailable

MESSAGES = [{"role": "user", "content": "I live in Lisbon."}]


def _history(local_stack, operation_id: str) -> list[dict]:
    sfn = boto3.client("stepfunctions", endpoint_url=local_stack.emulator.endpoint_url, region_name="us-east-1")
    arn = local_stack.resources.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{operation_id}"
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def test_states_run_in_order_and_the_operation_succeeds(api, scope, local_stack):
    operation = api.generate(scope, messages=MESSAGES)
    operation = api.wait(operation["id"], timeout=60)
    assert operation["status"] == "SUCCEEDED"
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in _history(local_stack, operation["id"])
        if e["type"] == "TaskStateEntered"
    ]
    assert entered == ["LoadSource", "Extract", "Consolidate", "Finalize"]


def test_a_transient_llm_error_is_retried_and_the_operation_succeeds(api, scope, inject):
    # Given an Extract step whose first attempt fails with a retryable LLM error
    attempts: list[str] = []

    def flaky_extract(function: str, event: dict) -> None:
        if function == "ExtractFunction" and event.get("operation_id") == state["operation_id"]:
            attempts.append(function)
            if len(attempts) == 1:
                raise LLMUnavailable("scripted: provider returned 503")

    state: dict[str, str] = {"operation_id": ""}
    inject(flaky_extract)
    # When generating
    operation = api.generate(scope, messages=MESSAGES)
    state["operation_id"] = operation["id"]
    operation = api.wait(operation["id"], timeout=60)
    # Then the ASL Retry ran Extract again and the operation succeeded, with its memory
    assert operation["status"] == "SUCCEEDED", operation
    assert len(attempts) == 2
    assert [g["memory"]["fact"] for g in operation["result"]["generated_memories"]] == ["The user lives in Lisbon."]
    assert operation["usage"]["llm_calls"] == 1


def test_a_non_retryable_error_is_caught_and_recorded_on_the_operation(api, scope, inject, local_stack):
    # Given a Consolidate step that fails with a configuration error (not retried)
    def broken_consolidate(function: str, event: dict) -> None:
        if function == "ConsolidateFunction":
            raise ConfigurationError("scripted: the embedding model does not exist")

    inject(broken_consolidate)
    # When generating
    operation = api.generate(scope, messages=MESSAGES)
    operation = api.wait(operation["id"], timeout=60)
    # Then the Catch recorded the error on the operation, which is FAILED, and nothing was stored; the tenant
    # reads the error's code and a generic text (the detail, which may quote a provider, is for the log)
    assert operation["status"] == "FAILED"
    assert operation["error"] == {"code": "ConfigurationError", "message": ConfigurationError.public_text}
    assert api.retrieve(scope)["memories"] == []
    states = [
        e["stateEnteredEventDetails"]["name"]
        for e in _history(local_stack, operation["id"])
        if e["type"] == "TaskStateEntered"
    ]
    assert states == ["LoadSource", "Extract", "Consolidate", "RecordFailure"]
