"""The REST API's edge, on the CloudFormation SAM expands the template to: per-tenant usage plans (the
authorizer's ``usageIdentifierKey``), the token check API Gateway applies before the authorizer, the
gateway responses (an authorizer failure is a retryable 5xx, never a 401), and CORS, off by default."""

from __future__ import annotations

import json
import re

import pytest
from engram.errors import Unauthorized
from engram.logic.auth import TOKEN_VALIDATION_EXPRESSION, new_api_key, resolve_tenant
from engram_dev.project import functions, project_root

ORIGIN = "https://app.example.com"
#: The functions answering browsers' preflight OPTIONS (deployed with CorsAllowOrigin only).
PREFLIGHT_FUNCTIONS = ("CorsPreflightFunction", "Mem0CorsPreflightFunction")


def _api(stack) -> dict:
    [api] = stack.of_type("AWS::ApiGateway::RestApi").values()
    return api


def _methods(stack) -> dict[tuple[str, str], dict]:
    return {(verb, path): op for path, ops in _api(stack)["Body"]["paths"].items() for verb, op in ops.items()}


def _gateway_responses(stack) -> dict[str, dict]:
    return _api(stack)["Body"]["x-amazon-apigateway-gateway-responses"]


# --- per-tenant quotas ----------------------------------------------------------------------------


def test_each_tenant_is_held_to_its_own_usage_plan_whose_limits_are_parameters(stack):
    # Given the default deployment
    api = _api(stack)
    # Then API Gateway takes each request's usage-plan key from the authorizer, and every method needs one
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    assert all({"api_key": []} in op["security"] for op in _methods(stack).values())
    # And the default usage plan covers this API's stage with the tenant parameters
    [stage_name] = stack.of_type("AWS::ApiGateway::Stage")
    plan = stack.props("DefaultUsagePlan")
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": stage_name}}]
    assert plan["Throttle"] == {
        "RateLimit": {"Ref": "TenantThrottleRateLimit"},
        "BurstLimit": {"Ref": "TenantThrottleBurstLimit"},
    }
    assert plan["Quota"] == {"Limit": {"Ref": "TenantQuotaLimit"}, "Period": {"Ref": "TenantQuotaPeriod"}}
    # And `engram keys` finds the API and the plan in the outputs
    outputs = stack.template["Outputs"]
    assert outputs["ApiId"]["Value"] == {"Ref": "Api"}
    assert outputs["DefaultUsagePlanId"]["Value"] == {"Ref": "DefaultUsagePlan"}
    # And a tenant over its limits or quota gets the API's error body with 429
    for kind in ("THROTTLED", "QUOTA_EXCEEDED"):
        response = _gateway_responses(stack)[kind]
        assert response["statusCode"] == "429"
        assert json.loads(response["responseTemplates"]["application/json"])["error"]["code"] == "RESOURCE_EXHAUSTED"


def test_a_quota_of_zero_means_no_quota(stack_for):
    plan = stack_for(TenantQuotaLimit="0").props("DefaultUsagePlan")
    assert "Quota" not in plan and plan["Throttle"]


# --- the token check and the authorizer's failures --------------------------------------------------


def test_the_token_check_is_the_one_engram_documents_and_accepts_every_key_engram_makes(stack):
    [scheme] = [
        s
        for s in _api(stack)["Body"]["components"]["securitySchemes"].values()
        if "x-amazon-apigateway-authorizer" in s
    ]
    expression = scheme["x-amazon-apigateway-authorizer"]["identityValidationExpression"]
    assert expression == TOKEN_VALIDATION_EXPRESSION
    check = re.compile(expression)
    # Given headers API Gateway lets through to the authorizer
    sample = json.loads((project_root() / "events/authorizer_token.json").read_text())
    passed = [f"Bearer {new_api_key()}" for _ in range(200)] + [
        sample["authorizationToken"],
        f"bearer {new_api_key()}",
        "BEARER egm_" + "a" * 124,
        f"Token {new_api_key()}",  # mem0's scheme (its policy then allows /mem0 only)
        f"token {new_api_key()}",
    ]
    for header in passed:
        assert check.fullmatch(header), header
        # Then the authorizer reads a key from each (an unknown one, here: 401 for that reason only)
        with pytest.raises(Unauthorized, match="unknown API key"):
            resolve_tenant(_NoKeys(), header)
    # And malformed headers never reach it (API Gateway answers 401 itself)
    key = "egm_" + "a" * 16
    malformed = ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", key, f"Bearer  {key}", f"Tokens {key}", f"Token  {key}"]
    malformed += ["Bearer egm_short", "Bearer egm_" + "a" * 125, f"Bearer {key}#x", f"Bearer {key} x"]
    for header in malformed:
        assert not check.fullmatch(header), header


class _NoKeys:
    def get(self, key_hash: str) -> None:
        return None


def test_an_authorizer_failure_is_a_retryable_5xx_not_an_unknown_key(stack):
    responses = _gateway_responses(stack)
    # Given the answers API Gateway gives when the authorizer function fails (e.g. the table throttles)
    for kind in ("AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"):
        response = responses[kind]
        # Then they are 5xx with the API's error body, saying to retry
        assert response["statusCode"].startswith("5"), kind
        body = json.loads(response["responseTemplates"]["application/json"])
        assert body["error"]["code"] == "UNAVAILABLE" and "retry" in body["error"]["message"]
    assert responses["UNAUTHORIZED"]["statusCode"] == "401"
    assert responses["INVALID_API_KEY"]["statusCode"] == "403"


