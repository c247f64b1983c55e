"""Memory compression (``POST /v1/memories/compress``): the live memories of a scope matching a filter are
grouped, and each group over its share of ``max_memories`` is summarized by the model into fewer memories.

It runs as an operation of the workflow (kind ``compress``: the Compress Task, then Finalize), like a
generation: the API records the operation and its request (``start_compression``); ``compress`` does the
work; Finalize waits for the index and marks it SUCCEEDED; RecordFailure marks it FAILED.

**Groups.** ``group_by: topic``: by a memory's first topic (memories without a topic form one group,
``topic:``); ``time_window``: by creation time, in UTC windows of ``window_hours`` counted from the epoch.
Inside a group memories are ordered oldest first (creation time, then id).

**Shares** (``shares``): a group of ``n`` of the ``N`` memories keeps ``max_memories × n / N`` memories,
rounded down, the remainder handed out one by one to the groups with the largest fractions (ties: the
group key); at least 1 and at most ``n``. With no more than ``max_memories`` memories in all, nothing is
compressed; with more groups than ``max_memories``, each keeps at least one, so more than ``max_memories``
remain (the report says how many).

**Parts** (``parts``): a group over its share is summarized in parts of at most ``MAX_PART`` (40)
memories, its share divided among them in proportion (at least 1 each), so one part's prompt stays small
and its writes fit in one DynamoDB transaction (40 deletions + at most 6 creations = 46 changes; a part
whose share is larger is split smaller). Every part is all or nothing, and is what the report counts as a
group. One LLM call per part (``LLM.compress``) and one embedding call for its new facts.

**Writes.** Per part, one transaction: the new memories (CREATED; ``source.memory_ids`` = the part's
memories, ``source.operation_id``; ``metadata`` = what every original shares plus ``compressed: true``
and ``original_count``; the originals' topics in order of appearance, up to 10; no expiry when an
original has none, else the latest) and the deletion of each original (a DELETED revision labelled
``compressed_into=<new ids, comma separated>``), each guarded by the version read when the plan was made,
with the usage counters. A part one of whose memories changed or was deleted meanwhile is left alone
(``groups_skipped``), as is a part the model answered with no fact or more than its share.

**Retries.** The plan (groups, member ids and versions, shares) is stored with the operation (``PLAN``)
the first time, so a retried or continued step works on the same parts; the new memories' ids derive from
the operation id and the part (``new_ids``), so a part whose first new memory has a revision is done and
never compressed twice. The step works until ``COMPRESS_SECONDS`` have passed, then returns ``more``: the
workflow runs it again. The result (new memories and the report) is recorded once, with the last write.

**Undo.** Each original keeps its revisions: rolling it back to its last revision before the deletion
(``POST /v1/memories/{id}/rollback``) restores its text; the new memory can then be deleted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engram.clock import new_id
from engram.errors import NotFound, ScopeBusy, StoreConflict
from engram.logic.config import expire_at, get_config
from engram.logic.generation.operations import COMPRESS, StepContext, get_operation, start_operation
from engram.logic.memories import is_live, revision_for
from engram.models.compression import CompressRequest, GroupBy
from engram.models.filters import parse as parse_filter
from engram.models.memory import (
    MAX_FACT_CHARS,
    MAX_METADATA_KEYS,
    MAX_TOPICS,
    Action,
    GeneratedMemory,
    Source,
    StoredMemory,
)
from engram.models.operation import CompressionReport, Operation, OperationDocument, OperationResult, Usage
from engram.models.prompts import CompressionPrompt
from engram.models.scope import scope_hash
from engram.ports import (
    LLM,
    Change,
    Clock,
    ConfigRepository,
    Embedder,
    LeaseRepository,
    MemoryRepository,
    OperationRepository,
    WorkflowStarter,
)

#: Memories of one part (one prompt, one transaction); changes per transaction: ``MAX_PART_CHANGES``.
MAX_PART = 40
MAX_PART_CHANGES = 46
#: Memories one compression reads (newest first); older ones are left as they are.
MAX_COMPRESS_MEMORIES = 2000
#: Seconds one Compress invocation works before handing over to the next (its Lambda has 900).
COMPRESS_SECONDS = 600.0
#: How long the scope's lease is taken for; renewed before each part.
LEASE_SECONDS = 120.0
#: Metadata every compressed memory gets (besides what its originals share).
COMPRESSED_KEYS = ("compressed", "original_count")


@dataclass(frozen=True)
class Part:
    """One unit of work: ``key`` (``<group key>#<part number>``), its memories' ``(id, version)`` as read,
    oldest first, and ``target``, how many memories it should become (its size when it is within it)."""

    key: str
    members: list[tuple[str, int]]
    target: int

    @property
    def over(self) -> bool:
        return len(self.members) > self.target


# --- API side -----------------------------------------------------------------------------------------


def start_compression(
    operations: OperationRepository,
    workflow: WorkflowStarter,
    clock: Clock,
    tenant_id: str,
    request: CompressRequest,
    configs: ConfigRepository | None = None,
    request_key: str | None = None,
) -> Operation:
    """Record a RUNNING compression operation with its request and start the workflow (kind ``compress``);
    returns the operation. Ids, idempotency (``request_key``), expiry and errors as
    ``engram.logic.generation.start_generation``; also ``InvalidInput`` (422) for a bad ``filter``,
    before anything is recorded."""
    parse_filter(request.filter)
    body = request.model_dump(mode="json", exclude={"wait_seconds"}, exclude_none=True)
    return start_operation(operations, workflow, clock, tenant_id, request.scope, body, configs, request_key, COMPRESS)


# --- pure: groups, shares, parts -----------------------------------------------------------------------


def group_key(memory: StoredMemory, request: CompressRequest) -> str:
    """``topic:<first topic>`` (``topic:`` without one) or ``window:<start, RFC 3339 UTC>``."""
    if request.group_by is GroupBy.TOPIC:
        return f"topic:{memory.topics[0] if memory.topics else ''}"
    width = 3600 * (request.window_hours or 1)
    start = int(memory.create_time.timestamp()) // width * width
    return f"window:{datetime.fromtimestamp(start, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def group_memories(memories: Sequence[StoredMemory], request: CompressRequest) -> dict[str, list[StoredMemory]]:
    """``{group key: memories, oldest first}``, groups in key order."""
    groups: dict[str, list[StoredMemory]] = {}
    for memory in sorted(memories, key=lambda m: (m.create_time, m.id)):
        groups.setdefault(group_key(memory, request), []).append(memory)
    return dict(sorted(groups.items()))


def shares(sizes: dict[str, int], max_memories: int) -> dict[str, int]:
    """How many memories each group keeps (see the module docstring): largest-remainder apportionment of
    ``max_memories`` by size, each at least 1 and at most its size; every group keeps all of them when
    the sizes add up to at most ``max_memories``."""
    total = sum(sizes.values())
    if total <= max_memories:
        return dict(sizes)
    exact = {key: max_memories * size / total for key, size in sizes.items()}
    kept = {key: int(value) for key, value in exact.items()}
    left = max_memories - sum(kept.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - kept[k]), k))[:left]:
        kept[key] += 1
    return {key: min(sizes[key], max(1, kept[key])) for key in sizes}


def parts(size: int, target: int) -> list[tuple[int, int]]:
    """``[(memories, target)]`` of each part of a group of ``size`` memories keeping ``target``: one part
    when ``size`` ≤ ``target`` or it fits (``MAX_PART`` memories, ``MAX_PART_CHANGES`` changes), else the
    fewest near-equal parts that fit, the target divided in proportion (largest remainder, at least 1)."""
    if size <= target:
        return [(size, size)]
    count = 1
    while True:
        sizes = [size // count + (1 if i < size % count else 0) for i in range(count)]
        targets = list(shares({str(i): n for i, n in enumerate(sizes)}, target).values())
        if all(n <= MAX_PART and n + t <= MAX_PART_CHANGES for n, t in zip(sizes, targets, strict=True)):
            return list(zip(sizes, targets, strict=True))
        count += 1


def plan(memories: Sequence[StoredMemory], request: CompressRequest) -> list[Part]:
    """The parts of ``memories`` (see the module docstring), in group-key order."""
    groups = group_memories(memories, request)
    kept = shares({key: len(group) for key, group in groups.items()}, request.max_memories)
    out: list[Part] = []
    for key, group in groups.items():
        start = 0
        for number, (size, target) in enumerate(parts(len(group), kept[key])):
            members = [(m.id, m.version) for m in group[start : start + size]]
            out.append(Part(key=f"{key}#{number}", members=members, target=target))
            start += size
    return out


def new_ids(operation_id: str, part: Part) -> list[str]:
    """The ids of the memories ``part`` may become (``part.target`` of them), derived from the operation
    and the part: 28 hex digits each (the shape of ``new_id``)."""
    seed = f"{operation_id}:{part.key}"
    return [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:28] for i in range(part.target)]


def merged_metadata(originals: Sequence[StoredMemory]) -> dict[str, Any]:
    """The metadata entries every original has with the same value (at most 18, by key), then
    ``compressed: true`` and ``original_count``."""
    first, rest = originals[0].metadata, originals[1:]
    shared = {
        key: value
        for key, value in sorted(first.items())
        if key not in COMPRESSED_KEYS and all(key in m.metadata and m.metadata[key] == value for m in rest)
    }
    kept = dict(list(shared.items())[: MAX_METADATA_KEYS - len(COMPRESSED_KEYS)])
    return {**kept, "compressed": True, "original_count": len(originals)}


def clean_facts(facts: Sequence[str]) -> list[str]:
    """Whitespace normalized, blank and repeated facts (ignoring case and a final period) dropped, each cut
    to 2,000 characters."""
    seen: set[str] = set()
    out = []
    for fact in facts:
        text = " ".join(fact.split())[:MAX_FACT_CHARS]
        key = text.lower().rstrip(".")
        if text and key not in seen:
            seen.add(key)
            out.append(text)
    return out


# --- the workflow step --------------------------------------------------------------------------------

#: Bytes of JSON the result's ``generated_memories`` may take (the operation item holds 400 KB); new
#: memories past it are stored but not listed (they carry ``source.operation_id``).
MAX_RESULT_BYTES = 200_000


def compress(
    operations: OperationRepository,
    memories: MemoryRepository,
    leases: LeaseRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    llm: LLM,
    clock: Clock,
    ctx: StepContext,
    seconds: float = COMPRESS_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[OperationResult | None, bool]:
    """Workflow step Compress: compress the parts of the operation's plan (see the module docstring) for
    up to ``seconds`` (at least one part); returns ``(result, more)``: ``more`` true (result None) when
    parts are left for the next invocation, else the result recorded on the operation (a retry after that
    returns it). Holds the scope's lease until Finalize.

    Raises ``ScopeBusy`` while another operation (or an archive) holds the scope's lease; ``NotFound``
    when the operation has no stored request; ``InvalidInput`` for a stored filter the store cannot run;
    the LLM's and embedder's errors (``LLMUnavailable``, ``LLMOutputInvalid``, ``EmbeddingUnavailable``)
    as they are (parts written before stay written; the workflow retries the step).
    """
    operation = get_operation(operations, ctx.tenant_id, ctx.operation_id)
    if operation.result is not None:
        return operation.result, False
    request = stored_compress_request(operations, ctx)
    hold_scope(leases, clock, ctx, request.scope)
    work = load_plan(operations, memories, clock, ctx, request)
    deadline, worked = monotonic() + seconds, False
    for part in work:
        if not part.over or is_done(memories, ctx, part):
            continue
        if worked and monotonic() >= deadline:
            return None, True
        hold_scope(leases, clock, ctx, request.scope)  # renewed: a part never runs on an expired lease
        compress_part(operations, memories, configs, embedder, llm, clock, ctx, request, part)
        worked = True
    result = compression_result(operations, memories, ctx, work)
    memories.apply_changes(ctx.tenant_id, [], operation_id=ctx.operation_id, result=result)
    return result, False


def stored_compress_request(operations: OperationRepository, ctx: StepContext) -> CompressRequest:
    """The request the compression was started with. Raises ``NotFound`` when it has none."""
    body = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.REQUEST)
    if body is None:
        raise NotFound(f"operation {ctx.operation_id} has no stored request")
    return CompressRequest.model_validate(body)


def hold_scope(leases: LeaseRepository, clock: Clock, ctx: StepContext, scope: dict[str, str]) -> None:
    """Take (or renew) the scope's lease for the operation; ``ScopeBusy`` while another holder has it."""
    if not leases.acquire(ctx.tenant_id, scope_hash(scope), ctx.operation_id, clock.now(), LEASE_SECONDS):
        raise ScopeBusy("another operation is changing this scope")


def load_plan(
    operations: OperationRepository,
    memories: MemoryRepository,
    clock: Clock,
    ctx: StepContext,
    request: CompressRequest,
) -> list[Part]:
    """The stored plan, or (first run) the plan of the scope's live matching memories (the newest
    ``MAX_COMPRESS_MEMORIES``), stored as ``PLAN`` before it is returned."""
    stored = operations.get_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.PLAN)
    if stored is not None:
        return [Part(key=p["key"], members=[(i, v) for i, v in p["members"]], target=p["target"]) for p in stored]
    node = parse_filter(request.filter)
    live: list[StoredMemory] = []
    for memory in memories.matching(ctx.tenant_id, request.scope, node):
        if is_live(memory, clock):
            live.append(memory)
            if len(live) == MAX_COMPRESS_MEMORIES:
                break
    work = plan(live, request)
    document = [{"key": p.key, "members": [list(m) for m in p.members], "target": p.target} for p in work]
    operations.put_blob(ctx.tenant_id, ctx.operation_id, OperationDocument.PLAN, document)
    return work


