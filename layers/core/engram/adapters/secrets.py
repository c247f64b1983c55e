"""Secrets Manager, through Powertools parameters: the one place a deployed stack reads its secrets (the
OpenAI key, the page-token key).

The value is cached in the process for ``max_age`` seconds (Powertools' own cache), so a warm function
does not call Secrets Manager per request. With tracing on, each read runs in subsegment
``secrets.read_api_key`` (annotated ``max_age``; a cache miss also shows the ``GetSecretValue`` call
under it); the ARN and the value are not recorded. The wiring builds one OpenAI client per process, so a rotated
key reaches new execution environments (update the function configuration to recycle warm ones).
"""

from __future__ import annotations

import json

from engram.errors import ConfigurationError
from engram.observability import annotate, traced

#: JSON keys accepted when the secret holds a JSON object instead of the bare key.
_JSON_KEYS = ("api_key", "OPENAI_API_KEY", "openai_api_key")


@traced("secrets.read_api_key")
def read_api_key(secret_arn: str, max_age: int = 300) -> str:
    """The API key stored in ``secret_arn``: the secret string itself, or ``api_key`` /
    ``OPENAI_API_KEY`` of a JSON object. Raises ``ConfigurationError`` when the secret cannot be read
    (missing, no value yet, access denied) or holds no key."""
    from aws_lambda_powertools.utilities import parameters

    annotate(max_age=max_age)
    try:
        value = parameters.get_secret(secret_arn, max_age=max_age)
    except parameters.exceptions.GetParameterError as error:
        raise ConfigurationError(
            f"cannot read the OpenAI key from secret {secret_arn}: {error} "
            "(put it with: aws secretsmanager put-secret-value --secret-id <arn> --secret-string sk-...)"
        ) from error
    text = value.decode() if isinstance(value, bytes) else str(value)
    key = text.strip()
    if key.startswith("{"):
        try:
            document = json.loads(key)
        except ValueError as error:
            raise ConfigurationError(f"secret {secret_arn} holds invalid JSON") from error
        key = next((str(document[k]).strip() for k in _JSON_KEYS if document.get(k)), "")
    if not key:
        raise ConfigurationError(f"secret {secret_arn} holds no OpenAI API key")
    return key


@traced("secrets.read_secret")
def read_secret(secret_arn: str, max_age: int = 300, what: str = "the secret") -> str:
    """The string stored in ``secret_arn`` (e.g. the page-token key the template generates), stripped,
    cached by Powertools for ``max_age`` seconds. ``what`` names it in errors. Raises ``ConfigurationError``
    when the secret cannot be read (missing, no value yet, access denied) or is empty."""
    from aws_lambda_powertools.utilities import parameters

    annotate(max_age=max_age)
    try:
        value = parameters.get_secret(secret_arn, max_age=max_age)
    except parameters.exceptions.GetParameterError as error:
        raise ConfigurationError(f"cannot read {what} from secret {secret_arn}: {error}") from error
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    if not text:
        raise ConfigurationError(f"secret {secret_arn} ({what}) is empty")
    return text
