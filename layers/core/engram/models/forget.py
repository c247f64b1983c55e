"""Forgetting a scope (``POST /v1/forget``): the request, and the receipt that proves it was done without
holding anything that was forgotten."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, field_validator

from engram.models.base import EngramModel
from engram.models.identifiers import ResourceId, SessionId
from engram.models.scope import Scope

MAX_FORGET_SESSIONS = 100


class ForgetRequest(EngramModel):
    """``POST /v1/forget``: forget everything stored for ``scope`` (matched exactly, as everywhere), and
    the events of the sessions ``session_ids`` (0-100 session ids; sessions have no scope, so they are
    named)."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope
    session_ids: list[SessionId] = Field(
        default_factory=list, max_length=MAX_FORGET_SESSIONS, description="Sessions whose events to delete."
    )

    @field_validator("session_ids")
    @classmethod
    def _unique(cls, session_ids: list[str]) -> list[str]:
        return sorted(set(session_ids))


class ForgetCounts(EngramModel):
    """What a forget deleted, by kind. ``blobs``: the documents stored with the operations (request,
    conversation source, candidate facts); ``index_documents``: the search index entries of the
    memories, removed with them; ``idempotency_records``: the stored responses of requests sent with an
    ``Idempotency-Key`` whose request or response named the scope (a re-send with such a key runs again)."""

    memories: int = 0
    revisions: int = 0
    operations: int = 0
    blobs: int = 0
    session_events: int = 0
    index_documents: int = 0
    idempotency_records: int = 0


class ForgetReceipt(EngramModel):
    """The record of a forget, kept after it (``GET /v1/forget/{receipt_id}``). It holds no content: the
    scope only as ``scope_hash`` (32 hex digits of SHA-256 over the canonical scope), what was deleted as
    counts, and when. ``completed_at`` is null while the forget is in progress (send the same request
    again to continue it)."""

    receipt_id: ResourceId
    scope_hash: str = Field(description="32 hex digits of SHA-256 over the scope's canonical JSON.")
    counts: ForgetCounts = Field(default_factory=ForgetCounts)
    requested_at: datetime
    completed_at: datetime | None = None
