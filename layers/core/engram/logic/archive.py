"""Archiving (``POST /v1/memories/archive``): moving the matching memories of a scope to another scope (an
archive collection) without losing anything about them.

Each memory keeps its id, its revisions, its fact, topics, provenance (``source``), creation and expiry
times; it gets ``metadata.archived = true``, a new revision id and one ``ARCHIVED`` revision labelled with
the scope hashes it moved between (``from_scope``, ``to_scope``: 32 hex digits of SHA-256 over each scope's
canonical JSON). A memory's scope is an attribute of its item (and of its scope index keys), so a move is
an update of the same item, guarded by its version like any other; the index follows through the stream.

The memories are moved in blocks of ``ARCHIVE_BLOCK``, each one atomic write (all or nothing), while the
per-scope leases of both scopes are held, so an archive never interleaves with a generation's
consolidation of either scope. Nothing is remembered between requests: a moved memory is no longer in
``scope``, so sending the same request again goes on with what is left (after a failure, or when the
time budget ran out), and once everything moved it moves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

from engram.clock import new_id
from engram.errors import ScopeBusy
from engram.logic.config import expire_at, get_config
from engram.logic.memories import is_live, revision_for
from engram.models.filters import parse as parse_filter
from engram.models.lifecycle import ArchiveRequest, ArchiveResponse
from engram.models.memory import Action, StoredMemory
from engram.models.scope import scope_hash
from engram.ports import Change, Clock, ConfigRepository, LeaseRepository, MemoryRepository

#: Memories moved per atomic write: 50 of a transaction's 100 items (memory and revision each).
ARCHIVE_BLOCK = 25
#: Seconds an archive works within one API request (the API function has 30 s, API Gateway waits 29 s).
ARCHIVE_SECONDS = 20.0
#: How long the leases are taken for; renewed before each block, so a dead request frees them soon.
LEASE_SECONDS = 60.0


def archive(
    memories: MemoryRepository,
    configs: ConfigRepository,
    leases: LeaseRepository,
    clock: Clock,
    tenant_id: str,
    request: ArchiveRequest,
    deadline: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> ArchiveResponse:
    """Move (``force``) or count (dry run) the live memories of ``request.scope`` matching ``request.filter``
    to ``request.to_scope`` (see the module docstring), until done or ``deadline`` (a ``monotonic()`` time).

    Raises ``InvalidInput`` for a bad filter, ``ScopeBusy`` (503, retry) while a generation or another
    archive holds the lease of either scope, ``StoreConflict`` when a memory changed while its block was
    written (that block wrote nothing; the blocks before it stay moved; send the request again).
    """
    node = parse_filter(request.filter)
    if not request.force:
        count = memories.count(tenant_id, request.scope, node, clock.now())
        return ArchiveResponse(archive_count=count, dry_run=True, done=True)
    holder = f"archive-{new_id()}"
    keys = sorted({scope_hash(request.scope), scope_hash(request.to_scope)})  # one order: no deadlock
    try:
        for key in keys:
            _take(leases, clock, tenant_id, key, holder)
        moved, done = _move(memories, configs, leases, clock, tenant_id, request, keys, holder, deadline, monotonic)
    finally:
        for key in keys:
            leases.release(tenant_id, key, holder)
    return ArchiveResponse(archive_count=moved, dry_run=False, done=done)


def _take(leases: LeaseRepository, clock: Clock, tenant_id: str, key: str, holder: str) -> None:
    if not leases.acquire(tenant_id, key, holder, clock.now(), LEASE_SECONDS):
        raise ScopeBusy(f"the lease of scope {key} is held by another writer")


def _move(
    memories: MemoryRepository,
    configs: ConfigRepository,
    leases: LeaseRepository,
    clock: Clock,
    tenant_id: str,
    request: ArchiveRequest,
    keys: list[str],
    holder: str,
    deadline: float | None,
    monotonic: Callable[[], float],
) -> tuple[int, bool]:
    """Move block after block while time is left (the first block always: every request makes progress);
    returns ``(moved, done)``."""
    moved = 0
    for block in _blocks(memories, clock, tenant_id, request):
        if moved and deadline is not None and monotonic() >= deadline:
            return moved, False
        for key in keys:  # renew both leases: a block never runs on an expired lease
            _take(leases, clock, tenant_id, key, holder)
        now = clock.now()
        revision_expire = _revision_expiry(configs, tenant_id, now)
        changes = [archived_change(memory, request, now, revision_expire) for memory in block]
        memories.apply_changes(tenant_id, changes)
        moved += len(changes)
    return moved, True


def _blocks(
    memories: MemoryRepository, clock: Clock, tenant_id: str, request: ArchiveRequest
) -> Iterator[list[StoredMemory]]:
    """The live matching memories of the scope, ``ARCHIVE_BLOCK`` at a time (newest first)."""
    block: list[StoredMemory] = []
    for memory in memories.matching(tenant_id, request.scope, parse_filter(request.filter)):
        if not is_live(memory, clock):
            continue
        block.append(memory)
        if len(block) == ARCHIVE_BLOCK:
            yield block
            block = []
    if block:
        yield block


def archived_change(
    memory: StoredMemory, request: ArchiveRequest, now: datetime, revision_expire: datetime | None
) -> Change:
    """The write moving ``memory`` to ``request.to_scope``: the same item (id, fact, topics, source, create
    and expire times) with the new scope, ``metadata.archived = true``, ``update_time`` ``now`` and a new
    revision id; and its ``ARCHIVED`` revision labelled ``from_scope``/``to_scope`` (scope hashes)."""
    after = memory.model_copy(
        update={
            "scope": dict(request.to_scope),
            "metadata": {**memory.metadata, "archived": True},
            "update_time": now,
            "revision_id": new_id(),
        }
    )
    labels = {"from_scope": scope_hash(request.scope), "to_scope": scope_hash(request.to_scope)}
    revision = revision_for(after, Action.ARCHIVED, now, memory.fact, labels, revision_expire)
    return Change(Action.UPDATED, after, memory, revision)


def _revision_expiry(configs: ConfigRepository, tenant_id: str, now: datetime) -> datetime | None:
    return expire_at(now, get_config(configs, tenant_id).ttl.revision_ttl_seconds)
