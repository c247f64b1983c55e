"""Least privilege and the deployable shape, asserted on the CloudFormation the SAM template expands to
(the same expansion `sam deploy` performs): one role per function, only the actions each uses, no
wildcard actions, ``Resource: "*"`` only where AWS offers no resource-level permission, log retention
everywhere, the API locked down, alarms and outputs in place."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from engram.adapters.dynamodb.items import ApiKeyItem, tenant_pk
from engram.logic.auth import hash_key
from engram_dev.project import project_root

#: AWS managed policies a function role may carry (logging, tracing, reading the stream).
AWS_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}
#: SAM attaches it to a function that declares ``VpcConfig`` (even one whose ``Fn::If`` resolves to no VPC):
#: network interfaces only. Only the functions that call OpenSearch may run in the VPC.
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
OPENSEARCH_FUNCTIONS = {
    "ApiFunction",
    "Mem0Function",
    "ConsolidateFunction",
    "FinalizeFunction",
    "IndexSyncFunction",
    "ReindexFunction",
    "IndexSetupFunction",
}

FUNCTIONS = [
    "ApiFunction",
    "Mem0Function",
    "AuthorizerFunction",
    "LoadSourceFunction",
    "ExtractFunction",
    "ConsolidateFunction",
    "CompressFunction",
    "FinalizeFunction",
    "RecordFailureFunction",
    "RetentionFunction",
    "IndexSyncFunction",
    "IndexSetupFunction",
    "ReindexFunction",
]
#: CloudWatch Logs delivery APIs (state machine logging) have no resource-level permissions.
STAR_RESOURCE_ALLOWED = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
MODES = [
    {},
    {"OpenSearchMode": "domain"},
    {"OpenSearchMode": "existing", "OpenSearchService": "es", "OpenSearchEndpoint": "https://search-x.example"},
    {"OpenSearchMode": "existing", "OpenSearchService": "aoss", "OpenSearchCollectionId": "abc123"},
    {"LlmProvider": "offline"},
]


def test_every_function_is_declared_and_has_a_role_of_its_own(stack):
    functions = stack.of_type("AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    roles = [stack.role_of(name) for name in functions]
    assert len(set(roles)) == len(roles), roles


@pytest.mark.parametrize("params", MODES, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "defaults")
def test_no_wildcard_action_and_star_resources_only_where_unavoidable(stack_for, params):
    stack = stack_for(**params)
    documents = [
        (name, document)
        for name, props in stack.of_type("AWS::IAM::Role").items()
        for document in [p["PolicyDocument"] for p in props.get("Policies", [])]
    ]
    documents += [(name, p["PolicyDocument"]) for name, p in stack.of_type("AWS::IAM::ManagedPolicy").items()]
    documents += [(name, p["AccessPolicies"]) for name, p in stack.of_type("AWS::OpenSearchService::Domain").items()]
    documents += [(name, p["PolicyDocument"]) for name, p in stack.of_type("AWS::SQS::QueuePolicy").items()]
    assert len(documents) > 10
    for name, document in documents:
        for statement in as_list(document["Statement"]):
            actions = as_list(statement["Action"])
            assert not [a for a in actions if "*" in a], (name, actions)
            if "*" in as_list(statement["Resource"]) and statement["Effect"] == "Allow":
                assert set(actions) <= STAR_RESOURCE_ALLOWED, (name, actions)
    for function in stack.of_type("AWS::Lambda::Function"):
        allowed = AWS_MANAGED | ({VPC_ACCESS} if function in OPENSEARCH_FUNCTIONS else set())
        assert stack.aws_managed(stack.role_of(function)) <= allowed, function


def test_the_authorizer_can_only_read_api_key_items(stack):
    role = stack.role_of("AuthorizerFunction")
    assert stack.actions(role) == {"dynamodb:GetItem"}
    [statement] = list(stack.statements(role))
    assert statement["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}
    # Given the partition keys the authorizer may read (IAM's StringLike: * is any run of characters)
    [(operator, condition)] = statement["Condition"].items()
    assert operator == "ForAllValues:StringLike"
    [(key, patterns)] = condition.items()
    assert key == "dynamodb:LeadingKeys"
    allowed = [re.compile(re.escape(p).replace(r"\*", ".*") + "$") for p in as_list(patterns)]
    # Then an API key item's partition key is one of them, and no tenant's partition is
    api_key_pk, _ = ApiKeyItem.key(hash_key("egm_any-key-at-all"))
    assert any(a.match(api_key_pk) for a in allowed)
    for tenant_partition in (tenant_pk("acme"), tenant_pk("acme", "M", "m1"), tenant_pk("K", "x")):
        assert not any(a.match(tenant_partition) for a in allowed), tenant_partition
    assert stack.aws_managed(role) == {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }


def test_no_function_can_delete_or_reshape_the_table(stack):
    forbidden = {
        "dynamodb:DeleteTable",
        "dynamodb:CreateTable",
        "dynamodb:UpdateTable",
        "dynamodb:RestoreTableFromBackup",
    }
    for function in FUNCTIONS:
        assert not stack.actions(stack.role_of(function)) & forbidden, function
    assert stack.template["Resources"]["Table"]["DeletionPolicy"] == "Retain"


def test_index_sync_reads_the_stream_but_never_the_table(stack):
    role = stack.role_of("IndexSyncFunction")
    assert not {a for a in stack.actions(role) if a.startswith("dynamodb:")}
    assert "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole" in stack.aws_managed(role)


@pytest.mark.parametrize("provider", ["openai", "offline"])
def test_only_the_functions_that_call_openai_can_read_its_secret(stack_for, provider):
    stack = stack_for(LlmProvider=provider)
    readers = _secret_readers(stack, "OpenAIApiKeySecret")
    with_env = {f for f in FUNCTIONS if "ENGRAM_OPENAI_SECRET_ARN" in _env(stack, f)}
    expected = (
        {
            "ApiFunction",
            "Mem0Function",
            "LoadSourceFunction",
            "ExtractFunction",
            "ConsolidateFunction",
            "CompressFunction",
        }
        if provider == "openai"
        else set()
    )
    assert readers == with_env == expected
    assert ("OpenAIApiKeySecret" in stack.resources) is (provider == "openai")


def _secret_readers(stack, secret: str) -> set[str]:
    """The functions whose role may call ``GetSecretValue`` on a resource naming ``secret``."""
    return {
        function
        for function in FUNCTIONS
        for statement in stack.statements(stack.role_of(function))
        if statement["Effect"] == "Allow"
        and "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        and secret in json.dumps(statement.get("Resource"))
    }


@pytest.mark.parametrize("provider", ["openai", "offline"])
def test_the_stack_generates_the_page_token_key_and_only_the_api_function_reads_it(stack_for, provider):
    # Given the stack, with or without OpenAI
    stack = stack_for(LlmProvider=provider)
    # Then its page-token key is a generated secret, which only the API functions may read and are told of
    secret = stack.template["Resources"]["PageTokenSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert _secret_readers(stack, "PageTokenSecret") == {"ApiFunction", "Mem0Function"}
    assert {f for f in FUNCTIONS if "ENGRAM_PAGE_TOKEN_SECRET_ARN" in _env(stack, f)} == {"ApiFunction", "Mem0Function"}
    # And every function that may read any secret reads only named ones
    for function in FUNCTIONS:
        for statement in stack.statements(stack.role_of(function)):
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
                assert statement.get("Resource") not in ("*", ["*"]), function


def test_no_environment_variable_holds_an_api_key(stack):
    for function in FUNCTIONS:
        names = set(_env(stack, function))
        assert not {n for n in names if re.search(r"API_KEY$|OPENAI_KEY|SECRET$", n)}, (function, names)


def test_serverless_collection_is_encrypted_and_names_each_role_with_its_own_permissions(stack):
    assert {"OpenSearchCollection", "OpenSearchEncryptionPolicy", "OpenSearchNetworkPolicy"} <= set(stack.resources)
    assert "OpenSearchDomain" not in stack.resources
    assert stack.props("OpenSearchCollection")["Type"] == "VECTORSEARCH"
    encryption = stack.props("OpenSearchEncryptionPolicy")
    assert encryption["Type"] == "encryption" and '"AWSOwnedKey":true' in encryption["Policy"]["Fn::Sub"]
    text, roles = stack.props("OpenSearchDataAccessPolicy")["Policy"]["Fn::Sub"]
    rules = json.loads(text)
    permissions = {tuple(sorted(rule["Principal"])): set(rule["Rules"][0]["Permission"]) for rule in rules}
    assert permissions == {
        ("${Api}", "${Consolidate}", "${Finalize}", "${Mem0}"): {"aoss:DescribeIndex", "aoss:ReadDocument"},
        ("${IndexSync}", "${Reindex}"): {"aoss:DescribeIndex", "aoss:ReadDocument", "aoss:WriteDocument"},
        ("${IndexSetup}",): {"aoss:CreateIndex", "aoss:DescribeIndex", "aoss:UpdateIndex"},
    }
    assert roles["Api"] == {"Fn::GetAtt": ["ApiFunctionRole", "Arn"]}
    for function in ("ApiFunction", "ConsolidateFunction", "FinalizeFunction", "IndexSyncFunction"):
        assert _env(stack, function)["ENGRAM_OPENSEARCH_SERVICE"] == "aoss"
        statements = [
            s for s in stack.statements(stack.role_of(function)) if "aoss:APIAccessAll" in as_list(s["Action"])
        ]
        assert statements and all(s["Resource"] == {"Fn::GetAtt": ["OpenSearchCollection", "Arn"]} for s in statements)


def _network_rules(stack) -> list[dict]:
    return json.loads(stack.props("OpenSearchNetworkPolicy")["Policy"]["Fn::Sub"])


def test_the_collection_is_private_by_default_reachable_only_through_the_given_vpc_endpoint(stack_for):
    # Given the default deployment (a Serverless collection, OpenSearchPublicAccess false) with its VPC
    stack = stack_for(
        OpenSearchVpcEndpointId="vpce-0abc", VpcSubnetIds="subnet-01,subnet-02", VpcSecurityGroupIds="sg-01"
    )
    # Then the network policy admits only that VPC endpoint
    [rule] = _network_rules(stack)
    assert rule["AllowFromPublic"] is False and rule["SourceVPCEs"] == ["${OpenSearchVpcEndpointId}"]
    # And the functions that call OpenSearch run in the VPC, the others do not
    in_vpc = {f for f in FUNCTIONS if stack.props(f).get("VpcConfig")}
    assert in_vpc == OPENSEARCH_FUNCTIONS
    assert stack.props("ApiFunction")["VpcConfig"] == {
        "SubnetIds": {"Ref": "VpcSubnetIds"},
        "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"},
    }
    assert not {f for f in FUNCTIONS if VPC_ACCESS in stack.aws_managed(stack.role_of(f))} - OPENSEARCH_FUNCTIONS
    # And a deployment that leaves the endpoint, the subnets or the security groups out is refused before
    # anything is created
    [assertion] = stack.template["Rules"]["PrivateCollectionIsReachable"]["Assertions"]
    checked = json.dumps(assertion["Assert"])
    assert all(name in checked for name in ("OpenSearchVpcEndpointId", "VpcSubnetIds", "VpcSecurityGroupIds"))
    rule_condition = stack.template["Rules"]["PrivateCollectionIsReachable"]["RuleCondition"]
    assert stack._eval(rule_condition) is True
    assert stack_for(OpenSearchPublicAccess="true")._eval(rule_condition) is False


def test_a_public_collection_needs_the_parameter_and_then_no_vpc(stack_for):
    # Given OpenSearchPublicAccess true
    stack = stack_for(OpenSearchPublicAccess="true")
    # Then the collection's endpoint is public (still SigV4 and the data access policy) and no function is in a VPC
    [rule] = _network_rules(stack)
    assert rule["AllowFromPublic"] is True and "SourceVPCEs" not in rule
    assert not [f for f in FUNCTIONS if stack.props(f).get("VpcConfig")]


@pytest.mark.parametrize("policy", ["OpenSearchReadPolicy", "OpenSearchWritePolicy"])
def test_every_role_with_index_access_is_named_by_the_collection_domain_and_role_mapping(stack_for, policy):
    """A function given an OpenSearch policy must also be named where OpenSearch itself authorizes it:
    the collection's data access policy, the domain's access policy and the fine-grained role mapping."""
    stack = stack_for(OpenSearchMode="domain")
    roles = {
        stack.role_of(f) for f in FUNCTIONS if {"Ref": policy} in stack.props(stack.role_of(f))["ManagedPolicyArns"]
    }
    assert roles
    named = {
        p["Fn::GetAtt"][0]
        for p in stack.props("OpenSearchDomain")["AccessPolicies"]["Statement"][0]["Principal"]["AWS"]
    }
    assert roles <= named
    setup = stack.props("IndexSetup")
    mapped = setup["ReaderRoleArns"] if policy == "OpenSearchReadPolicy" else setup["WriterRoleArns"]
    assert roles == {r["Fn::GetAtt"][0] for r in mapped}
    _, variables = stack_for().props("OpenSearchDataAccessPolicy")["Policy"]["Fn::Sub"]
    assert roles <= {v["Fn::GetAtt"][0] for v in variables.values()}


def test_managed_domain_is_encrypted_https_only_with_fine_grained_access(stack_for):
    stack = stack_for(OpenSearchMode="domain")
    assert "OpenSearchCollection" not in stack.resources
    domain = stack.props("OpenSearchDomain")
    assert domain["EncryptionAtRestOptions"] == {"Enabled": True}
    assert domain["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    security = domain["AdvancedSecurityOptions"]
    assert security["Enabled"] is True and security["InternalUserDatabaseEnabled"] is False
    assert security["MasterUserOptions"]["MasterUserARN"] == {"Fn::GetAtt": ["IndexSetupFunctionRole", "Arn"]}
    assert stack.props("IndexSetup")["FineGrainedAccess"] == "true"
    # Readers may only GET/POST under the index; only the index sync writes; nobody may touch other paths.
    api = [
        s
        for s in stack.statements(stack.role_of("ApiFunction"))
        if any(a.startswith("es:") for a in as_list(s["Action"]))
    ]
    assert [set(s["Action"]) for s in api] == [{"es:ESHttpGet", "es:ESHttpPost"}]
    assert api[0]["Resource"]["Fn::Sub"].endswith("domain/${OpenSearchName}/${IndexName}/*")
    assert _env(stack, "ApiFunction")["ENGRAM_OPENSEARCH_SERVICE"] == "es"
    assert "es:ESHttpDelete" in stack.actions(stack.role_of("IndexSyncFunction"))
    assert "es:ESHttpDelete" not in stack.actions(stack.role_of("ConsolidateFunction"))


def test_existing_endpoint_creates_no_search_resources(stack_for):
    stack = stack_for(OpenSearchMode="existing", OpenSearchEndpoint="https://search-x.example")
    assert not {n for n in stack.resources if n.startswith(("OpenSearchDomain", "OpenSearchCollection"))}
    assert _env(stack, "FinalizeFunction")["ENGRAM_OPENSEARCH_ENDPOINT"] == {"Ref": "OpenSearchEndpoint"}
    assert stack.props("IndexSetup")["FineGrainedAccess"] == "false"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_a_group_with_retention(stack, function):
    group = stack.props(function)["LoggingConfig"]["LogGroup"]
    assert stack.resources[group["Ref"]]["Type"] == "AWS::Logs::LogGroup"
    assert stack.props(group["Ref"])["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_log_group_has_retention(stack):
    groups = stack.of_type("AWS::Logs::LogGroup")
    assert len(groups) >= len(FUNCTIONS) + 2  # + state machine, API access logs
    assert all(g.get("RetentionInDays") == {"Ref": "LogRetentionDays"} for g in groups.values())


def test_api_has_a_cached_authorizer_throttling_access_logs_and_body_validation(stack):
    [(name, api)] = stack.of_type("AWS::ApiGateway::RestApi").items()
    body = api["Body"]
    authorizer = body["components"]["securitySchemes"]["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token" and authorizer["authorizerResultTtlInSeconds"] > 0
    assert body["components"]["securitySchemes"]["ApiKeyAuthorizer"]["name"] == "Authorization"
    [stage] = stack.of_type("AWS::ApiGateway::Stage").values()
    [settings] = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}
    assert settings["DataTraceEnabled"] is False
    assert stage["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in stage["AccessLogSetting"]["Format"]
    methods = [(path, verb, op) for path, ops in body["paths"].items() for verb, op in ops.items()]
    assert methods
    for path, verb, operation in methods:
        # the authorizer, and a usage-plan key (which the authorizer returns: per-tenant throttle and quota)
        assert operation.get("security") == [{"ApiKeyAuthorizer": []}, {"api_key": []}], (verb, path)
        if verb in ("post", "put", "patch"):
            validator = operation.get("x-amazon-apigateway-request-validator")
            assert validator and body["x-amazon-apigateway-request-validators"][validator]["validateRequestBody"], (
                verb,
                path,
            )
            assert operation["requestBody"]["required"] is True, (verb, path)


def test_alarms_watch_workflow_failures_api_5xx_and_index_sync(stack):
    alarms = {(a["Namespace"], a["MetricName"]): a for a in stack.of_type("AWS::CloudWatch::Alarm").values()}
    assert alarms[("AWS/States", "ExecutionsFailed")]["Dimensions"][0]["Value"] == {
        "Ref": "GenerateMemoriesStateMachine"
    }
    api_name = {d["Name"]: d["Value"] for d in alarms[("AWS/ApiGateway", "5XXError")]["Dimensions"]}
    [rest_api] = stack.of_type("AWS::ApiGateway::RestApi").values()
    assert api_name["ApiName"] == rest_api["Name"] and api_name["Stage"] == "prod"
    assert alarms[("AWS/Lambda", "Errors")]["Dimensions"][0]["Value"] == {"Ref": "IndexSyncFunction"}
    assert alarms[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["IndexSyncFailureQueue", "QueueName"]
    }
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    mapping = next(iter(stack.of_type("AWS::Lambda::EventSourceMapping").values()))
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["IndexSyncFailureQueue", "Arn"]}


def test_retention_runs_on_a_schedule(stack):
    [schedule] = stack.of_type("AWS::Scheduler::Schedule").values()
    assert schedule["ScheduleExpression"].startswith(("rate(", "cron("))
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["RetentionFunction", "Arn"]}


def test_outputs_used_by_the_readme_the_keys_command_and_e2e(stack):
    assert {"ApiUrl", "TableName", "StateMachineArn", "OpenAISecretArn", "OpenSearchEndpoint", "AlarmTopicArn"} <= set(
        stack.template["Outputs"]
    )


def test_layer_is_built_for_python312_and_requirements_mirror_pyproject(stack):
    layer = stack.template["Resources"]
    template_layer = [r for r in layer.values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert template_layer and template_layer[0]["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    # The layer is built from the hash-locked requirements with --no-deps (layers/core/Makefile).
    assert stack_layer_build_method() == "makefile"
    makefile = (project_root() / "layers/core/Makefile").read_text()
    assert "--require-hashes" in makefile and "--no-deps" in makefile and "--python-version 3.12" in makefile


def stack_layer_build_method() -> str:
    import yaml
    from engram_dev.project import project_root as root

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((root() / "template.yaml").read_text(), Loader=Loader)
    return template["Resources"]["CoreLayer"]["Metadata"]["BuildMethod"]


def test_the_layer_lock_pins_every_runtime_dependency_of_pyproject_with_hashes():
    """The lock matches pyproject.toml: every runtime dependency (and what its extras pull) is pinned at a
    version its specifier allows, with hashes; only the documented exclusions are left out."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from tests.infrastructure.lockfile import excluded, locked

    pyproject = tomllib.loads((project_root() / "pyproject.toml").read_text())
    lock = locked(project_root() / "layers/core/requirements.txt")
    left_out = excluded(project_root() / "layers/core/lock-excludes.txt")
    assert lock and all(hashes >= 1 for _, hashes in lock.values()), "every pin carries its hashes"
    assert not set(lock) & left_out, "an excluded package is in the lock"
    for spec in pyproject["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name in left_out:
            continue
        assert name in lock, f"{name} (pyproject.toml) is not in the lock: run make lock"
        assert requirement.specifier.contains(lock[name][0]), f"{name}=={lock[name][0]} breaks {spec}: run make lock"
    assert "aws-xray-sdk" in lock  # the tracer extra of Powertools


def as_list(value):
    return value if isinstance(value, list) else [value]


def _env(stack, function: str) -> dict:
    return stack.props(function).get("Environment", {}).get("Variables", {})