def is_done(memories: MemoryRepository, ctx: StepContext, part: Part) -> bool:
    """Whether an earlier invocation compressed ``part``: its first new memory has a revision (revisions
    outlive their memory, so this holds even after the new memory was deleted)."""
    return bool(memories.revisions(ctx.tenant_id, new_ids(ctx.operation_id, part)[0]))


def compress_part(
    operations: OperationRepository,
    memories: MemoryRepository,
    configs: ConfigRepository,
    embedder: Embedder,
    llm: LLM,
    clock: Clock,
    ctx: StepContext,
    request: CompressRequest,
    part: Part,
) -> bool:
    """Summarize ``part`` (one LLM call, one embedding call, their usage added to the operation) and write
    it in one transaction; True when written. False, writing nothing, when one of its memories is gone,
    expired or changed since the plan (before the call: no call is made; or during it: the guarded write
    fails), or when the model answered with no fact or more than ``part.target``."""
    originals = current_members(memories, clock, ctx, part)
    if originals is None:
        return False
    answer = llm.compress(CompressionPrompt(memories=[m.fact for m in originals], target=part.target))
    usage = Usage(llm_calls=1, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)
    facts = clean_facts(answer.output.facts)
    if not facts or len(facts) > part.target:
        operations.add_usage(ctx.tenant_id, ctx.operation_id, usage, clock.now())
        return False
    vectors = embedder.embed(facts)
    now = clock.now()
    operations.add_usage(ctx.tenant_id, ctx.operation_id, usage + Usage(embedding_calls=1), now)
    revision_expire = expire_at(now, get_config(configs, ctx.tenant_id).ttl.revision_ttl_seconds)
    created = new_memories(ctx, request, part, originals, facts, vectors, embedder.model_id, now)
    changes = [
        Change(Action.CREATED, memory, None, revision_for(memory, Action.CREATED, now, None, {}, revision_expire))
        for memory in created
    ]
    label = {"compressed_into": ",".join(m.id for m in created)}
    for original in originals:
        revision = revision_for(
            original, Action.DELETED, now, original.fact, label, revision_expire, operation_id=ctx.operation_id
        )
        changes.append(Change(Action.DELETED, None, original, revision))
    try:
        memories.apply_changes(ctx.tenant_id, changes)
    except StoreConflict:
        return False  # a memory of the part changed meanwhile: the part is left alone
    return True


