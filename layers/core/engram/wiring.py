"""The composition root: builds each port's adapter from ``Settings``, once per process (cached).

Handlers call these factories; logic receives the ports as arguments. Nothing here runs at import
time, and heavy client libraries (``openai``, ``opensearchpy``) are imported only by the factory that
needs them, so the API function never imports ``openai``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from engram.clock import SystemClock
from engram.logic.generate import ConsolidationConfig
from engram.settings import Settings, get_settings

if TYPE_CHECKING:
    from engram.ports import LLM, Clock, Embedder, MemoryStore, VectorIndex, WorkflowStarter


@functools.cache
def clock() -> Clock:
    return SystemClock()


@functools.cache
def store() -> MemoryStore:
    from engram.adapters.dynamodb import DynamoMemoryStore

    s = get_settings()
    return DynamoMemoryStore(s.table_name, s.aws_region, s.aws_endpoint_url)


@functools.cache
def index() -> VectorIndex:
    s = get_settings()
    if s.index_backend == "local":
        from engram.adapters.local_index import LocalIndex

        return LocalIndex(s.data_dir)
    from engram.adapters.opensearch import OpenSearchIndex, build_client

    if not s.opensearch_endpoint:
        from engram.errors import ConfigurationError

        raise ConfigurationError("ENGRAM_OPENSEARCH_ENDPOINT is required with ENGRAM_INDEX_BACKEND=opensearch")
    client = build_client(s.opensearch_endpoint, s.aws_region, s.opensearch_service, s.opensearch_auth)
    return OpenSearchIndex(
        client,
        s.index_name,
        dimension=embedding_dimension(),
        engine=s.opensearch_engine,
        custom_ids=s.opensearch_service == "es",
    )


def embedding_dimension() -> int:
    """Floats per embedding, known without building an OpenAI client (so without reading its secret)."""
    s = get_settings()
    return s.embedding_dimension if s.use_openai else embedder().dimension


@functools.cache
def embedder() -> Embedder:
    s = get_settings()
    choice = s.embedder if s.embedder != "auto" else ("openai" if s.use_openai else "offline")
    if choice == "minilm":
        from engram.adapters.minilm import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder()
    if choice == "offline":
        from engram.adapters.offline import OfflineEmbedder

        return OfflineEmbedder()
    from engram.adapters.openai import OpenAIEmbedder

    return OpenAIEmbedder(_openai_client(s), s.embedding_model, s.embedding_dimension)


@functools.cache
def llm() -> LLM:
    s = get_settings()
    if not s.use_openai:
        from engram.adapters.offline import OfflineLLM

        return OfflineLLM()
    from engram.adapters.openai import OpenAILLM

    return OpenAILLM(_openai_client(s), s.llm_model)


def _openai_client(s: Settings):  # noqa: ANN202 - returns openai.OpenAI, imported lazily
    from engram.adapters.openai import build_client

    return build_client(openai_api_key(s), s.openai_base_url, s.llm_timeout_seconds, s.llm_max_retries)


def openai_api_key(s: Settings) -> str | None:
    """``OPENAI_API_KEY`` when set (local runs), else the key in the ``ENGRAM_OPENAI_SECRET_ARN`` secret
    (deployed stacks: read through Powertools parameters, cached for ``secret_max_age_seconds``)."""
    if s.openai_api_key or not s.openai_secret_arn:
        return s.openai_api_key
    from engram.adapters.secrets import read_api_key

    return read_api_key(s.openai_secret_arn, s.secret_max_age_seconds)


@functools.cache
def workflow() -> WorkflowStarter:
    from engram.adapters.stepfunctions import StepFunctionsWorkflow

    s = get_settings()
    return StepFunctionsWorkflow(s.state_machine_arn, s.aws_region, s.aws_endpoint_url)


def consolidation_config() -> ConsolidationConfig:
    s = get_settings()
    return ConsolidationConfig(neighbours=s.consolidation_neighbours, min_similarity=s.consolidation_min_similarity)


def reset() -> None:
    """Forget every cached adapter and the settings (tests and the local stack, after changing env)."""
    get_settings.cache_clear()
    for factory in (clock, store, index, embedder, llm, workflow):
        factory.cache_clear()
