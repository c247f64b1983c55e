"""Long-running operations (like Memory Bank's LROs): returned at once by generate, updated by the
workflow, polled with ``GET /v1/operations/{id}``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from engram.models.base import EngramModel
from engram.models.memory import GeneratedMemory


class OperationStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class OperationDocument(StrEnum):
    """Names of the JSON documents stored with an operation (``OperationRepository.get_blob``/``put_blob``).

    - ``REQUEST`` (``"REQ"``): the generate request, stored by ``OperationRepository.create``.
    - ``SOURCE``: the conversation events LoadSource produced (a list of ``ConversationEvent`` dicts).
    - ``CANDIDATES`` (``"CAND"``): the facts Extract kept (a list of ``CandidateFact`` dicts).
    - ``PLAN``: a compression's groups as first read (``engram.logic.compression``), so a retried or
      continued step works on the same groups.
    """

    REQUEST = "REQ"
    SOURCE = "SOURCE"
    CANDIDATES = "CAND"
    PLAN = "PLAN"


class OperationError(EngramModel):
    """Why an operation failed: ``code`` is the error class (e.g. ``LLMUnavailable``), ``message`` its text."""

    code: str
    message: str


class Usage(EngramModel):
    """What a generation cost: LLM calls and tokens, embedding calls."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    embedding_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            embedding_calls=self.embedding_calls + other.embedding_calls,
        )


class CompressionReport(EngramModel):
    """What a compression (``POST /v1/memories/compress``) did. ``groups``: the groups its memories fell
    into (a group of more than 40 memories over its share counts as its parts, each compressed on its
    own); ``groups_compressed``: groups summarized into fewer memories; ``groups_skipped``: groups over
    their share left alone (a memory of it changed or was deleted meanwhile, or the model's answer was
    unusable); ``memories_before``/``memories_after``: the matching memories before and after; LLM calls
    and tokens of the summaries (also in the operation's ``usage``)."""

    groups: int = 0
    groups_compressed: int = 0
    groups_skipped: int = 0
    memories_before: int = 0
    memories_after: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class OperationResult(EngramModel):
    """What an operation stored. A generation: its changes (``generated_memories``). A compression: the
    memories it created (``generated_memories``, CREATED; each names the memories it replaced in
    ``source.memory_ids``) and its ``compression`` report."""

    generated_memories: list[GeneratedMemory] = Field(default_factory=list)
    compression: CompressionReport | None = None


class Operation(EngramModel):
    """``id, status, create_time, update_time, error?, result?, usage, index_pending``.

    ``status``: ``RUNNING``, then ``SUCCEEDED`` (its changes are stored: ``result``) or ``FAILED`` (nothing
    was stored: ``error`` says why; a new generation may be started). ``SUCCEEDED`` with ``index_pending``
    true: the changes are stored and served by get and list, but when the operation finished the search
    index did not show all of them yet (it lagged, or failed after the changes were written); search
    returns them once the index catches up. It is never reported as FAILED: do not retry it, that would
    store its memories twice.
    """

    id: str
    status: OperationStatus
    create_time: datetime
    update_time: datetime
    error: OperationError | None = None
    result: OperationResult | None = None
    usage: Usage = Field(default_factory=Usage)
    index_pending: bool = Field(
        default=False,
        description="SUCCEEDED only: the changes are stored, but search did not yet return all of them when "
        "the operation finished; they reach search when the index catches up. Do not retry: it succeeded.",
    )

    @property
    def done(self) -> bool:
        return self.status is not OperationStatus.RUNNING
