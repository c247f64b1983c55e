"""The composition root: ``dependencies()`` gives handlers every collaborator as one ``Dependencies``
object, built from ``Settings`` once per process.

Each member is built on first use and then kept, so a function builds only what it uses: nothing runs at
import time, and heavy client libraries (``openai``, ``opensearchpy``, Powertools idempotency) are imported
only by the member that needs them, so the API function never imports ``openai`` and IndexSync never
imports the generation logic. Logic functions receive the members they need as arguments.
"""

from __future__ import annotations

import functools
from functools import cached_property
from typing import TYPE_CHECKING

from engram.clock import SystemClock
from engram.settings import Settings, get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from openai import OpenAI

    from engram.adapters.dynamodb.table import Table
    from engram.adapters.page_tokens import PageTokens
    from engram.logic.generation import ConsolidationConfig
    from engram.models.lifecycle import PriceTable
    from engram.ports import (
        LLM,
        ApiKeyRepository,
        Clock,
        ConfigRepository,
        Embedder,
        ForgetRepository,
        LeaseRepository,
        MemoryRepository,
        OperationRepository,
        RetentionRepository,
        SessionRepository,
        StatsRepository,
        VectorIndex,
        WorkflowStarter,
    )


class Dependencies:
    """The ports, on the adapters ``settings`` choose. Members are built lazily and cached per instance
    (``wiring.reset()`` starts a new instance). Tests may replace a member by assigning it (``clock``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idempotency: dict[str, BasePersistenceLayer] = {}

    @cached_property
    def clock(self) -> Clock:
        return SystemClock()

    # --- the table, one repository per aggregate -------------------------------------------------

    @cached_property
    def table(self) -> Table:
        """The DynamoDB table (``ENGRAM_TABLE_NAME``, at ``AWS_ENDPOINT_URL`` when set)."""
        from engram.adapters.dynamodb.table import Table

        s = self.settings
        return Table(s.table_name, s.aws_region, s.aws_endpoint_url)

    @cached_property
    def memories(self) -> MemoryRepository:
        from engram.adapters.dynamodb.memories import DynamoMemories

        return DynamoMemories(self.table, self.page_tokens)

    @cached_property
    def page_tokens(self) -> PageTokens:
        """Signs page tokens with the key ``page_token_key`` gives (read when a token is first made or read)."""
        from engram.adapters.page_tokens import PageTokens

        return PageTokens(functools.partial(page_token_key, self.settings))

    @cached_property
    def operations(self) -> OperationRepository:
        from engram.adapters.dynamodb.operations import DynamoOperations

        return DynamoOperations(self.table)

    @cached_property
    def sessions(self) -> SessionRepository:
        from engram.adapters.dynamodb.sessions import DynamoSessions

        return DynamoSessions(self.table, self.page_tokens)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        from engram.adapters.dynamodb.api_keys import DynamoApiKeys

        return DynamoApiKeys(self.table)

    @cached_property
    def leases(self) -> LeaseRepository:
        from engram.adapters.dynamodb.leases import DynamoLeases

        return DynamoLeases(self.table)

    @cached_property
    def configs(self) -> ConfigRepository:
        from engram.adapters.dynamodb.configs import DynamoConfigs

        return DynamoConfigs(self.table)

    @cached_property
    def retention(self) -> RetentionRepository:
        from engram.adapters.dynamodb.retention import DynamoRetention

        return DynamoRetention(self.table)

    @cached_property
    def forget(self) -> ForgetRepository:
        from engram.adapters.dynamodb.forget import DynamoForget

        return DynamoForget(self.table)

    @cached_property
    def prices(self) -> PriceTable:
        """The USD prices of ``GET /v1/stats`` (``ENGRAM_PRICE_TABLE``, else the defaults). A table that is not
        valid raises ``ConfigurationError``."""
        from pydantic import ValidationError

        from engram.errors import ConfigurationError
        from engram.models.lifecycle import PriceTable

        try:
            return PriceTable.model_validate_json(self.settings.price_table or "{}")
        except ValidationError as error:
            raise ConfigurationError(f"ENGRAM_PRICE_TABLE is not a valid price table: {error}") from error

    @cached_property
    def stats(self) -> StatsRepository:
        from engram.adapters.dynamodb.counters import DynamoStats

        return DynamoStats(self.table.client, self.table.name)

    def idempotency_records(self, tenant_id: str) -> BasePersistenceLayer:
        """The Powertools persistence layer for ``tenant_id``'s ``Idempotency-Key`` records, in the table
        (one per tenant, kept). Imports Powertools idempotency: call it only for a request with a key."""
        records = self._idempotency.get(tenant_id)
        if records is None:
            from engram.adapters.dynamodb.idempotency import IdempotencyRecords

            records = self._idempotency.setdefault(tenant_id, IdempotencyRecords(self.table, tenant_id))
        return records

    # --- the index, the models, the workflow ----------------------------------------------------

    @cached_property
    def index(self) -> VectorIndex:
        """``ENGRAM_INDEX_BACKEND``: ``local`` (development tooling) or ``opensearch``.
        Raises ``ConfigurationError`` when the chosen backend cannot be built."""
        from engram.errors import ConfigurationError

        s = self.settings
        if s.index_backend is None:
            raise ConfigurationError("ENGRAM_INDEX_BACKEND not set: opensearch (deployed) or local (development)")
        if s.index_backend == "local":
            return _local_index(s)
        from engram.adapters.opensearch import OpenSearchIndex, build_client
        from engram.models.ranking import hybrid_weights

        if not s.opensearch_endpoint:
            raise ConfigurationError("ENGRAM_OPENSEARCH_ENDPOINT is required with ENGRAM_INDEX_BACKEND=opensearch")
        client = build_client(s.opensearch_endpoint, s.aws_region, s.opensearch_service, s.opensearch_auth)
        return OpenSearchIndex(
            client,
            s.index_name,
            dimension=self.embedding_dimension(),
            engine=s.opensearch_engine,
            custom_ids=s.opensearch_service == "es",
            hybrid_weights=hybrid_weights(self.embedding_model_id()),
        )

    def embedding_dimension(self) -> int:
        """Floats per embedding, known without building an OpenAI client (so without reading its secret)."""
        s = self.settings
        return s.embedding_dimension if s.use_openai else self.embedder.dimension

    def embedding_model_id(self) -> str:
        """The embedding model's id (the hybrid weights depend on it), known without building an OpenAI
        client."""
        s = self.settings
        choice = s.embedder if s.embedder != "auto" else ("openai" if s.use_openai else "offline")
        return s.embedding_model if choice == "openai" else self.embedder.model_id

    @cached_property
    def embedder(self) -> Embedder:
        s = self.settings
        choice = s.embedder if s.embedder != "auto" else ("openai" if s.use_openai else "offline")
        if choice == "minilm":
            from engram.adapters.minilm import SentenceTransformerEmbedder

            return SentenceTransformerEmbedder()
        if choice == "offline":
            from engram.adapters.offline import OfflineEmbedder

            return OfflineEmbedder()
        from engram.adapters.openai import OpenAIEmbedder

        return OpenAIEmbedder(_openai_client(s), s.embedding_model, s.embedding_dimension)

    @cached_property
    def llm(self) -> LLM:
        s = self.settings
        if not s.use_openai:
            from engram.adapters.offline import OfflineLLM

            return OfflineLLM()
        from engram.adapters.openai import OpenAILLM

        return OpenAILLM(_openai_client(s), s.llm_model)

    @cached_property
    def workflow(self) -> WorkflowStarter:
        from engram.adapters.stepfunctions import StepFunctionsWorkflow

        s = self.settings
        return StepFunctionsWorkflow(s.state_machine_arn, s.aws_region, s.aws_endpoint_url)

    @cached_property
    def consolidation(self) -> ConsolidationConfig:
        """Neighbours per candidate and their minimum similarity (``ENGRAM_CONSOLIDATION_*``)."""
        from engram.logic.generation import ConsolidationConfig

        s = self.settings
        return ConsolidationConfig(neighbours=s.consolidation_neighbours, min_similarity=s.consolidation_min_similarity)


@functools.cache
def dependencies() -> Dependencies:
    """The process's ``Dependencies``, built on first call from ``get_settings()``."""
    return Dependencies(get_settings())


