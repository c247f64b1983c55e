"""Memory lifecycle requests and answers: archiving a scope's memories into another scope
(``POST /v1/memories/archive``) and usage analytics (``GET /v1/stats``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator
from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

from engram.models.api import Filter
from engram.models.base import EngramModel
from engram.models.limits import StrictBool
from engram.models.scope import Scope, scope_hash


class ArchiveRequest(EngramModel):
    """``POST /v1/memories/archive``: move the live memories of ``scope`` that ``filter`` matches (none:
    all of them) to ``to_scope``, an archive collection (a scope like any other, matched exactly).
    ``force: false`` (default) only counts them."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    filter: Filter | None = None
    to_scope: Scope
    force: StrictBool = False

    @model_validator(mode="after")
    def _distinct(self) -> ArchiveRequest:
        if scope_hash(self.scope) == scope_hash(self.to_scope):
            raise ValueError("to_scope must differ from scope")
        return self


class ArchiveResponse(EngramModel):
    """What an archive did: ``archive_count`` memories moved by this request (dry run: that would be moved),
    ``done`` false when the request ran out of time before the end (send the same request again: it goes
    on with the memories still in ``scope``)."""

    archive_count: int = Field(description="Memories moved by this request, or that would be moved (dry run).")
    dry_run: bool
    done: bool = Field(description="False: more matching memories remain; send the same request again.")


#: Days a stats request may cover (``days``), and the values ``by_group`` lists at most.
MAX_STATS_DAYS = 366
MAX_GROUPS = 50


class PriceTable(EngramModel):
    """USD list prices ``estimated_cost_usd`` is computed with. Defaults: OpenAI's price page
    (https://openai.com/api/pricing, as of 2025) for gpt-4o-mini ($0.15 / $0.60 per million input / output
    tokens) and text-embedding-3-small ($0.02 per million tokens), the models Engram uses by default.
    Embedding tokens are not counted, only calls: each is priced as ``embedding_tokens_per_call`` tokens (an
    assumption: a generation embeds its candidate facts, up to 40 short sentences, in one call). Set
    ``ENGRAM_PRICE_TABLE`` (JSON with any of these fields) for other models or prices."""

    model_config = ConfigDict(extra="forbid")

    llm_input_usd_per_million: float = Field(default=0.15, ge=0)
    llm_output_usd_per_million: float = Field(default=0.60, ge=0)
    embedding_usd_per_million: float = Field(default=0.02, ge=0)
    embedding_tokens_per_call: int = Field(default=500, ge=0)

    def cost(self, input_tokens: int, output_tokens: int, embedding_calls: int) -> float:
        """Estimated USD, rounded to 6 decimals."""
        dollars = (
            input_tokens * self.llm_input_usd_per_million
            + output_tokens * self.llm_output_usd_per_million
            + embedding_calls * self.embedding_tokens_per_call * self.embedding_usd_per_million
        ) / 1_000_000
        return round(dollars, 6)


class DayCounts(EngramModel):
    """Memories created, updated (archived ones included, in the scope they moved to) and deleted on
    ``date`` (UTC)."""

    date: date
    created: int = 0
    updated: int = 0
    deleted: int = 0


class DayUsage(EngramModel):
    """Generations (``operations``) started on ``date`` (UTC) and what generation work that day cost: LLM
    calls and tokens, embedding calls, and their estimated cost in USD (``prices``)."""

    date: date
    operations: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    embedding_calls: int = 0
    estimated_cost_usd: float = 0.0


Counts = TypeAliasType(
    "Counts", Annotated[dict[str, int], Field(description="How many memories per name: {name: count}.")]
)


class StatsResponse(EngramModel):
    """``GET /v1/stats``: what a scope (or the tenant, ``scope`` null) stores and what it cost.

    ``total``: memories stored (expired ones count until the retention job deletes them); ``by_topic``:
    of them, per topic; ``by_group``: per value of ``group_by`` (``topic``, or ``metadata.<key>``: the top
    50 values, by count; ``by_group_complete`` false when only the newest memories were read); ``per_day``
    and ``usage_per_day``: the last ``days`` UTC days, oldest first, today included."""

    scope: Scope | None = None
    days: int
    total: int
    by_topic: Counts
    group_by: str | None = None
    by_group: Counts = Field(default_factory=dict)
    by_group_complete: bool = True
    per_day: list[DayCounts]
    usage_per_day: list[DayUsage]
    prices: PriceTable
