"""Settings, read from the environment once per process (``get_settings()`` is cached).

A deployed function gets every variable from ``template.yaml``. The two that choose what a function
talks to, ``ENGRAM_TABLE_NAME`` and ``ENGRAM_INDEX_BACKEND``, have no default: ``get_settings()`` raises
``ConfigurationError`` naming the missing one, so a function deployed without it fails on its first
(cold) invocation instead of running against the wrong table or index. Development defaults
(``engram`` and ``local``) apply only with ``ENGRAM_DEVELOPMENT=true``, which the local stack and the
test suite set.

Every variable, its default and meaning:

| variable | default | meaning |
|---|---|---|
| ``ENGRAM_DEVELOPMENT`` | ``false`` | ``true`` on the local stack and in tests: the development defaults below apply |
| ``ENGRAM_TABLE_NAME`` | required (development: ``engram``) | the DynamoDB single table |
| ``ENGRAM_STATE_MACHINE_ARN`` | (none) | the GenerateMemories state machine; needed by the API function |
| ``AWS_ENDPOINT_URL`` | (none) | an emulator endpoint (moto, LocalStack); unset on AWS |
| ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` | ``us-east-1`` | region |
| ``ENGRAM_INDEX_BACKEND`` | required (development: ``local``) | ``opensearch`` or ``local`` (the embedded index of the development package) |
| ``ENGRAM_INDEX_NAME`` | ``engram-memories`` | the OpenSearch index name |
| ``ENGRAM_OPENSEARCH_ENDPOINT`` | (none) | ``https://host`` of the domain or collection |
| ``ENGRAM_OPENSEARCH_SERVICE`` | ``es`` | SigV4 service: ``es`` (managed domain) or ``aoss`` (Serverless) |
| ``ENGRAM_OPENSEARCH_AUTH`` | ``sigv4`` | ``sigv4``, or ``none`` for a local test cluster |
| ``ENGRAM_OPENSEARCH_ENGINE`` | ``lucene`` | k-NN engine of the index: ``lucene`` or ``faiss`` (the template sets it) |
| ``ENGRAM_DATA_DIR`` | ``.engram`` | where the local index persists |
| ``ENGRAM_CORS_ALLOW_ORIGIN`` | (none) | the origin browsers may call the API from (template parameter ``CorsAllowOrigin``); none = no CORS headers |
| ``OPENAI_API_KEY`` | (none) | enables the OpenAI adapters (local runs) |
| ``ENGRAM_OPENAI_SECRET_ARN`` | (none) | Secrets Manager secret holding the OpenAI key (deployed stacks); read through Powertools parameters, cached; enables the OpenAI adapters too |
| ``ENGRAM_SECRET_MAX_AGE_SECONDS`` | ``300`` | how long a process reuses the secret it read |
| ``ENGRAM_PAGE_TOKEN_SECRET_ARN`` | (none) | Secrets Manager secret whose value signs page tokens (deployed API function: the template generates it); required outside development unless ``ENGRAM_PAGE_TOKEN_KEY`` is set |
| ``ENGRAM_PAGE_TOKEN_KEY`` | (none; development: a random key per process) | the page-token signing key itself (tests, local runs) |
| ``OPENAI_BASE_URL`` | (none) | any OpenAI-compatible server; enables the OpenAI adapters too |
| ``ENGRAM_LLM_MODEL`` | ``gpt-4o-mini`` | chat model for extraction and consolidation |
| ``ENGRAM_EMBEDDING_MODEL`` | ``text-embedding-3-small`` | OpenAI embedding model |
| ``ENGRAM_PRICE_TABLE`` | (none: gpt-4o-mini and text-embedding-3-small list prices) | JSON of ``engram.models.lifecycle.PriceTable`` fields: the USD prices ``GET /v1/stats`` estimates cost with |
| ``ENGRAM_EMBEDDING_DIMENSION`` | ``1536`` | its vector size |
| ``ENGRAM_PROVIDER`` | ``auto`` | ``openai``, ``offline``, or ``auto`` (openai when a key or base URL is set) |
| ``ENGRAM_EMBEDDER`` | ``auto`` | ``auto`` (as ``ENGRAM_PROVIDER``), ``openai``, ``offline``, or ``minilm`` (local all-MiniLM-L6-v2, the ``minilm`` extra; local stack and benchmarks only) |
| ``ENGRAM_LLM_TIMEOUT_SECONDS`` | ``60`` | per-request timeout of the OpenAI client |
| ``ENGRAM_LLM_MAX_RETRIES`` | ``2`` | the OpenAI client's own retries (the workflow retries on top, bounded) |
| ``ENGRAM_CONSOLIDATION_NEIGHBOURS`` | ``5`` | existing memories fetched per candidate |
| ``ENGRAM_CONSOLIDATION_MIN_SIMILARITY`` | ``0.5`` | below this a neighbour is ignored; no neighbour at all skips the consolidation call |
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENGRAM_", extra="ignore", populate_by_name=True)

    development: bool = False
    table_name: str = ""
    state_machine_arn: str | None = None
    aws_endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    aws_region: str = Field(default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))

    index_backend: Literal["opensearch", "local"] | None = None
    index_name: str = "engram-memories"
    opensearch_endpoint: str | None = None
    opensearch_service: Literal["es", "aoss"] = "es"
    opensearch_auth: Literal["sigv4", "none"] = "sigv4"
    opensearch_engine: Literal["lucene", "faiss"] = "lucene"
    data_dir: str = ".engram"
    cors_allow_origin: str | None = None
    #: Which route groups the API resolver holds (``engram.api.app.ROUTE_GROUPS``): ``v1`` on ApiFunction,
    #: ``mem0`` on Mem0Function (template.yaml), ``all`` elsewhere (the local stack, the OpenAPI document).
    api_routes: Literal["all", "v1", "mem0"] = "all"

    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY", repr=False)
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_secret_arn: str | None = None
    secret_max_age_seconds: int = 300
    page_token_secret_arn: str | None = None
    page_token_key: str | None = Field(default=None, repr=False)
    provider: Literal["auto", "openai", "offline"] = "auto"
    embedder: Literal["auto", "openai", "offline", "minilm"] = "auto"
    llm_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    price_table: str | None = None  # JSON of PriceTable fields (engram.models.lifecycle)
    embedding_dimension: int = 1536
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 2

    consolidation_neighbours: int = 5
    consolidation_min_similarity: float = 0.5

    @property
    def use_openai(self) -> bool:
        if self.provider == "auto":
            return bool(self.openai_api_key or self.openai_base_url or self.openai_secret_arn)
        return self.provider == "openai"


#: Development defaults of the variables a deployed function must set (``ENGRAM_DEVELOPMENT=true`` only).
DEVELOPMENT_DEFAULTS = {"table_name": "engram", "index_backend": "local"}


def with_required(settings: Settings) -> Settings:
    """``settings`` with the development defaults filled in (development only), or ``ConfigurationError``
    naming every required variable that is unset."""
    missing = [name for name in DEVELOPMENT_DEFAULTS if not getattr(settings, name)]
    if not missing:
        return settings
    if settings.development:
        return settings.model_copy(update={name: DEVELOPMENT_DEFAULTS[name] for name in missing})
    from engram.errors import ConfigurationError

    names = ", ".join(f"ENGRAM_{name.upper()}" for name in missing)
    raise ConfigurationError(
        f"{names} not set: a deployed function gets it from template.yaml "
        "(set ENGRAM_DEVELOPMENT=true for the development defaults)"
    )


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read once. Tests call ``get_settings.cache_clear()`` after changing env.

    Raises ``ConfigurationError`` when a required variable is unset outside development."""
    return with_required(Settings())