def _local_index(s: Settings) -> VectorIndex:
    """The local stack's exact index under ``ENGRAM_DATA_DIR``."""
    try:  # the local stack's index (numpy, bm25s) is development tooling, never in the Lambda layer
        from engram_dev.local_index import LocalIndex
    except ImportError as error:
        from engram.errors import ConfigurationError

        raise ConfigurationError(
            "ENGRAM_INDEX_BACKEND=local needs the development package engram_dev and its dependencies "
            f"(missing: {error.name}; pip install -e '.[dev]' in the checkout); deployed stacks use opensearch"
        ) from error
    return LocalIndex(s.data_dir)


def _openai_client(s: Settings) -> OpenAI:
    from engram.adapters.openai import build_client

    return build_client(openai_api_key(s), s.openai_base_url, s.llm_timeout_seconds, s.llm_max_retries)


def openai_api_key(s: Settings) -> str | None:
    """``OPENAI_API_KEY`` when set (local runs), else the key in the ``ENGRAM_OPENAI_SECRET_ARN`` secret
    (deployed stacks: read through Powertools parameters, cached for ``secret_max_age_seconds``)."""
    if s.openai_api_key or not s.openai_secret_arn:
        return s.openai_api_key
    from engram.adapters.secrets import read_api_key

    return read_api_key(s.openai_secret_arn, s.secret_max_age_seconds)


def page_token_key(s: Settings) -> bytes:
    """The key page tokens are signed with: ``ENGRAM_PAGE_TOKEN_KEY`` when set (tests, local runs), else the
    value of the ``ENGRAM_PAGE_TOKEN_SECRET_ARN`` secret (deployed stacks: generated by the template, read
    through Powertools parameters, cached for ``secret_max_age_seconds``), else, in development only, a
    random key made once per process (tokens then last as long as the process). Raises
    ``ConfigurationError`` outside development when neither is set, or when the secret cannot be read."""
    if s.page_token_key:
        return s.page_token_key.encode()
    if s.page_token_secret_arn:
        from engram.adapters.secrets import read_secret

        return read_secret(s.page_token_secret_arn, s.secret_max_age_seconds, "the page-token key").encode()
    if s.development:
        return _development_page_token_key()
    from engram.errors import ConfigurationError

    raise ConfigurationError(
        "ENGRAM_PAGE_TOKEN_SECRET_ARN not set: a deployed API function gets it from template.yaml "
        "(or set ENGRAM_PAGE_TOKEN_KEY)"
    )


@functools.cache
def _development_page_token_key() -> bytes:
    import secrets

    return secrets.token_bytes(32)


def reset() -> None:
    """Forget the settings and every built collaborator (tests and the local stack, after changing env)."""
    get_settings.cache_clear()
    dependencies.cache_clear()
