"""``engram bench ingest``: how fast the embedded local stack stores memories, what it writes to disk and
how much memory it holds, beside the raw speed of its emulator in the same run.

One in-process local stack (``engram_dev.stack.LocalStack``, exactly what ``engram local`` runs) in a
fresh temporary data directory, the offline embedder, one client on loopback. Phases, in order:

- ``emulator puts``: the baseline. ``PutItem`` of items the size of a memory item (the same fact and a
  base64 embedding of the offline size) into a table of their own without a stream, one request at a
  time through boto3: the emulator's own put rate, no Engram code.
- ``batch create``: ``--memories`` memories through ``POST /v1/memories/batch``, ``--batch`` per
  request, one request after the other; then the wait until the index holds all of them.
- ``single create``: ``--single`` memories through ``POST /v1/memories``, one request at a time.

The facts are LOCOMO turns (``"<speaker>: <text>"``) from ``--data`` (default
``/work/shared/eval/locomo`` when it exists; the data is read where it is, never copied), repeated with
a ``(#n)`` suffix when more are needed, or synthetic sentences without data. Memories go into one scope
per conversation.

Per phase: items/s (API answers; for batch create also "indexed/s", until the index holds every
memory), HTTP statuses (a ``409``/``503`` from this lone client is a spurious conflict), bytes this
process wrote to storage (``write_bytes`` of ``/proc/self/io``; 0 where the platform has no such file),
bytes written per memory, the resident set size after the phase, and the process's peak RSS
(``ru_maxrss``). ``--profile-memory`` also prints the 15 largest live allocation sites (``tracemalloc``,
which slows the run several times) after the batch phase.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from engram_dev.bench.common import environment, table, write_json

DEFAULT_DATA = Path("/work/shared/eval/locomo")
MIB = 1024 * 1024


@dataclass(frozen=True)
class IngestOptions:
    """``memories`` by batch create (``batch`` per request), ``single`` one at a time, ``baseline`` raw
    emulator puts; ``data``: a LOCOMO folder or None for synthetic facts."""

    memories: int = 5000
    batch: int = 100
    single: int = 500
    baseline: int = 2000
    data: str | None = None
    profile_memory: bool = False
    index_timeout: float = 600.0


def io_write_bytes() -> int:
    """Bytes this process has caused to be written to storage (``/proc/self/io`` ``write_bytes``), or 0."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds() -> float:
    """CPU time this process has used (user + system, all threads), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    """The process's resident set size now (``/proc/self/statm``), or its peak where that is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The process's peak resident set size (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def facts(data: str | None) -> Iterator[tuple[str, str]]:
    """Endless ``(conversation, fact)`` pairs: LOCOMO turns of ``data`` (repeated with a ``(#n)`` suffix
    once used up), or synthetic sentences when ``data`` is None."""
    if data is None:
        subjects = ("I", "My sister", "Our neighbour", "My manager", "The team")
        verbs = ("visited", "painted", "cooked", "read about", "talked about", "planned")
        objects = ("Lisbon", "a jazz concert", "the old bridge", "ramen", "a hiking trail", "chess openings")
        for n in itertools.count():
            yield (
                f"synthetic-{n % 10}",
                f"{subjects[n % 5]} {verbs[n // 5 % 6]} {objects[n // 30 % 6]} on day {n}.",
            )
        return
    from engram_dev.bench.locomo import load_dataset

    conversations = load_dataset(data)
    for round_number in itertools.count():
        suffix = f" (#{round_number + 1})" if round_number else ""
        for conversation in conversations:
            for turn in conversation.turns:
                yield conversation.name, turn.memory_text + suffix


@dataclass
class Phase:
    """What one phase did and cost."""

    name: str
    items: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    indexed_seconds: float | None = None
    write_bytes: int = 0
    rss_after: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    def row(self) -> list[Any]:
        rate = self.items / self.seconds if self.seconds else 0.0
        indexed = (
            f"{self.items / self.indexed_seconds:,.0f}" if self.indexed_seconds else "-"
        )  # items per second until the index holds them all
        statuses = " ".join(f"{s}x{n}" for s, n in sorted(self.statuses.items())) or "-"
        per_item = self.write_bytes / self.items if self.items else 0.0
        per_cpu = self.items / self.cpu_seconds if self.cpu_seconds else 0.0
        return [
            self.name,
            self.items,
            f"{self.seconds:,.1f}",
            f"{rate:,.0f}",
            indexed,
            f"{self.cpu_seconds:,.1f}",
            f"{per_cpu:,.0f}",
            statuses,
            f"{self.write_bytes / MIB:,.1f}",
            f"{per_item / 1024:,.1f}",
            f"{self.rss_after / MIB:,.0f}",
        ]

    def document(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "items_per_second": round(self.items / self.seconds, 1) if self.seconds else 0.0,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "indexed_seconds": round(self.indexed_seconds, 3) if self.indexed_seconds is not None else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "write_bytes": self.write_bytes,
            "rss_after_bytes": self.rss_after,
        }


def run(options: IngestOptions = IngestOptions(), out: TextIO = sys.stdout) -> dict[str, Any]:
    """Run the phases on a fresh local stack, print the table and return the figures (``--json``)."""
    from engram_dev.stack import LocalStack

    if options.profile_memory:
        import tracemalloc

        tracemalloc.start(8)
    source = iter(facts(options.data))
    run_id = uuid.uuid4().hex[:8]
    phases: list[Phase] = []
    started_rss = rss_bytes()
    with (
        tempfile.TemporaryDirectory(prefix="engram-bench-ingest-") as folder,
        environment(ENGRAM_PROVIDER="offline", ENGRAM_EMBEDDER="offline"),
        LocalStack(data_dir=folder, fresh=True) as stack,
    ):
        from engram_dev.client import EngramClient

        client = EngramClient(stack.api_url, stack.api_key or "", timeout=600)
        client.create({"bench": "warm-up"}, "warm-up memory")  # loads the handlers: not measured
        phases.append(_baseline(stack, options.baseline, next(source)[1]))
        phases.append(_batch_create(stack, client, source, run_id, options))
        if options.profile_memory:
            _print_allocations(out)
        phases.append(_single_create(client, source, run_id, options.single))
        data_dir_bytes = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    figures = {
        "source": f"LOCOMO turns from {options.data}" if options.data else "synthetic facts",
        "phases": {p.name: p.document() for p in phases},
        "rss_at_start_bytes": started_rss,
        "peak_rss_bytes": peak_rss_bytes(),
        "data_dir_bytes": data_dir_bytes,
    }
    _print(phases, figures, out)
    return figures


class _Meter:
    """Measures a phase: time, storage bytes written, RSS after."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    def __enter__(self) -> Phase:
        self._bytes, self._started, self._cpu = io_write_bytes(), time.perf_counter(), cpu_seconds()
        return self.phase

    def __exit__(self, *exc: Any) -> None:
        self.phase.seconds = time.perf_counter() - self._started
        self.phase.cpu_seconds = cpu_seconds() - self._cpu
        self.phase.write_bytes = io_write_bytes() - self._bytes
        self.phase.rss_after = rss_bytes()


def _baseline(stack: Any, count: int, fact: str) -> Phase:
    """``count`` raw ``PutItem`` requests of memory-sized items to a stream-less table of the emulator."""
    import base64

    from engram import wiring

    ddb = stack.emulator.client("dynamodb")
    name = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    )
    vector = wiring.dependencies().embedder.embed([fact])[0]
    embedding = base64.b64encode(bytes(4 * len(vector))).decode()
    phase = Phase("emulator puts (baseline)")
    with _Meter(phase):
        for n in range(count):
            item = {"PK": {"S": f"T#bench#M#{n:08d}"}, "SK": {"S": "M"}, "fact": {"S": fact}, "e": {"B": embedding}}
            ddb.put_item(TableName=name, Item=item)
            phase.items += 1
            phase.statuses[200] += 1
    ddb.delete_table(TableName=name)
    return phase


def _batch_create(
    stack: Any, client: Any, source: Iterator[tuple[str, str]], run_id: str, options: IngestOptions
) -> Phase:
    from engram import wiring

    from engram_dev.local_index import LocalIndex

    index = wiring.dependencies().index
    assert isinstance(index, LocalIndex), "the local stack's index"
    indexed_before = len(index)
    phase = Phase(f"batch create ({options.batch} per request)")
    with _Meter(phase):
        started = time.perf_counter()
        while phase.items < options.memories:
            size = min(options.batch, options.memories - phase.items)
            body = [
                {"scope": {"bench": "ingest", "conversation": name, "run": run_id}, "fact": fact}
                for name, fact in itertools.islice(source, size)
            ]
            status, _ = client.request("POST", "/v1/memories/batch", {"memories": body})
            phase.statuses[status] += 1
            if status == 201:
                phase.items += size
        api_seconds = time.perf_counter() - started
        deadline = time.monotonic() + options.index_timeout
        while len(index) < indexed_before + phase.items and time.monotonic() < deadline:
            time.sleep(0.02)
    phase.indexed_seconds, phase.seconds = phase.seconds, api_seconds
    return phase


def _single_create(client: Any, source: Iterator[tuple[str, str]], run_id: str, count: int) -> Phase:
    phase = Phase("single create (1 per request)")
    with _Meter(phase):
        for name, fact in itertools.islice(source, count):
            body = {"scope": {"bench": "ingest-single", "conversation": name, "run": run_id}, "fact": fact}
            status, _ = client.request("POST", "/v1/memories", body)
            phase.statuses[status] += 1
            phase.items += status == 201
    return phase


def _print_allocations(out: TextIO) -> None:
    import gc
    import tracemalloc

    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    print("\nLargest live allocation sites (tracemalloc, after the batch phase):", file=out)
    for stat in snapshot.statistics("traceback")[:15]:
        frames = [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in stat.traceback[-3:]]
        print(f"  {stat.size / MIB:8.1f} MiB {stat.count:9,} blocks  {' <- '.join(reversed(frames))}", file=out)


def _print(phases: list[Phase], figures: dict[str, Any], out: TextIO) -> None:
    print(f"\nIngest benchmark: embedded local stack, offline embedder, one client; {figures['source']}\n", file=out)
    headers = [
        "phase",
        "items",
        "s",
        "items/s",
        "indexed/s",
        "CPU s",
        "items/CPU s",
        "HTTP",
        "MiB written",
        "KiB/item",
        "RSS after MiB",
    ]
    print(table(headers, [p.row() for p in phases]), file=out)
    print(
        "\nitems/s: wall time (API answers); indexed/s: until the index holds them all; items/CPU s: per second "
        "of this process's CPU time (all threads), which does not depend on how busy the machine is.",
        file=out,
    )
    print(
        f"RSS at start {figures['rss_at_start_bytes'] / MIB:,.0f} MiB, peak {figures['peak_rss_bytes'] / MIB:,.0f} MiB; "
        f"data directory at the end {figures['data_dir_bytes'] / MIB:,.1f} MiB",
        file=out,
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = IngestOptions()
    parser = commands.add_parser(
        "ingest", help="memories/s by batch and single create on the local stack, bytes written, peak RSS"
    )
    parser.add_argument("--memories", type=int, default=defaults.memories, help="by batch create (default 5000)")
    parser.add_argument("--batch", type=int, default=defaults.batch, help="memories per batch request (default 100)")
    parser.add_argument("--single", type=int, default=defaults.single, help="one at a time (default 500)")
    parser.add_argument("--baseline", type=int, default=defaults.baseline, help="raw emulator puts (default 2000)")
    parser.add_argument(
        "--data", help=f"LOCOMO folder for the facts (default {DEFAULT_DATA} when it exists, else synthetic)"
    )
    parser.add_argument("--synthetic", action="store_true", help="synthetic facts even when LOCOMO data exists")
    parser.add_argument("--profile-memory", action="store_true", help="print the largest allocation sites (slow)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    data = args.data or (str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() and not args.synthetic else None)
    options = IngestOptions(
        memories=args.memories,
        batch=args.batch,
        single=args.single,
        baseline=args.baseline,
        data=None if args.synthetic else data,
        profile_memory=args.profile_memory,
    )
    figures = run(options)
    if args.json:
        write_json(args.json, figures)
        print(f"\nwrote {args.json}")
    return 0