def current_members(
    memories: MemoryRepository, clock: Clock, ctx: StepContext, part: Part
) -> list[StoredMemory] | None:
    """The part's memories as stored now, oldest first, or None when one is gone, expired or not at the
    version the plan read."""
    found = memories.get_many(ctx.tenant_id, [memory_id for memory_id, _ in part.members])
    current = []
    for memory_id, version in part.members:
        memory = found.get(memory_id)
        if memory is None or memory.version != version or not is_live(memory, clock):
            return None
        current.append(memory)
    return current


def new_memories(
    ctx: StepContext,
    request: CompressRequest,
    part: Part,
    originals: Sequence[StoredMemory],
    facts: Sequence[str],
    vectors: Sequence[list[float]],
    embedding_model: str,
    now: datetime,
) -> list[StoredMemory]:
    """The memories replacing ``originals`` (see the module docstring), one per fact, with ``new_ids``."""
    topics = list(dict.fromkeys(t for m in originals for t in m.topics))[:MAX_TOPICS]
    expiries = [m.expire_time for m in originals]
    expire_time = None if any(e is None for e in expiries) else max(e for e in expiries if e is not None)
    source = Source(operation_id=ctx.operation_id, memory_ids=[m.id for m in originals])
    return [
        StoredMemory(
            id=memory_id,
            tenant_id=ctx.tenant_id,
            scope=dict(request.scope),
            fact=fact,
            topics=topics,
            metadata=merged_metadata(originals),
            create_time=now,
            update_time=now,
            expire_time=expire_time,
            revision_id=new_id(),
            source=source,
            embedding=vector,
            embedding_model=embedding_model,
        )
        for memory_id, fact, vector in zip(new_ids(ctx.operation_id, part), facts, vectors, strict=False)
    ]


