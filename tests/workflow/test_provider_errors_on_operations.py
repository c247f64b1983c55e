"""A generation failed by its provider tells the tenant the error's code and a generic message on the
operation; the provider's answer (here a 401 echoing part of the key) is never stored on it."""

from __future__ import annotations

import json

from engram.errors import ConfigurationError
from engram_dev.scripted_llm import Status

PROVIDER_401 = {
    "error": {
        "message": "Incorrect API key provided: sk-live***Zq9x. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
}


def test_a_provider_401_during_extraction_fails_the_operation_with_a_generic_message(api, scope, scripted_llm):
    # Given an LLM provider that rejects the key on every call (a 4xx: not retried)
    scripted_llm.script_chat(*[Status(401, PROVIDER_401)] * 4)

    # When a generation runs
    operation = api.wait(api.generate(scope, messages=[{"role": "user", "content": "I live in Lisbon."}])["id"])

    # Then it FAILED with the error's code and generic text, and nothing of the provider's answer
    assert operation["status"] == "FAILED"
    assert operation["error"] == {"code": "ConfigurationError", "message": ConfigurationError.public_text}
    for fragment in ("sk-", "Zq9x", "Incorrect", "HTTP 401", "openai"):
        assert fragment not in json.dumps(operation), fragment
