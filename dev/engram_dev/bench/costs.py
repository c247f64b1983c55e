"""The cost model of ``engram bench generation``: dollars per 1,000 generations on AWS from the counts
the benchmark measured, at assumed list prices (printed with every result; check them against the
current AWS and OpenAI price pages before relying on them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Prices:
    """Assumed on-demand list prices, us-east-1 (USD)."""

    lambda_gb_second: float = 0.0000133334  # arm64 (the template's architecture)
    lambda_per_million_requests: float = 0.20
    step_functions_per_1000_transitions: float = 0.025  # Standard workflows
    dynamodb_per_million_write_units: float = 0.625  # on-demand
    dynamodb_per_million_read_units: float = 0.125  # on-demand
    api_gateway_per_million_requests: float = 3.50  # REST API, first tier
    llm_per_million_input_tokens: float = 0.15  # gpt-4o-mini
    llm_per_million_output_tokens: float = 0.60  # gpt-4o-mini
    embedding_per_million_tokens: float = 0.02  # text-embedding-3-small
    opensearch_serverless_ocu_hour: float = 0.24  # billed by capacity, not per request
    opensearch_serverless_min_ocus: float = 1.0  # 0.5 indexing + 0.5 search, redundancy off (dev/test)
    opensearch_t3_small_hour: float = 0.036  # managed domain, t3.small.search, one node

    def lines(self) -> list[str]:
        return [
            f"Lambda: ${self.lambda_gb_second:.10f} per GB-second (arm64), "
            f"${self.lambda_per_million_requests:.2f} per million requests",
            f"Step Functions Standard: ${self.step_functions_per_1000_transitions:.3f} per 1,000 state transitions",
            f"DynamoDB on-demand: ${self.dynamodb_per_million_write_units:.3f} per million write request units, "
            f"${self.dynamodb_per_million_read_units:.3f} per million read request units (stream reads by Lambda free)",
            f"API Gateway REST: ${self.api_gateway_per_million_requests:.2f} per million requests",
            f"LLM gpt-4o-mini: ${self.llm_per_million_input_tokens:.2f} / ${self.llm_per_million_output_tokens:.2f} "
            "per million input / output tokens",
            f"Embeddings text-embedding-3-small: ${self.embedding_per_million_tokens:.2f} per million tokens",
            f"OpenSearch (capacity, not per request): Serverless ${self.opensearch_serverless_ocu_hour:.2f} per "
            f"OCU-hour, at least {self.opensearch_serverless_min_ocus:g} OCU "
            f"(${self.opensearch_serverless_monthly:,.0f}/month); or a t3.small.search domain "
            f"${self.opensearch_t3_small_hour:.3f}/hour (${self.opensearch_t3_small_monthly:,.0f}/month)",
        ]

    @property
    def opensearch_serverless_monthly(self) -> float:
        return self.opensearch_serverless_ocu_hour * self.opensearch_serverless_min_ocus * 730

    @property
    def opensearch_t3_small_monthly(self) -> float:
        return self.opensearch_t3_small_hour * 730


@dataclass(frozen=True)
class GenerationCounts:
    """What one generation used, on average (the benchmark's measurements plus assumed latencies)."""

    lambda_invocations: float
    lambda_gb_seconds: float
    state_transitions: float
    api_requests: float
    dynamodb_read_units: float
    dynamodb_write_units: float  # table and index writes
    llm_input_tokens: float
    llm_output_tokens: float
    embedding_tokens: float


def cost_per_1000(counts: GenerationCounts, prices: Prices = Prices()) -> dict[str, float]:
    """Dollars per 1,000 generations, by service, and their ``total`` (OpenSearch excluded: capacity)."""
    n = 1000.0
    costs = {
        "Lambda": n
        * (
            counts.lambda_gb_seconds * prices.lambda_gb_second
            + counts.lambda_invocations * prices.lambda_per_million_requests / 1e6
        ),
        "Step Functions": n * counts.state_transitions * prices.step_functions_per_1000_transitions / 1000,
        "DynamoDB": n
        * (
            counts.dynamodb_write_units * prices.dynamodb_per_million_write_units / 1e6
            + counts.dynamodb_read_units * prices.dynamodb_per_million_read_units / 1e6
        ),
        "API Gateway": n * counts.api_requests * prices.api_gateway_per_million_requests / 1e6,
        "LLM tokens": n
        * (
            counts.llm_input_tokens * prices.llm_per_million_input_tokens / 1e6
            + counts.llm_output_tokens * prices.llm_per_million_output_tokens / 1e6
        ),
        "Embedding tokens": n * counts.embedding_tokens * prices.embedding_per_million_tokens / 1e6,
    }
    costs["total"] = sum(costs.values())
    return costs


def prices_document(prices: Prices = Prices()) -> dict[str, Any]:
    return asdict(prices)
