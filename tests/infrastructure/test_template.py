"""Assertions on template.yaml and the ASL it deploys (the local stack is built from the same files)."""

from __future__ import annotations

import json
import re

import pytest
from engram_dev.project import functions, load_template, project_root

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
STATE_MACHINE = RESOURCES["GenerateMemoriesStateMachine"]["Properties"]
ASL_TEXT = (project_root() / STATE_MACHINE["DefinitionUri"]).read_text()
ASL = json.loads(ASL_TEXT)


def test_every_asl_placeholder_has_a_substitution_and_vice_versa():
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL_TEXT))
    assert placeholders == set(STATE_MACHINE["DefinitionSubstitutions"])


@pytest.mark.parametrize("name", [n for n, s in ASL["States"].items() if s["Type"] == "Task"])
def test_every_task_uses_lambda_invoke_with_jittered_retry(name):
    state = ASL["States"][name]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke"
    assert state["Retry"], name
    assert all(r.get("JitterStrategy") == "FULL" for r in state["Retry"])
    transient = {"Lambda.ServiceException", "Lambda.TooManyRequestsException"}
    assert any(transient <= set(r["ErrorEquals"]) for r in state["Retry"])


@pytest.mark.parametrize("name", [n for n, s in ASL["States"].items() if s["Type"] == "Task" and n != "RecordFailure"])
def test_every_work_task_catches_into_record_failure(name):
    [catch] = ASL["States"][name]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "RecordFailure"
    assert catch["ResultPath"] == "$.error"


def test_retried_error_names_are_engram_exception_classes():
    import engram.errors as errors

    names = {n for s in ASL["States"].values() for r in s.get("Retry", []) for n in r["ErrorEquals"]}
    ours = {n for n in names if not n.startswith(("Lambda.", "States."))}
    assert ours and all(isinstance(getattr(errors, n, None), type) for n in ours), ours


def test_every_function_handler_file_exists_and_substitution_targets_are_functions():
    for logical_id, props in functions().items():
        module, _, _ = props["Handler"].rpartition(".")
        assert (project_root() / props["CodeUri"] / f"{module}.py").is_file(), logical_id
    for value in STATE_MACHINE["DefinitionSubstitutions"].values():
        target, attribute = value["Fn::GetAtt"]
        assert RESOURCES[target]["Type"] == "AWS::Serverless::Function" and attribute == "Arn"


def test_state_machine_logging_excludes_execution_data():
    assert STATE_MACHINE["Logging"]["IncludeExecutionData"] is False


def test_table_has_stream_ttl_pitr_and_encryption():
    table = RESOURCES["Table"]["Properties"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


@pytest.mark.parametrize(
    ("functions_", "route_groups"),
    [(("ApiFunction",), "v1"), (("Mem0Function",), "mem0"), (("ApiFunction", "Mem0Function"), "all")],
)
def test_api_routes_in_template_match_the_resolver_routes(functions_, route_groups):
    from engram.api.app import build

    # Given the Api events of the function(s) and the routes of the resolver it runs (ENGRAM_API_ROUTES)
    declared = set()
    events = [e for f in functions_ for e in functions()[f]["Events"].values()]  # (CORS: test_api_gateway.py)
    for event in events:
        if event["Type"] == "Api":
            path = re.sub(r"\{[^}]+\}", "{}", event["Properties"]["Path"])
            method = event["Properties"]["Method"].upper()
            # ANY (the mem0 routes Engram does not offer, engram.api.mem0.NOT_OFFERED): the resolver has each method
            for each in ("GET", "POST", "PUT", "PATCH", "DELETE") if method == "ANY" else (method,):
                declared.add((each, path))
    if route_groups != "all":
        assert functions()[functions_[0]]["Environment"]["Variables"]["ENGRAM_API_ROUTES"] == route_groups
    app = build(route_groups)
    resolver = set()
    for route in app._static_routes + app._dynamic_routes:  # Powertools' registered routes
        path = re.sub(r"<[^>]+>", "{}", route.path if isinstance(route.path, str) else route.path.pattern)
        resolver.add((route.method.upper(), path))
    # Then they are the same
    assert declared == resolver


@pytest.mark.parametrize("name", [n for n, s in ASL["States"].items() if s["Type"] == "Task"])
def test_every_task_has_retry_and_catch(name):
    state = ASL["States"][name]
    assert state.get("Retry") and state.get("Catch"), name
    assert all(c["Next"] in ASL["States"] for c in state["Catch"])