def compression_result(
    operations: OperationRepository, memories: MemoryRepository, ctx: StepContext, work: Sequence[Part]
) -> OperationResult:
    """The result: the new memories (CREATED; as many as fit in ``MAX_RESULT_BYTES``) and the report, read
    from the store (a part is compressed when its new memories exist, or its first one has a revision)."""
    over = [part for part in work if part.over]
    ids = {part.key: new_ids(ctx.operation_id, part) for part in over}
    found = memories.get_many(ctx.tenant_id, [i for part_ids in ids.values() for i in part_ids])
    before = sum(len(part.members) for part in work)
    after, compressed, listed, size = before, 0, [], 0
    for part in over:
        created = [found[i] for i in ids[part.key] if i in found]
        if not created and not is_done(memories, ctx, part):
            continue
        compressed += 1
        after += len(created) - len(part.members)
        for memory in created:
            generated = GeneratedMemory(memory=memory.public(), action=Action.CREATED)
            size += len(generated.model_dump_json())
            if size <= MAX_RESULT_BYTES:
                listed.append(generated)
    usage = get_operation(operations, ctx.tenant_id, ctx.operation_id).usage
    report = CompressionReport(
        groups=len(work),
        groups_compressed=compressed,
        groups_skipped=len(over) - compressed,
        memories_before=before,
        memories_after=after,
        llm_calls=usage.llm_calls,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
    )
    return OperationResult(generated_memories=listed, compression=report)
