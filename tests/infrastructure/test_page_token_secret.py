"""How a deployed API function gets its page-token key: from the Secrets Manager secret the template
generates (``ENGRAM_PAGE_TOKEN_SECRET_ARN``), through Powertools parameters, never from a default."""

from __future__ import annotations

import uuid

import boto3
import pytest
from engram.adapters.page_tokens import Listing, PageTokens
from engram.errors import ConfigurationError, InvalidPageToken
from engram.settings import Settings
from engram.wiring import Dependencies, page_token_key


def _secret(value: str | None) -> str:
    from aws_lambda_powertools.utilities import parameters

    client = boto3.client("secretsmanager", region_name="us-east-1")  # the session emulator's (local_stack)
    name = f"engram-page-tokens-{uuid.uuid4().hex[:8]}"
    arn = client.create_secret(Name=name, **({"SecretString": value} if value is not None else {}))["ARN"]
    parameters.clear_caches()
    return str(arn)


def test_the_key_is_the_secret_value_and_tokens_of_one_process_open_in_another(local_stack):
    # Given two deployed API processes configured with the stack's secret (not in development)
    arn = _secret("Xq3" * 21)
    first, second = (Dependencies(Settings(development=False, page_token_secret_arn=arn)) for _ in range(2))

    # When one seals a token, Then the other opens it, both signing with the secret's value
    assert page_token_key(first.settings) == ("Xq3" * 21).encode()
    listing = Listing("memories", "tenant-a", "binding")
    assert second.page_tokens.open(listing, first.page_tokens.seal(listing, ["a", "b"])) == ["a", "b"]
    # And a process with another key refuses it
    with pytest.raises(InvalidPageToken):
        PageTokens(lambda: b"another key").open(listing, first.page_tokens.seal(listing, ["a", "b"]))


def test_an_unreadable_or_empty_secret_is_a_configuration_error(local_stack):
    for arn in (_secret(None), "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"):
        with pytest.raises(ConfigurationError, match="page-token key"):
            page_token_key(Settings(development=False, page_token_secret_arn=arn))
