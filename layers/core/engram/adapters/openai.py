"""The ``LLM`` and ``Embedder`` ports on the OpenAI API, or any OpenAI-compatible server (``base_url``).

- ``OpenAILLM``: structured outputs through ``client.chat.completions.parse`` (a strict JSON schema
  generated from the pydantic model, ``temperature=0`` unless an extraction prompt asks for another,
  ``max_completion_tokens`` when one asks for a limit); token usage from the response. Images are
  described with OpenAI image input (an ``image_url`` content part holding a ``data:`` URL), so the
  model must accept images (e.g. ``gpt-4o-mini``).
- ``OpenAIEmbedder``: one ``embeddings.create`` call per ``embed()``, vectors unit-normalized.
- ``build_client``: the cached ``openai.OpenAI`` factory. Transient faults (connection errors, timeouts,
  408/409/429/5xx) are retried by the SDK itself, with exponential backoff and ``Retry-After`` honoured,
  ``max_retries`` times; the workflow retries on top of that (bounded, with jitter).

Error mapping (SDK exception → domain error):

| SDK | raised |
|---|---|
| ``APITimeoutError``, ``APIConnectionError``, ``RateLimitError``, 408/409, any status ≥ 500 | ``LLMUnavailable`` / ``EmbeddingUnavailable`` |
| invalid JSON, schema mismatch (pydantic ``ValidationError``), ``LengthFinishReasonError``, ``ContentFilterFinishReasonError``, a refusal, no parsed output | ``LLMOutputInvalid`` |
| any other 4xx (bad request, authentication, permission, unknown model) | ``ConfigurationError`` (not retried) |

Tracing (``engram.observability.traced``, when tracing is on): each call runs in a subsegment
``openai.extract`` / ``openai.consolidate`` / ``openai.compress`` / ``openai.describe_image`` (annotated ``model``,
``input_tokens``, ``output_tokens``) or ``openai.embed`` (``model``, ``texts``, ``dimension``); prompts,
texts and answers are never recorded.

Nothing here does I/O at import time; importing this module imports ``openai`` (the API function never
imports it, see ``engram.wiring``).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import openai
import pydantic

from engram.errors import ConfigurationError, EmbeddingUnavailable, LLMOutputInvalid, LLMUnavailable
from engram.models.compression import CompressionOutput
from engram.models.extraction import ConsolidationOutput, ExtractionOutput, ImageDescription
from engram.models.prompts import describe_image_messages
from engram.observability import annotate, redact, traced
from engram.ports import LLMResult

if TYPE_CHECKING:
    from engram.errors import RetryableError
    from engram.models.conversation import InlineData
    from engram.models.prompts import CompressionPrompt, ConsolidationPrompt, ExtractionPrompt

T = TypeVar("T", bound=pydantic.BaseModel)

PLACEHOLDER_API_KEY = "engram-no-key"
"""Sent when only a base URL is configured (local OpenAI-compatible servers usually ignore the key)."""

_TRANSIENT_STATUS = frozenset({408, 409, 429})


@functools.cache
def build_client(
    api_key: str | None, base_url: str | None, timeout: float = 60.0, max_retries: int = 2
) -> openai.OpenAI:
    """The process's OpenAI client for these settings (cached; building it does no network I/O).

    ``api_key``: the OpenAI key; with only ``base_url`` set, ``PLACEHOLDER_API_KEY`` is used.
    ``base_url``: e.g. ``http://127.0.0.1:8000/v1`` for an OpenAI-compatible server; None → OpenAI.
    ``timeout``: seconds per HTTP request. ``max_retries``: the SDK's own retries of transient faults.
    Raises ``ConfigurationError`` when neither a key nor a base URL is given.
    """
    if not api_key and not base_url:
        raise ConfigurationError("the OpenAI adapters need OPENAI_API_KEY or OPENAI_BASE_URL")
    try:
        return openai.OpenAI(
            api_key=api_key or PLACEHOLDER_API_KEY,
            base_url=base_url or None,
            timeout=timeout,
            max_retries=max_retries,
        )
    except openai.OpenAIError as error:
        raise ConfigurationError(f"cannot build the OpenAI client: {error}") from error


def _map_api_error(
    error: openai.APIError, unavailable: type[RetryableError], what: str
) -> ConfigurationError | RetryableError:
    """The domain error for an SDK error raised after the SDK's own retries. Its message is for operators
    (the API and the workflow show tenants only the error's generic ``public_text``); it quotes the
    provider's answer with anything that looks like a credential redacted (a 401 echoes part of the key)."""
    detail = redact(str(error.message))
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status >= 500 or status in _TRANSIENT_STATUS:
            return unavailable(f"{what} failed with HTTP {status} after retries: {detail}")
        return ConfigurationError(
            f"{what} rejected the request with HTTP {status} (check the API key, base URL, model name and "
            f"that the server supports this request): {detail}"
        )
    if isinstance(error, openai.APITimeoutError):
        return unavailable(f"{what} timed out after retries")
    if isinstance(error, openai.APIConnectionError):
        return unavailable(f"{what} could not be reached after retries: {detail}")
    return unavailable(f"{what} failed: {detail}")


class OpenAILLM:
    """The ``LLM`` port on a chat-completions model with structured outputs.

    ``client``: an ``openai.OpenAI`` (see ``build_client``); ``model``: e.g. ``gpt-4o-mini``.
    Each call sends ``prompt.messages()`` with ``response_format`` = the strict JSON schema of
    ``ExtractionOutput`` / ``ConsolidationOutput`` / ``CompressionOutput`` and ``temperature=0``, and returns the parsed model
    with the response's prompt/completion token counts. An ``ExtractionPrompt``'s ``temperature`` replaces
    the 0 and its ``max_tokens`` is sent as ``max_completion_tokens`` (the Chat Completions name of the
    limit; an answer cut by it raises ``LLMOutputInvalid``). ``describe_image`` sends
    ``engram.models.prompts.describe_image_messages(image)`` (an instruction, the caption as context,
    the image as a ``data:`` URL) for an ``ImageDescription``. Errors: see the module docstring.
    """

    offline = False

    def __init__(self, client: openai.OpenAI, model: str) -> None:
        self._client = client
        self.model_id = model

    @traced("openai.extract")
    def extract(self, prompt: ExtractionPrompt) -> LLMResult[ExtractionOutput]:
        return self._parse(
            prompt.messages(), ExtractionOutput, temperature=prompt.temperature, max_tokens=prompt.max_tokens
        )

    @traced("openai.consolidate")
    def consolidate(self, prompt: ConsolidationPrompt) -> LLMResult[ConsolidationOutput]:
        return self._parse(prompt.messages(), ConsolidationOutput)

    @traced("openai.compress")
    def compress(self, prompt: CompressionPrompt) -> LLMResult[CompressionOutput]:
        return self._parse(prompt.messages(), CompressionOutput)

    @traced("openai.describe_image")
    def describe_image(self, image: InlineData) -> LLMResult[ImageDescription]:
        return self._parse(describe_image_messages(image), ImageDescription)

    def _parse(
        self,
        messages: list[dict[str, Any]],
        schema: type[T],
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResult[T]:
        what = f"the LLM ({self.model_id})"
        annotate(model=self.model_id)
        limit: dict[str, Any] = {"max_completion_tokens": max_tokens} if max_tokens is not None else {}
        try:
            completion = self._client.chat.completions.parse(
                model=self.model_id,
                messages=cast(Any, messages),
                response_format=schema,
                temperature=0 if temperature is None else temperature,
                **limit,
            )
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as error:
            raise LLMOutputInvalid(f"{what} stopped before a complete answer: {error}") from error
        except (pydantic.ValidationError, json.JSONDecodeError) as error:
            raise LLMOutputInvalid(
                f"{what} answered with JSON that does not match {schema.__name__}: {_short(error)}"
            ) from error
        except openai.APIResponseValidationError as error:
            raise LLMOutputInvalid(f"{what} sent a response of an unexpected shape: {error.message}") from error
        except openai.APIError as error:
            raise _map_api_error(error, LLMUnavailable, what) from error
        if not completion.choices:
            raise LLMOutputInvalid(f"{what} returned no choices")
        message = completion.choices[0].message
        if message.refusal:
            raise LLMOutputInvalid(f"{what} refused: {message.refusal[:200]}")
        if message.parsed is None:
            raise LLMOutputInvalid(f"{what} returned no {schema.__name__}")
        usage = completion.usage
        result = LLMResult(
            output=message.parsed,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )
        annotate(input_tokens=result.input_tokens, output_tokens=result.output_tokens)
        return result


def _short(error: Exception, limit: int = 300) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OpenAIEmbedder:
    """The ``Embedder`` port on an embeddings model.

    ``client``: an ``openai.OpenAI``; ``model``: e.g. ``text-embedding-3-small``; ``dimension``: the
    vector size the index expects. For ``text-embedding-3*`` models the request asks for ``dimension``
    (they can shorten their vectors); other models must natively return ``dimension`` floats.

    ``embed(texts)``: one request for the whole batch (``[]`` → ``[]`` without a request); returns one
    unit-length vector per text, in input order. Texts must not be empty strings (the API rejects them).
    Errors: ``EmbeddingUnavailable`` (timeouts, throttling, 5xx after retries, a malformed response),
    ``ConfigurationError`` (other 4xx, or vectors of the wrong size).
    """

    offline = False

    def __init__(self, client: openai.OpenAI, model: str, dimension: int) -> None:
        self._client = client
        self.model_id = model
        self.dimension = dimension
        self._send_dimensions = model.startswith("text-embedding-3")

    @traced("openai.embed")
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        batch = list(texts)
        annotate(model=self.model_id, texts=len(batch), dimension=self.dimension)
        if not batch:
            return []
        what = f"the embedding model ({self.model_id})"
        extra: dict[str, Any] = {"dimensions": self.dimension} if self._send_dimensions else {}
        try:
            response = self._client.embeddings.create(
                model=self.model_id, input=batch, encoding_format="float", **extra
            )
        except openai.APIResponseValidationError as error:
            raise EmbeddingUnavailable(f"{what} sent a malformed response: {error.message}") from error
        except openai.APIError as error:
            raise _map_api_error(error, EmbeddingUnavailable, what) from error
        except ValueError as error:  # a body that is not JSON (json.JSONDecodeError is a ValueError)
            raise EmbeddingUnavailable(f"{what} sent a response that is not JSON: {error}") from error
        try:
            data = sorted(response.data, key=lambda item: item.index)
            indices = [item.index for item in data]
            raw_vectors = [[float(v) for v in item.embedding] for item in data]
        except (AttributeError, TypeError, ValueError) as error:
            raise EmbeddingUnavailable(f"{what} sent a malformed response: {error}") from error
        if indices != list(range(len(batch))):
            raise EmbeddingUnavailable(f"{what} returned {len(data)} vectors for {len(batch)} texts")
        vectors = []
        for vector in raw_vectors:
            if len(vector) != self.dimension:
                raise ConfigurationError(
                    f"{what} returned vectors of {len(vector)} floats; ENGRAM_EMBEDDING_DIMENSION is {self.dimension}"
                )
            vectors.append(_unit(vector))
        return vectors


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm > 0 else vector
