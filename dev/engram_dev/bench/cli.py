"""``engram bench {retrieval,generation,coldstart,ingest}`` (registered through ``engram_dev.cli``).

Nothing heavy is imported until a benchmark runs."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engram_dev.bench import coldstart, generation, ingest, retrieval

    bench = commands.add_parser("bench", help="benchmarks: retrieval quality, generation cost, cold start, ingest")
    benches = bench.add_subparsers(dest="bench", required=True)
    retrieval.register(benches)
    generation.register(benches)
    coldstart.register(benches)
    ingest.register(benches)
