"""Memory compression (``POST /v1/memories/compress``): the request, and what the model answers for one
group (``CompressionOutput``). The work is ``engram.logic.compression``; the report is
``engram.models.operation.CompressionReport``."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from engram.models.api import MAX_WAIT_SECONDS, Filter
from engram.models.base import EngramModel
from engram.models.limits import StrictFloat, StrictInt
from engram.models.scope import Scope

#: The largest ``max_memories`` a request may ask for, and the longest ``window_hours`` (a year).
MAX_COMPRESS_TARGET = 10_000
MAX_WINDOW_HOURS = 8_760


class GroupBy(StrEnum):
    """How a compression groups memories: ``topic`` (by a memory's first topic; memories without one form
    one group) or ``time_window`` (by creation time, in UTC windows of ``window_hours`` from the epoch)."""

    TOPIC = "topic"
    TIME_WINDOW = "time_window"


class CompressRequest(EngramModel):
    """``POST /v1/memories/compress``: summarize the live memories of ``scope`` that ``filter`` matches
    (none: all) into fewer, so that about ``max_memories`` (1-10,000) remain, group by group.

    ``group_by``: ``topic`` or ``time_window`` (then ``window_hours``, 1-8,760, is required; with ``topic``
    it must be absent). Each group keeps its proportional share of ``max_memories`` (at least 1); a group
    over its share is summarized by the model into at most that many memories. ``wait_seconds`` (0-25):
    wait up to that long for the operation to finish (200), else return it running (202)."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    filter: Filter | None = None
    max_memories: StrictInt = Field(
        ge=1, le=MAX_COMPRESS_TARGET, description="How many memories should remain in all, 1-10000."
    )
    group_by: GroupBy = Field(description="'topic' (first topic) or 'time_window' (creation time).")
    window_hours: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_WINDOW_HOURS,
        description="time_window only (required there): hours per window, 1-8760; windows start at the epoch (UTC).",
    )
    wait_seconds: StrictFloat = Field(default=0, ge=0, le=MAX_WAIT_SECONDS)

    @model_validator(mode="after")
    def _window(self) -> CompressRequest:
        if self.group_by is GroupBy.TIME_WINDOW and self.window_hours is None:
            raise ValueError("window_hours is required with group_by 'time_window'")
        if self.group_by is GroupBy.TOPIC and self.window_hours is not None:
            raise ValueError("window_hours applies only to group_by 'time_window'")
        return self


class CompressionOutput(EngramModel):
    """The model's answer for one group: the facts replacing its memories (at most the target asked)."""

    model_config = ConfigDict(extra="forbid")

    facts: list[str] = Field(description="The summarized facts, each one self-contained sentence or short paragraph.")
