"""Payloads of the GenerateMemories state machine. Every Task receives and returns the same small
document (the conversation and results live in DynamoDB, never in the 256 KB state payload)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from engram.models.base import EngramModel


class StepInput(EngramModel):
    """``{"tenant_id", "operation_id"}`` plus, for RecordFailure, the caught ``error: {Error, Cause}``."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    operation_id: str
    error: dict[str, Any] | None = None


class StepOutput(EngramModel):
    """What every Task returns (the ASL passes ``$.Payload`` on): ``{"tenant_id", "operation_id"}``, which the
    next state reads, and ``count``, what the step produced: events loaded (LoadSource; for a request of
    pre-extracted facts, their number), candidates kept (Extract), memories changed (Consolidate) or
    confirmed in the index (Finalize); None for RecordFailure."""

    tenant_id: str
    operation_id: str
    count: int | None = None


class CompressOutput(StepOutput):
    """What the Compress Task returns: ``StepOutput`` (``count``: the memories the compression created)
    and ``more``, true when parts are left for another Compress invocation (the state machine's
    ``CompressDone`` choice runs it again)."""

    more: bool = False
