"""``engram bench generation``: what one generation costs, counted on the local stack, and a dollar model.

The stack runs with the OpenAI adapters pointed at the scripted OpenAI-compatible server on loopback
(``engram_dev.scripted_llm``), which answers instantly with Engram's offline rules
(``offline_chat_responder``) and offline embeddings of 1536 dimensions (the size of
``text-embedding-3-small``, so stored items have their real size). So the real code path runs —
structured-output requests, token usage from the responses, the real ASL executed by the emulator,
the real handlers — with an LLM that costs no time. Tokens are the scripted server's estimate
(``len(text) // 4``).

For each conversation size (turns = messages, user and assistant alternating), ``runs`` consecutive
windows of the conversation are generated one after the other into one scope, so later runs
consolidate against the memories of earlier ones (the first run of a fresh scope never needs the
consolidation call). Per generation: LLM calls, input and output tokens, embedding calls and tokens,
DynamoDB requests and request units (``meters``), Lambda invocations and in-process handler time,
Step Functions state transitions (Task runs, retries included), and the workflow's wall time
(operation created → SUCCEEDED, from the operation's own times). The benchmark polls the operation
through the store directly, so polling is not counted; one warm-up generation (not counted) first
loads every handler, so handler times are warm ones.

Then ``costs``: dollars per 1,000 generations at the printed list prices, with Lambda billed for the
measured handler time plus an assumed latency per LLM and embedding call (the scripted LLM is instant;
a real one is not, and Lambda bills the wait).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from engram_dev import progress
from engram_dev.bench.common import environment, parse_list, percentile, table, write_json
from engram_dev.bench.costs import GenerationCounts, Prices, cost_per_1000, prices_document
from engram_dev.bench.meters import DynamoMeter, LambdaMeter, StepTimeline

DEFAULT_SIZES = (4, 16, 64)
WORKFLOW_FUNCTIONS = (
    "LoadSourceFunction",
    "ExtractFunction",
    "ConsolidateFunction",
    "FinalizeFunction",
    "RecordFailureFunction",
)
READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")

# A synthetic conversation the offline rules understand: facts about the user, some of which change
# later (so consolidation has something to decide), and assistant answers of realistic length.
_USER = [
    "Hi! I live in {city} and I work as a {job}.",
    "My favorite food is {food}, I could eat it every day.",
    "I'm allergic to {allergen}, so please keep that in mind for recipes.",
    "I'm planning to visit {trip} in the spring with my partner.",
    "My sister's name is {sister} and she lives near me.",
    "I'm training for the {race} this year, three runs a week.",
    "Actually, I moved to {city2} last month for a new job.",
    "I'm vegetarian now, I stopped eating meat in January.",
    "My favorite band is {band}; I saw them live twice.",
    "I work as a {job2} these days, it is more flexible.",
]
_ASSISTANT = [
    "Thanks for sharing that! It sounds like a great place to live and an interesting job. "
    "Is there anything about your routine you would like help planning?",
    "Good to know. I will keep it in mind when we talk about meals or restaurants. "
    "Would you like a few new recipe ideas built around it?",
    "Understood, I will avoid suggesting anything that contains it. "
    "Do you also want me to flag dishes that are often cooked with it?",
    "That sounds like a lovely trip. Spring is a great season for it. "
    "Shall I put together a short list of things to see and book ahead?",
    "It must be nice to have family close by. Do you two see each other often?",
    "Three runs a week is a solid base. Do you want a plan that builds up your long run gradually?",
]
_VALUES = {
    "city": ["Lisbon", "Berlin", "Toronto", "Osaka"],
    "city2": ["Porto", "Munich", "Vancouver", "Kyoto"],
    "job": ["nurse", "teacher", "carpenter", "pharmacist"],
    "job2": ["freelance designer", "school counsellor", "furniture maker", "researcher"],
    "food": ["ramen", "lasagna", "falafel", "paella"],
    "allergen": ["peanuts", "shellfish", "gluten", "sesame"],
    "trip": ["Japan", "Morocco", "Iceland", "Peru"],
    "sister": ["Ana", "Mia", "Sofia", "Lena"],
    "race": ["Berlin marathon", "Chicago half marathon", "Lisbon 10k", "Paris marathon"],
    "band": ["Radiohead", "Daft Punk", "Fleetwood Mac", "Portishead"],
}


def synthetic_conversation(turns: int) -> list[tuple[str, str]]:
    """``turns`` messages ``(role, text)``, user first, deterministic."""
    out: list[tuple[str, str]] = []
    for i in range(turns):
        pair, role = divmod(i, 2)
        if role == 0:
            cycle = pair // len(_USER)
            values = {key: options[cycle % len(options)] for key, options in _VALUES.items()}
            out.append(("user", _USER[pair % len(_USER)].format(**values)))
        else:
            out.append(("assistant", _ASSISTANT[pair % len(_ASSISTANT)]))
    return out


def locomo_conversation(folder: str, turns: int) -> list[tuple[str, str]]:
    """The first LOCOMO conversation's turns: speaker A as ``user``, speaker B as ``assistant``."""
    from engram_dev.bench.locomo import load_dataset

    conversation = load_dataset(folder, 1)[0]
    speaker_a = conversation.speakers[0]
    messages = [("user" if t.speaker == speaker_a else "assistant", t.text) for t in conversation.turns]
    return [messages[i % len(messages)] for i in range(turns)]


