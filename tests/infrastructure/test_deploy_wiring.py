"""How a deployed stack reaches its secrets and its index: the OpenAI key from Secrets Manager (through
Powertools parameters, never an environment variable), SigV4 signing for the right OpenSearch service,
and the deploy-time index setup (custom resource) that creates the index and maps the roles."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from engram import wiring
from engram.adapters.opensearch import (
    READER_ROLE,
    WRITER_ROLE,
    build_client,
    grant_index_access,
    index_body,
    metadata_mapping_body,
    security_role_body,
)
from engram.errors import ConfigurationError
from engram_dev.project import project_root


class Recorder:
    """A loopback HTTP server recording ``(method, path, headers, json body)``; answers ``status``
    (``/cfn-response``, CloudFormation's side, always 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.status = 200
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                body = json.loads(raw) if raw.strip().startswith(("{", "[")) else raw
                recorder.requests.append((self.command, self.path.split("?")[0], dict(self.headers), body))
                payload = json.dumps({"acknowledged": True, "errors": False, "items": []}).encode()
                self.send_response(200 if self.path == "/cfn-response" else recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.server.shutdown()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings changes for one test; the wiring forgets them afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    wiring.reset()


# --- the OpenAI key -------------------------------------------------------------------------------


@pytest.mark.parametrize("stored", ["sk-test-123", '{"api_key": "sk-test-123"}'])
def test_the_openai_key_is_read_from_the_secret_when_no_env_key_is_set(env, stored, local_stack):
    """Given a deployed function (secret ARN, no OPENAI_API_KEY), when the wiring needs the key, then it
    is the secret's value (bare or as JSON)."""
    from aws_lambda_powertools.utilities import parameters

    with contextlib.nullcontext():  # Secrets Manager of the session's emulator (mock_aws would reset it)
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=f"engram-openai-{uuid.uuid4().hex[:8]}", SecretString=stored
        )["ARN"]
        parameters.clear_caches()
        env.setenv("ENGRAM_OPENAI_SECRET_ARN", arn)
        env.setenv("ENGRAM_PROVIDER", "openai")
        env.delenv("OPENAI_API_KEY", raising=False)
        wiring.reset()
        settings = wiring.get_settings()
        assert settings.use_openai
        assert wiring.openai_api_key(settings) == "sk-test-123"


def test_an_empty_secret_is_a_configuration_error_that_says_how_to_fill_it(env, local_stack):
    """Given the stack's secret was created empty, when the key is needed, then the error names the fix."""
    from aws_lambda_powertools.utilities import parameters

    with contextlib.nullcontext():  # Secrets Manager of the session's emulator (mock_aws would reset it)
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=f"engram-empty-{uuid.uuid4().hex[:8]}"
        )["ARN"]
        parameters.clear_caches()
        env.setenv("ENGRAM_OPENAI_SECRET_ARN", arn)
        env.delenv("OPENAI_API_KEY", raising=False)
        wiring.reset()
        with pytest.raises(ConfigurationError, match="put-secret-value"):
            wiring.openai_api_key(wiring.get_settings())


def test_a_local_env_key_wins_over_the_secret(env):
    env.setenv("OPENAI_API_KEY", "sk-local")
    env.setenv("ENGRAM_OPENAI_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:never-read")
    wiring.reset()
    assert wiring.openai_api_key(wiring.get_settings()) == "sk-local"


# --- OpenSearch signing and the index -------------------------------------------------------------


@pytest.mark.parametrize("service", ["es", "aoss"])
def test_requests_are_signed_with_sigv4_for_the_configured_service(recorder, service):
    """Given SigV4 auth, when the client sends a request, then it carries a SigV4 signature scoped to
    the region and the service (``es`` for a domain, ``aoss`` for a Serverless collection)."""
    client = build_client(recorder.url, "eu-west-1", service, "sigv4")
    client.search(index="engram-memories", body={"query": {"match_all": {}}})
    [(_, path, headers, _)] = recorder.requests
    assert path == "/engram-memories/_search"
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=")
    assert f"/eu-west-1/{service}/aws4_request" in authorization


def test_the_deployed_index_uses_the_configured_engine_service_and_dimension(env, recorder):
    """Given a deployed function's environment, when the wiring builds the index, then the index has the
    template's engine and dimension, and custom ids only on a managed domain."""
    env.setenv("ENGRAM_INDEX_BACKEND", "opensearch")
    env.setenv("ENGRAM_OPENSEARCH_ENDPOINT", recorder.url)
    env.setenv("ENGRAM_OPENSEARCH_SERVICE", "aoss")
    env.setenv("ENGRAM_OPENSEARCH_ENGINE", "faiss")
    env.setenv("ENGRAM_OPENSEARCH_AUTH", "none")
    env.setenv("ENGRAM_PROVIDER", "openai")
    env.setenv("ENGRAM_OPENAI_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:not-read-here")
    env.setenv("ENGRAM_EMBEDDING_DIMENSION", "256")
    env.delenv("OPENAI_API_KEY", raising=False)
    wiring.reset()
    index = wiring.dependencies().index  # must not read the secret: the index needs only the dimension
    assert (index.engine, index.dimension, index.custom_ids) == ("faiss", 256, False)
    index.ensure_index()
    assert recorder.requests[0][:2] == ("PUT", "/engram-memories")
    assert recorder.requests[0][3] == index_body(256, "faiss")


