"""``engram bench {retrieval,generation,coldstart}`` (registered through ``engram_dev.cli``).

Nothing heavy is imported until a benchmark runs."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from engram_dev.bench import coldstart, generation, retrieval

    bench = commands.add_parser("bench", help="benchmarks: retrieval quality, generation cost, cold start")
    benches = bench.add_subparsers(dest="bench", required=True)
    retrieval.register(benches)
    generation.register(benches)
    coldstart.register(benches)