def test_every_gateway_response_body_is_json_once_api_gateway_fills_it(stack):
    # $context.error.messageString is already a quoted JSON string; wrapping it in quotes again is invalid
    for kind, response in _gateway_responses(stack).items():
        text = response["responseTemplates"]["application/json"].replace("$context.error.messageString", '"x"')
        assert json.loads(text)["error"]["code"], kind


# --- CORS -----------------------------------------------------------------------------------------------


def test_cors_is_off_by_default(stack):
    # Given the default deployment (CorsAllowOrigin empty)
    # Then no resource has an OPTIONS method, there is no preflight function, and no CORS header anywhere
    assert not [key for key in _methods(stack) if key[0] == "options"]
    assert "CorsPreflightFunction" not in stack.resources
    assert "ENGRAM_CORS_ALLOW_ORIGIN" not in stack.props("ApiFunction")["Environment"]["Variables"]
    for kind, response in _gateway_responses(stack).items():
        assert not response.get("responseParameters"), kind


def test_cors_on_answers_preflights_without_credentials_and_marks_every_answer(stack_for):
    # Given an allowed origin
    stack = stack_for(CorsAllowOrigin=ORIGIN)
    methods = _methods(stack)
    paths = {path for _, path in methods}
    # Then every resource has an OPTIONS method, served by the preflight function without the authorizer
    # or a usage-plan key (a browser's preflight carries neither)
    for path in paths:
        preflight = methods.get(("options", path))
        assert preflight, f"{path}: add an OPTIONS event for it to CorsPreflightFunction in template.yaml"
        assert preflight["security"] == [], path
        uri = preflight["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert any(f"{function}.Arn" in uri for function in PREFLIGHT_FUNCTIONS), path
    # And the API function and the preflight function get the origin; API Gateway's own answers carry it
    for function in ("ApiFunction", "Mem0Function", *PREFLIGHT_FUNCTIONS):
        variables = stack.props(function)["Environment"]["Variables"]
        assert variables["ENGRAM_CORS_ALLOW_ORIGIN"] == {"Ref": "CorsAllowOrigin"}, function
    for kind, response in _gateway_responses(stack).items():
        header = response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
        assert header == {"Fn::Sub": "'${CorsAllowOrigin}'"}, kind
    # And the preflight functions may do nothing but log
    for function in PREFLIGHT_FUNCTIONS:
        role = stack.role_of(function)
        assert not stack.actions(role) and not stack.props(role).get("Policies")


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("", True),
        ("*", True),
        (ORIGIN, True),
        ("http://localhost:3000", True),
        ("https://app.example.com/", False),
        ("https://a.example.com,https://b.example.com", False),
        ("https://x.example.com'; x='", False),  # would break out of the quoted header value
    ],
)
def test_the_origin_parameter_takes_one_origin_or_star(stack, origin, accepted):
    pattern = stack.template["Parameters"]["CorsAllowOrigin"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, origin)) is accepted


def _api_events(function: str) -> list[dict]:
    return [e for e in (functions()[function].get("Events") or {}).values() if e["Type"] == "Api"]


def test_only_the_api_functions_and_the_preflight_functions_serve_routes():
    serving = {name for name in functions() if _api_events(name)}
    assert serving == {"ApiFunction", "Mem0Function", *PREFLIGHT_FUNCTIONS}
    # Engram's routes on one function, the mem0-compatible surface on the other (same code)
    assert all(e["Properties"]["Path"].startswith("/v1/") for e in _api_events("ApiFunction"))
    assert all(e["Properties"]["Path"].startswith("/mem0/") for e in _api_events("Mem0Function"))
    assert functions()["Mem0Function"]["CodeUri"] == functions()["ApiFunction"]["CodeUri"]
    preflights = {e["Properties"]["Path"] for f in PREFLIGHT_FUNCTIONS for e in _api_events(f)}
    routes = {e["Properties"]["Path"] for f in ("ApiFunction", "Mem0Function") for e in _api_events(f)}
    assert preflights == routes, "every route's path needs an OPTIONS event on a preflight function"
    assert {e["Properties"]["Method"] for f in PREFLIGHT_FUNCTIONS for e in _api_events(f)} == {"options"}


#: Lambda's limit on a function's resource policy (bytes); SAM adds one statement per ``Api`` event.
RESOURCE_POLICY_LIMIT = 20_480


@pytest.mark.parametrize("function", ["ApiFunction", "Mem0Function", *PREFLIGHT_FUNCTIONS])
def test_each_functions_resource_policy_stays_under_lambdas_limit(function):
    # Given the statement SAM's permission for each Api event adds to the function's resource policy, with
    # a 32-character stack name and the longest region name (both appear in the statement's id and ARNs)
    stack, region = "engram-production-eu-west-1-abcd", "ap-southeast-2"
    size = 0
    for name, event in ((n, e) for n, e in (functions()[function].get("Events") or {}).items() if e["Type"] == "Api"):
        method = event["Properties"]["Method"].upper().replace("ANY", "*")
        statement = {
            "Sid": f"{stack}-{function}{name}PermissionProd-ABCDEFGHIJKL"[:100],
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": f"arn:aws:lambda:{region}:123456789012:function:{f'{stack}-{function}-ABCDEFGHIJKL'[:64]}",
            "Condition": {
                "ArnLike": {
                    "AWS:SourceArn": f"arn:aws:execute-api:{region}:123456789012:abcdefghij/*/{method}"
                    + event["Properties"]["Path"]
                }
            },
        }
        size += len(json.dumps(statement, separators=(",", ":"))) + 1
    # Then the policy keeps a fifth of the limit spare for routes to come
    assert size < 0.8 * RESOURCE_POLICY_LIMIT, f"{function}: {size} bytes; move routes to another function"
