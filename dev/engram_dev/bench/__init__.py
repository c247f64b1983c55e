"""``engram bench``: reproducible figures for quality and cost (docs/benchmarks.md).

- ``engram bench retrieval --data DIR``: LOCOMO evidence recall@k / hit@k per retrieval mode, index
  time and query latency, on the local stack (``retrieval``).
- ``engram bench generation``: per-generation LLM calls, tokens, embedding calls, DynamoDB reads and
  writes, Lambda and workflow time with an instant scripted LLM, and a dollar cost model
  (``generation``, ``meters``, ``costs``).
- ``engram bench coldstart``: import time of each function's module and deployment package sizes
  (``coldstart``).
- ``engram bench ingest``: memories/s by batch and single create on the local stack, bytes written and
  RSS, beside the emulator's raw put rate (``ingest``).
- ``engram bench generation --sessions N``: POST-to-done latency of one generation per session and where
  the time goes (``generation.latency``).

Benchmarks measure; they are never timed tests.
"""
