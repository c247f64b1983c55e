"""Forgetting a scope (``POST /v1/forget``): everything Engram stored for it, and the events of the sessions
named, deleted for good, with a receipt that holds no content.

What is deleted, in this order (``ForgetRepository.owned``):

1. the scope's operations (generations), each with its stored documents: the request (the raw
   conversation), the loaded source and the candidate facts. An operation still running loses its item
   first, so it can no longer write memories (its Consolidate step needs the operation);
2. the scope's memories (also expired ones), each after its revisions; their index entries are removed
   with them (at once, and again through the stream);
3. the scope's other revisions (of memories deleted before: their facts outlive them for the revision TTL);
4. the events of ``session_ids``;
5. the stored responses of requests sent with an ``Idempotency-Key`` that named the scope (in their
   request or response: a replay would return forgotten content), so such a re-send runs again.

Deleted memories leave the usage counters (``GET /v1/stats``) in the writes that delete them: the
scope's and the tenant's ``total`` and topics go down, and ``deleted`` counts them on the forget's day.

Each batch of up to ``FORGET_BATCH`` items is deleted in one atomic write together with the receipt's
counts, so the counts are exact and an interrupted forget loses nothing: sending the same request again
(same scope and session ids) resumes the receipt in progress, and a forget that does not finish within
its time budget returns its receipt with ``completed_at`` null, to be resumed the same way. Once
completed, the same request starts a new forget (of what was stored since).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from engram.clock import new_id
from engram.errors import NotFound, RetryableError
from engram.models.forget import ForgetReceipt, ForgetRequest
from engram.models.scope import canonical_scope, scope_hash
from engram.ports import FORGET_BATCH, Clock, ForgetRepository, VectorIndex

#: Seconds a forget works within one API request (the API function has 30 s, API Gateway waits 29 s).
FORGET_SECONDS = 20.0
#: Batches in a row that find items but delete none (an index still listing deleted items) before giving up.
MAX_IDLE_BATCHES = 3


def request_hash(request: ForgetRequest) -> str:
    """32 hex digits of SHA-256 over the canonical scope and the sorted session ids: what makes two forget
    requests the same forget."""
    text = json.dumps([canonical_scope(request.scope), sorted(request.session_ids)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def forget(
    forgets: ForgetRepository,
    index: VectorIndex,
    clock: Clock,
    tenant_id: str,
    request: ForgetRequest,
    deadline: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> ForgetReceipt:
    """Forget ``request.scope`` and ``request.session_ids`` (see the module docstring); returns the receipt,
    completed, or in progress (``completed_at`` None) when ``deadline`` (a ``monotonic()`` time) passed.

    Raises ``IndexUnavailable`` (503) when the index cannot be asked which memories it holds, and
    ``RetryableError`` (503) when batches keep finding only items already gone; both leave the receipt in
    progress, and the same request resumes it.
    """
    hashed = request_hash(request)
    receipt = forgets.begin(tenant_id, hashed, scope_hash(request.scope), new_id(), clock.now())
    idle = 0
    while deadline is None or monotonic() < deadline:
        items = forgets.owned(tenant_id, request.scope, request.session_ids, FORGET_BATCH)
        if not items:
            return forgets.finish(tenant_id, receipt.receipt_id, hashed, clock.now())
        memory_ids = [item.memory_id for item in items if item.kind == "memory" and item.memory_id]
        indexed = len(index.revisions(tenant_id, memory_ids)) if memory_ids else 0
        deleted = forgets.delete(tenant_id, receipt.receipt_id, items, indexed, clock.now())
        if memory_ids:
            index.delete(tenant_id, memory_ids)
        idle = 0 if deleted else idle + 1
        if idle >= MAX_IDLE_BATCHES:
            raise RetryableError("the forget keeps finding items already deleted; send the same request again")
    return get_receipt(forgets, tenant_id, receipt.receipt_id)


def get_receipt(forgets: ForgetRepository, tenant_id: str, receipt_id: str) -> ForgetReceipt:
    """The receipt. Raises ``NotFound`` when it does not exist for this tenant."""
    receipt = forgets.receipt(tenant_id, receipt_id)
    if receipt is None:
        raise NotFound(f"forget receipt {receipt_id} not found")
    return receipt