def test_grant_index_access_maps_readers_and_writers_to_least_privilege_roles(recorder):
    client = build_client(recorder.url, "us-east-1", "es", "none")
    reader, writer = "arn:aws:iam::1:role/api", "arn:aws:iam::1:role/sync"
    grant_index_access(client, "engram-memories", [reader, reader], [writer])
    sent = {(method, path): body for method, path, _, body in recorder.requests}
    assert sent == {
        ("PUT", f"/_plugins/_security/api/roles/{READER_ROLE}"): security_role_body("engram-memories", "read"),
        ("PUT", f"/_plugins/_security/api/rolesmapping/{READER_ROLE}"): {"backend_roles": [reader]},
        ("PUT", f"/_plugins/_security/api/roles/{WRITER_ROLE}"): security_role_body("engram-memories", "write"),
        ("PUT", f"/_plugins/_security/api/rolesmapping/{WRITER_ROLE}"): {"backend_roles": [writer]},
    }
    read = security_role_body("engram-memories", "read")["index_permissions"][0]
    assert read == {"index_patterns": ["engram-memories"], "allowed_actions": ["read"]}


# --- the custom resource --------------------------------------------------------------------------


class _Context:
    function_name = "IndexSetup"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:IndexSetup"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _index_setup_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("index_setup_app", project_root() / "functions/index_setup/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _event(url: str, request_type: str = "Create", fine_grained: str = "true") -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": f"{url}/cfn-response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/engram/1",
        "RequestId": "r-1",
        "LogicalResourceId": "IndexSetup",
        "ResourceProperties": {
            "FineGrainedAccess": fine_grained,
            "ReaderRoleArns": ["arn:aws:iam::1:role/api"],
            "WriterRoleArns": ["arn:aws:iam::1:role/sync"],
        },
    }


def _opensearch_env(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("ENGRAM_INDEX_BACKEND", "opensearch")
    env.setenv("ENGRAM_OPENSEARCH_ENDPOINT", url)
    env.setenv("ENGRAM_OPENSEARCH_AUTH", "none")
    env.setenv("ENGRAM_PROVIDER", "offline")
    wiring.reset()


def test_index_setup_maps_roles_creates_the_index_and_answers_cloudformation(env, recorder):
    """Given a new domain, when CloudFormation creates the custom resource, then the roles are mapped, the
    index is created with the adapter's mapping, and CloudFormation gets SUCCESS."""
    _opensearch_env(env, recorder.url)
    _index_setup_module().handler(_event(recorder.url), _Context())
    paths = [(m, p) for m, p, _, _ in recorder.requests]
    assert ("PUT", f"/_plugins/_security/api/rolesmapping/{READER_ROLE}") in paths
    assert ("PUT", "/engram-memories") in paths
    assert paths.index(("PUT", f"/_plugins/_security/api/rolesmapping/{WRITER_ROLE}")) < paths.index(
        ("PUT", "/engram-memories")
    )
    method, path, headers, answer = recorder.requests[-1]
    assert (method, path, answer["Status"]) == ("PUT", "/cfn-response", "SUCCESS")
    assert answer["LogicalResourceId"] == "IndexSetup" and answer["RequestId"] == "r-1"


def test_index_setup_puts_the_current_metadata_mapping_on_the_index(env, recorder):
    """Given a stack update (e.g. ``MappingRevision`` bumped for ``meta.l``, list-valued metadata), when
    CloudFormation updates the custom resource, then after ensuring the index the setup puts the current
    ``meta`` mapping on it (which adds fields to an index made by an older version), then answers SUCCESS."""
    _opensearch_env(env, recorder.url)
    _index_setup_module().handler(_event(recorder.url, request_type="Update", fine_grained="false"), _Context())
    sent = [(method, path, body) for method, path, _, body in recorder.requests]
    assert [(m, p) for m, p, _ in sent] == [
        ("PUT", "/engram-memories"),
        ("PUT", "/_search/pipeline/engram-memories-hybrid"),
        ("PUT", "/engram-memories/_mapping"),
        ("PUT", "/cfn-response"),
    ]
    assert sent[2][2] == metadata_mapping_body()
    assert sent[-1][2]["Status"] == "SUCCESS"


def test_index_setup_reports_failure_to_cloudformation_instead_of_hanging(env, recorder):
    """Given OpenSearch keeps refusing, when time runs out, then CloudFormation gets FAILED with the reason."""
    _opensearch_env(env, recorder.url)
    recorder.status = 403
    _index_setup_module().handler(_event(recorder.url, fine_grained="false"), _Context(remaining_ms=1_000))
    recorder.status = 200
    answers = [body for method, path, _, body in recorder.requests if path == "/cfn-response"]
    assert len(answers) == 1 and answers[0]["Status"] == "FAILED"
    assert "ConfigurationError" in answers[0]["Reason"]


def test_index_setup_does_nothing_on_delete(env, recorder):
    _opensearch_env(env, recorder.url)
    _index_setup_module().handler(_event(recorder.url, request_type="Delete"), _Context())
    assert [(m, p) for m, p, _, _ in recorder.requests] == [("PUT", "/cfn-response")]
