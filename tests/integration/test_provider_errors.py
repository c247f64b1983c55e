"""Provider errors never reach tenants: with the embedding provider answering 401 (whose text echoes part
of the key) or 500, or the OpenAI secret unreadable (whose error names its ARN), a retrieve answers the
error's code and a generic message; the operator finds the details, credentials redacted, in the log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from engram import observability
from engram.errors import ConfigurationError, EmbeddingUnavailable
from engram_dev.bench.common import environment
from engram_dev.scripted_llm import Status

KEY_FRAGMENT = "sk-live***Zq9x"
PROVIDER_401 = {
    "error": {
        "message": f"Incorrect API key provided: {KEY_FRAGMENT}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
}
PROVIDER_500 = {
    "error": {"message": "upstream model server exploded (shard eu-7, request 4f2a)", "type": "server_error"}
}
MISSING_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:engram-openai-AbCdEf"


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The Powertools logger's JSON lines written during the test."""
    handler = observability.logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    if previous is not None:
        handler.setStream(previous)


def _search(api: Any, scope: dict[str, str]) -> tuple[int, Any]:
    return api.request("POST", "/v1/memories/retrieve", {"scope": scope, "query": "tea", "mode": "dense"})


def _tenant_sees_nothing_of(body: Any, *hidden: str) -> None:
    text = json.dumps(body)
    for fragment in hidden:
        assert fragment not in text, fragment


def test_a_provider_401_is_a_generic_500_and_the_details_go_to_the_log(api, scope, scripted_llm, log_lines):
    # Given an embedding provider that rejects the key, echoing part of it
    scripted_llm.script_embeddings(Status(401, PROVIDER_401))

    # When a tenant searches
    status, body = _search(api, scope)

    # Then it gets the code and a generic message: nothing of the provider's answer, the key or the model
    assert status == 500
    assert body == {"error": {"code": "CONFIGURATION", "message": ConfigurationError.public_text}}
    _tenant_sees_nothing_of(body, "sk-", "Zq9x", "Incorrect", "openai", "HTTP 401", "text-embedding")
    # And the operator's log line has the details, with the key fragment redacted
    [line] = [line for line in log_lines() if line.get("message") == "request failed"]
    assert (line["code"], line["error_type"]) == ("CONFIGURATION", "ConfigurationError")
    assert "HTTP 401" in line["error"] and "Incorrect API key provided" in line["error"]
    assert "sk-live" not in json.dumps(line) and "Zq9x" not in json.dumps(line)


def test_a_provider_500_is_a_generic_503(api, scope, scripted_llm, log_lines):
    # Given an embedding provider failing on every attempt (the SDK retries twice)
    scripted_llm.script_embeddings(*[Status(500, PROVIDER_500, retry_after_ms=1)] * 3)

    # When a tenant searches
    status, body = _search(api, scope)

    # Then it is told to retry later, without the provider's text; the log has it
    assert status == 503
    assert body == {"error": {"code": "EMBEDDING_UNAVAILABLE", "message": EmbeddingUnavailable.public_text}}
    _tenant_sees_nothing_of(body, "exploded", "eu-7", "HTTP 500")
    [line] = [line for line in log_lines() if line.get("message") == "request failed"]
    assert "HTTP 500" in line["error"] and "exploded" in line["error"]


def test_an_unreadable_secret_is_a_generic_500_without_its_arn(api, scope, local_stack, log_lines):
    # Given a deployed-style configuration whose OpenAI secret cannot be read
    with environment(
        ENGRAM_PROVIDER="openai", ENGRAM_OPENAI_SECRET_ARN=MISSING_SECRET, OPENAI_API_KEY=None, OPENAI_BASE_URL=None
    ):
        # When a tenant searches
        status, body = _search(api, scope)

    # Then the answer names neither the secret nor its ARN; the operator's log does
    assert status == 500 and body["error"]["code"] == "CONFIGURATION"
    _tenant_sees_nothing_of(body, "arn:", "secretsmanager", "engram-openai", "secret")
    [line] = [line for line in log_lines() if line.get("message") == "request failed"]
    assert MISSING_SECRET in line["error"]