def _memory_mb() -> dict[str, int]:
    from engram_dev.project import functions, load_template

    default = int(load_template().get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {name: int(props.get("MemorySize", default)) for name, props in functions().items()}


def _wait_done(operations: Any, tenant_id: str, operation_id: str, timeout: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        operation = operations.get(tenant_id, operation_id)
        if operation is not None and operation.done:
            return operation
        if time.monotonic() > deadline:
            raise TimeoutError(f"operation {operation_id} still running after {timeout} s")
        time.sleep(0.01)


def _settle(poller: Any, quiet: float = 0.3) -> None:
    """Wait until the stream poller has delivered nothing new for ``quiet`` seconds."""
    last, since = poller.delivered, time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.05)
        if poller.delivered != last:
            last, since = poller.delivered, time.monotonic()


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    runs: int = 3,
    data: str | None = None,
    llm_latency_ms: float = 1500.0,
    embedding_latency_ms: float = 200.0,
    prices: Prices = Prices(),
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Run the benchmark, print its tables and return the figures (the ``--json`` document)."""
    from engram import wiring

    from engram_dev.client import EngramClient
    from engram_dev.scripted_llm import EMBEDDINGS_PATH, ScriptedLLMServer, count_tokens, offline_chat_responder
    from engram_dev.stack import DEV_TENANT, LocalStack

    memory_mb = _memory_mb()
    longest = max(sizes) * runs
    conversation = locomo_conversation(data, longest) if data else synthetic_conversation(longest)
    source = f"LOCOMO {Path(data).name}/ first conversation" if data else "built-in synthetic conversation"
    results: dict[str, Any] = {}
    with (
        ScriptedLLMServer(chat_responder=offline_chat_responder) as llm_server,
        tempfile.TemporaryDirectory(prefix="engram-bench-") as folder,
        LocalStack(data_dir=folder) as stack,
        environment(
            ENGRAM_PROVIDER="openai",
            OPENAI_BASE_URL=llm_server.base_url,
            OPENAI_API_KEY="bench",
            ENGRAM_EMBEDDER="auto",
        ),
    ):
        client = EngramClient(stack.api_url, stack.api_key or "")
        operations = wiring.dependencies().operations
        lambdas, dynamo, timeline = LambdaMeter(stack.runtime), DynamoMeter(), StepTimeline(stack.runtime)
        # Warm-up (not measured): the first run of each handler imports its module.
        warm_up = client.generate({"bench": "warm-up"}, messages=[{"role": "user", "content": "I live in Lisbon."}])
        _wait_done(operations, DEV_TENANT, warm_up["id"])
        _settle(stack.poller)
        with lambdas.active(), dynamo.active(), timeline.active():
            for size in sizes:
                scope = {"bench": "generation", "turns": str(size), "run": uuid.uuid4().hex[:8]}
                per_run = []
                for number in progress.iterate(range(runs), f"{size} turns"):
                    window = conversation[number * size : (number + 1) * size]
                    messages = [
                        {"role": role, "content": text, "event_id": f"t{number * size + i}"}
                        for i, (role, text) in enumerate(window)
                    ]
                    lambdas.reset()
                    dynamo.reset()
                    mark = len(llm_server.requests)
                    posted = time.perf_counter()
                    operation = client.generate(scope, messages=messages)
                    accepted = time.perf_counter()
                    done = _wait_done(operations, DEV_TENANT, operation["id"])
                    seen = time.perf_counter()
                    timeline.wait_finished(operation["id"])
                    _settle(stack.poller)
                    measured = _measure(
                        done,
                        size,
                        messages,
                        lambdas,
                        dynamo,
                        llm_server.requests[mark:],
                        EMBEDDINGS_PATH,
                        count_tokens,
                    )
                    measured["steps_ms"] = timeline.breakdown(operation["id"], posted, accepted, seen)
                    per_run.append(measured)
                results[str(size)] = _summarize(per_run, memory_mb, llm_latency_ms, embedding_latency_ms, prices)
    _print(results, sizes, runs, source, llm_latency_ms, embedding_latency_ms, prices, out)
    return {
        "sizes": results,
        "runs": runs,
        "source": source,
        "assumed_llm_latency_ms": llm_latency_ms,
        "assumed_embedding_latency_ms": embedding_latency_ms,
        "prices": prices_document(prices),
    }


def _sessions(count: int, data: str | None) -> list[tuple[str, list[dict[str, str]]]]:
    """``count`` sessions as ``(scope name, messages)``: LOCOMO sessions of ``data`` in order (speaker A as
    ``user``, B as ``assistant``, the turn's ``dia_id`` as ``event_id``), or synthetic 20-message ones."""
    if data is None:
        turns = synthetic_conversation(20 * count)
        return [
            (
                "synthetic",
                [
                    {"role": r, "content": t, "event_id": f"t{n * 20 + i}"}
                    for i, (r, t) in enumerate(turns[n * 20 : n * 20 + 20])
                ],
            )
            for n in range(count)
        ]
    from engram_dev.bench.locomo import load_dataset

    out = []
    for conversation in load_dataset(data):
        speaker_a = conversation.speakers[0]
        for session in conversation.sessions():
            messages = [
                {"role": "user" if t.speaker == speaker_a else "assistant", "content": t.text, "event_id": t.dia_id}
                for t in session
            ]
            out.append((conversation.name, messages))
    return out[:count]


def latency(count: int, data: str | None = None, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Latency mode: one generation per session (``_sessions``), one after the other, each timed from its
    POST to the client seeing it done, split by ``StepTimeline.breakdown``; prints and returns the figures."""
    from engram import wiring

    from engram_dev.client import EngramClient
    from engram_dev.scripted_llm import ScriptedLLMServer, offline_chat_responder
    from engram_dev.stack import DEV_TENANT, LocalStack

    sessions = _sessions(count, data)
    run_id, per_run = uuid.uuid4().hex[:8], []
    with (
        ScriptedLLMServer(chat_responder=offline_chat_responder) as llm_server,
        tempfile.TemporaryDirectory(prefix="engram-bench-") as folder,
        LocalStack(data_dir=folder, fresh=True) as stack,
        environment(ENGRAM_PROVIDER="openai", OPENAI_BASE_URL=llm_server.base_url, OPENAI_API_KEY="bench"),
    ):
        client, operations = EngramClient(stack.api_url, stack.api_key or ""), wiring.dependencies().operations
        warm_up = client.generate({"bench": "warm-up"}, messages=[{"role": "user", "content": "I live in Lisbon."}])
        _wait_done(operations, DEV_TENANT, warm_up["id"])
        timeline = StepTimeline(stack.runtime)
        with timeline.active():
            for name, messages in progress.iterate(sessions, "sessions"):
                posted = time.perf_counter()
                operation = client.generate(
                    {"bench": "latency", "conversation": name, "run": run_id}, messages=messages
                )
                accepted = time.perf_counter()
                done = _wait_done(operations, DEV_TENANT, operation["id"])
                seen = time.perf_counter()
                timeline.wait_finished(operation["id"])
                steps = timeline.breakdown(operation["id"], posted, accepted, seen)
                changed = len(done.result.generated_memories) if done.result else 0
                per_run.append(
                    {"status": done.status.value, "messages": len(messages), "changed": changed, "steps_ms": steps}
                )
    summary = _step_summary(per_run)
    source = f"{len(sessions)} LOCOMO sessions of {Path(data).name}/" if data else f"{len(sessions)} synthetic sessions"
    totals = summary["total"]
    print(
        f"Generation latency: {source}, one after the other; scripted LLM answering at once.\n"
        f"POST -> done: p50 {totals['p50']:,.0f} ms, mean {totals['mean']:,.0f} ms, p95 {totals['p95']:,.0f} ms; "
        f"statuses {dict(sorted(Counter(r['status'] for r in per_run).items()))}; memories changed per generation: "
        f"mean {_mean([r['changed'] for r in per_run]):.1f}\n",
        file=out,
    )
    rows = [[label, *(f"{summary[key][q]:,.1f}" for q in ("p50", "mean", "p95"))] for key, label in STEP_SEGMENTS]
    print(table(["segment (ms)", "p50", "mean", "p95"], rows), file=out)
    return {"source": source, "steps_ms": summary, "runs": per_run}


def _measure(
    operation: Any,
    size: int,
    messages: list[dict[str, str]],
    lambdas: LambdaMeter,
    dynamo: DynamoMeter,
    requests: list[tuple[str, Any]],
    embeddings_path: str,
    count_tokens: Any,
) -> dict[str, Any]:
    usage = operation.usage
    total = dynamo.total()
    reads = sum(n for op, n in total.requests.items() if op in READS)
    writes = sum(n for op, n in total.requests.items() if op not in READS)
    calls = {label: asdict(c) for label, c in lambdas.calls.items()}
    embedding_tokens = sum(
        count_tokens(text)
        for path, body in requests
        if path == embeddings_path
        for text in ([body.get("input")] if isinstance(body.get("input"), str) else body.get("input") or [])
    )
    actions: dict[str, int] = {}
    for item in operation.result.generated_memories if operation.result else []:
        actions[item.action.value] = actions.get(item.action.value, 0) + 1
    return {
        "status": operation.status.value,
        "turns": size,
        "conversation_tokens": sum(count_tokens(m["content"]) for m in messages),
        "llm_calls": usage.llm_calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "embedding_calls": usage.embedding_calls,
        "embedding_tokens": embedding_tokens,
        "dynamodb_reads": reads,
        "dynamodb_writes": writes,
        "dynamodb_requests": dict(total.requests),
        "dynamodb_read_units": total.read_units,
        "dynamodb_write_units": total.write_units,
        "dynamodb_index_write_units": total.index_write_units,
        "lambda": calls,
        "state_transitions": sum(c["count"] for label, c in calls.items() if label in WORKFLOW_FUNCTIONS),
        "workflow_ms": (operation.update_time - operation.create_time).total_seconds() * 1000,
        "memories": actions,
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _summarize(
    per_run: list[dict[str, Any]],
    memory_mb: dict[str, int],
    llm_latency_ms: float,
    embedding_latency_ms: float,
    prices: Prices,
) -> dict[str, Any]:
    keys = [
        "conversation_tokens",
        "llm_calls",
        "input_tokens",
        "output_tokens",
        "embedding_calls",
        "embedding_tokens",
        "dynamodb_reads",
        "dynamodb_writes",
        "dynamodb_read_units",
        "dynamodb_write_units",
        "dynamodb_index_write_units",
        "state_transitions",
        "workflow_ms",
    ]
    mean = {key: _mean([r[key] for r in per_run]) for key in keys}
    invocations = _mean([sum(c["count"] for c in r["lambda"].values()) for r in per_run])
    handler_ms = _mean([sum(c["billed_ms"] for c in r["lambda"].values()) for r in per_run])
    gb_seconds = _mean(
        [
            sum(c["billed_ms"] / 1000 * memory_mb.get(label.split()[0], 512) / 1024 for label, c in r["lambda"].items())
            for r in per_run
        ]
    )
    workflow_gb = memory_mb.get("ExtractFunction", 512) / 1024
    waiting_seconds = (mean["llm_calls"] * llm_latency_ms + mean["embedding_calls"] * embedding_latency_ms) / 1000
    counts = GenerationCounts(
        lambda_invocations=invocations,
        lambda_gb_seconds=gb_seconds + waiting_seconds * workflow_gb,
        state_transitions=mean["state_transitions"],
        api_requests=1.0,
        dynamodb_read_units=mean["dynamodb_read_units"],
        dynamodb_write_units=mean["dynamodb_write_units"] + mean["dynamodb_index_write_units"],
        llm_input_tokens=mean["input_tokens"],
        llm_output_tokens=mean["output_tokens"],
        embedding_tokens=mean["embedding_tokens"],
    )
    return {
        "mean": {
            **mean,
            "lambda_invocations": invocations,
            "lambda_handler_ms": handler_ms,
            "lambda_gb_seconds": counts.lambda_gb_seconds,
        },
        "cost_per_1000_usd": cost_per_1000(counts, prices),
        "steps_ms": _step_summary(per_run),
        "runs": per_run,
    }


#: The segments of a generation's time (``StepTimeline.breakdown``), in the order they happen.
STEP_SEGMENTS = (
    ("api", "POST /v1/memories/generate"),
    ("to_first_step", "execution start -> LoadSource"),
    ("LoadSource", "LoadSource handler"),
    ("Extract", "Extract handler"),
    ("Consolidate", "Consolidate handler"),
    ("Finalize", "Finalize handler (all attempts)"),
    ("transitions", "between steps"),
    ("finalize_waits", "Finalize retry waits (IndexNotReady)"),
    ("to_seen", "last step's end -> client sees it done"),
    ("total", "POST -> done seen"),
    ("finalize_attempts", "Finalize attempts (count)"),
)


def _step_summary(per_run: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per segment: p50, mean and p95 over the runs (milliseconds; a count for ``finalize_attempts``)."""
    summary = {}
    for key, _ in STEP_SEGMENTS:
        values = [r["steps_ms"][key] for r in per_run if "steps_ms" in r]
        summary[key] = {"p50": percentile(values, 50), "mean": _mean(values), "p95": percentile(values, 95)}
    return summary


def _print_steps(results: dict[str, Any], sizes: Sequence[int], out: TextIO) -> None:
    print("\nWhere a generation's time goes (ms, p50 / mean per size; POST to done as the client sees it):\n", file=out)
    rows = [
        [label] + [_pair(results[str(size)]["steps_ms"][key], key) for size in sizes] for key, label in STEP_SEGMENTS
    ]
    print(table(["segment", *[f"{size} turns" for size in sizes]], rows), file=out)


def _pair(figures: dict[str, float], key: str) -> str:
    if key == "finalize_attempts":
        return f"{figures['p50']:.0f} / {figures['mean']:.1f}"
    return f"{figures['p50']:,.0f} / {figures['mean']:,.0f}"


def _print(
    results: dict[str, Any],
    sizes: Sequence[int],
    runs: int,
    source: str,
    llm_latency_ms: float,
    embedding_latency_ms: float,
    prices: Prices,
    out: TextIO,
) -> None:
    print(
        f"Generation benchmark: {source}; per size, {runs} consecutive windows generated into one scope "
        "(means per generation); scripted LLM answering instantly with the offline rules; tokens ~ len/4\n",
        file=out,
    )
    rows = []
    for size in sizes:
        m = results[str(size)]["mean"]
        rows.append(
            [
                size,
                round(m["conversation_tokens"]),
                m["llm_calls"],
                round(m["input_tokens"]),
                round(m["output_tokens"]),
                m["embedding_calls"],
                round(m["embedding_tokens"]),
                f"{m['dynamodb_reads']:.1f} / {m['dynamodb_read_units']:.1f}",
                f"{m['dynamodb_writes']:.1f} / {m['dynamodb_write_units'] + m['dynamodb_index_write_units']:.1f}",
                f"{m['lambda_invocations']:.1f} / {m['lambda_handler_ms']:.0f}",
                m["state_transitions"],
                round(m["workflow_ms"]),
            ]
        )
    headers = [
        "turns",
        "conv. tokens",
        "LLM calls",
        "LLM in tok",
        "LLM out tok",
        "embed calls",
        "embed tok",
        "DDB reads (req / RRU)",
        "DDB writes (req / WRU)",
        "Lambda (runs / ms)",
        "transitions",
        "workflow ms",
    ]
    print(table(headers, rows), file=out)
    _print_steps(results, sizes, out)
    print(
        f"\nCost per 1,000 generations (USD), Lambda billed for handler time + {llm_latency_ms:.0f} ms per LLM call "
        f"+ {embedding_latency_ms:.0f} ms per embedding call (assumed waits), 1 API Gateway request each:\n",
        file=out,
    )
    services = ["Lambda", "Step Functions", "DynamoDB", "API Gateway", "LLM tokens", "Embedding tokens", "total"]
    cost_rows = [[s] + [f"{results[str(size)]['cost_per_1000_usd'][s]:.4f}" for size in sizes] for s in services]
    print(table(["service", *[f"{size} turns" for size in sizes]], cost_rows), file=out)
    print(
        f"\nOpenSearch is billed by capacity, not per generation: from ${prices.opensearch_t3_small_monthly:,.0f}/month "
        f"(t3.small.search) or ${prices.opensearch_serverless_monthly:,.0f}/month (Serverless, 1 OCU) in total.",
        file=out,
    )
    print("\nAssumed list prices (us-east-1, on-demand):", file=out)
    for line in prices.lines():
        print(f"- {line}", file=out)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "generation", help="per-generation LLM, embedding, DynamoDB, Lambda and workflow counts; cost model"
    )
    parser.add_argument("--turns", default="4,16,64", help="conversation sizes in messages (default 4,16,64)")
    parser.add_argument("--runs", type=int, default=3, help="consecutive generations per size (default 3)")
    parser.add_argument("--data", help="take the turns from the first LOCOMO conversation in this folder")
    parser.add_argument("--llm-latency-ms", type=float, default=1500.0, help="assumed wait per LLM call (1500)")
    parser.add_argument(
        "--embedding-latency-ms", type=float, default=200.0, help="assumed wait per embedding call (200)"
    )
    parser.add_argument(
        "--sessions",
        type=int,
        help="latency mode: one generation per LOCOMO session of --data (the first N, in order, one scope per "
        "conversation), or per synthetic 20-message session; prints POST-to-done p50/mean/p95 and where it goes",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.sessions:
        document = latency(args.sessions, args.data)
    else:
        document = run(
            parse_list(args.turns, int), args.runs, args.data, args.llm_latency_ms, args.embedding_latency_ms
        )
    if args.json:
        write_json(args.json, document)
        print(f"\nwrote {args.json}")
    return 0
