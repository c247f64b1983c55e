"""The ``engram`` command.

- ``engram local [--port 8080] [--data-dir .engram]``: run the embedded local stack in the foreground.
- ``engram demo [--conversation FILE] [--url URL --api-key KEY]``: generate memories from a real
  conversation and retrieve them (starts its own local stack unless ``--url`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def _quiet_local_process() -> None:
    """Local runs print no CloudWatch EMF lines, no X-Ray errors, no Powertools metric warnings."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _providers() -> str:
    from engram import wiring

    deps = wiring.dependencies()
    llm, embedder = deps.llm, deps.embedder
    if llm.offline:
        return (
            f"LLM: OFFLINE rule-based extractor ({llm.model_id}); set OPENAI_API_KEY for the real one. "
            f"Embedder: {embedder.model_id} (offline)"
        )
    return f"LLM: {llm.model_id} (OpenAI-compatible). Embedder: {embedder.model_id}"


def cmd_local(args: argparse.Namespace) -> int:
    from engram_dev.stack import LocalStack

    stack = LocalStack(port=args.port, data_dir=args.data_dir).start()
    print(
        f"Engram local stack\n  API:     {stack.api_url}/v1\n  API key: {stack.api_key}  (tenant dev)\n"
        f"  {_providers()}\n  Emulator (moto): {stack.emulator.endpoint_url}  table {stack.resources.table_name}\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        stack.stop()
    return 0


def _fmt_memory(memory: dict[str, Any]) -> str:
    source = memory.get("source") or {}
    events = ",".join(source.get("event_ids") or []) or "-"
    return f"{memory['fact']}  [topics {','.join(memory.get('topics') or []) or '-'}; events {events}]"


def run_demo(client: Any, conversation: dict[str, Any], scope: dict[str, str], out: Any = sys.stdout) -> dict[str, Any]:
    """Generate from each session in turn, then ask the questions. Returns what it printed, as data."""
    report: dict[str, Any] = {"sessions": [], "questions": []}
    for number, session in enumerate(conversation["sessions"], start=1):
        started = time.monotonic()
        operation = client.generate(scope, messages=session["messages"])
        operation = client.wait(operation["id"])
        took = time.monotonic() - started
        usage = operation.get("usage", {})
        print(
            f"\nSession {number}: {len(session['messages'])} messages -> operation {operation['id']} "
            f"{operation['status']} in {took:.1f} s (llm_calls={usage.get('llm_calls')}, "
            f"embedding_calls={usage.get('embedding_calls')}, input_tokens={usage.get('input_tokens')})",
            file=out,
        )
        if operation.get("error"):
            print(f"  error: {operation['error']['code']}: {operation['error']['message']}", file=out)
        generated = (operation.get("result") or {}).get("generated_memories", [])
        if not generated:
            print("  (no memories generated)", file=out)
        for item in generated:
            print(f"  {item['action']:<8} {_fmt_memory(item['memory'])}", file=out)
        report["sessions"].append(operation)
    for question in conversation.get("questions", []):
        found = client.retrieve(scope, question, top_k=3)["memories"]
        print(f"\nQ: {question}", file=out)
        for hit in found:
            print(f"  {hit['score']:.3f}  {_fmt_memory(hit['memory'])}", file=out)
        report["questions"].append({"question": question, "memories": found})
    return report


def cmd_demo(args: argparse.Namespace) -> int:
    from engram_dev.client import EngramClient
    from engram_dev.project import project_root

    path = Path(args.conversation) if args.conversation else project_root() / "events" / "conversation.json"
    conversation = json.loads(path.read_text())
    scope = {"user_id": args.user_id}
    if args.url:
        client = EngramClient(args.url, args.api_key or os.environ.get("ENGRAM_API_KEY", ""))
        print(f"Engram demo against {args.url}")
        run_demo(client, conversation, scope)
        return 0
    from engram_dev.stack import LocalStack

    started = time.monotonic()
    with LocalStack(data_dir=args.data_dir) as stack:
        print(
            f"Engram demo: local stack at {stack.api_url} (started in {time.monotonic() - started:.1f} s, "
            f"tenant dev)\n{_providers()}\nConversation: {path.name}, scope {json.dumps(scope)}"
        )
        run_demo(EngramClient(stack.api_url, stack.api_key or ""), conversation, scope)
    return 0


def _command_modules() -> list[Any]:
    """Other command groups: each module has ``register(subparsers)``, which adds its subcommands
    (with ``set_defaults(func=...)``) and imports nothing heavy until its command runs."""
    import importlib

    registers = []
    for name in COMMAND_MODULES:
        registers.append(importlib.import_module(name).register)
    return registers


COMMAND_MODULES: list[str] = ["engram_dev.keys", "engram_dev.ops", "engram_dev.bench.cli", "engram_dev.soak"]


def main(argv: list[str] | None = None) -> int:
    _quiet_local_process()
    parser = argparse.ArgumentParser(prog="engram", description="Engram: a memory bank for AI agents")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the embedded local stack in the foreground")
    local.add_argument("--port", type=int, default=8080, help="API port on 127.0.0.1 (default 8080)")
    local.add_argument("--data-dir", default=".engram", help="local index folder (default .engram)")
    local.set_defaults(func=cmd_local)

    demo = commands.add_parser("demo", help="generate memories from a conversation and retrieve them")
    demo.add_argument("--conversation", help="JSON file: {sessions: [{messages}], questions: [...]}")
    demo.add_argument("--user-id", default="demo-user", help="scope {user_id: ...} (default demo-user)")
    demo.add_argument("--url", help="an already running API (e.g. from `engram local`); default: start one")
    demo.add_argument("--api-key", help="API key for --url (default $ENGRAM_API_KEY)")
    demo.add_argument("--data-dir", default=".engram/demo", help="local index folder (default .engram/demo)")
    demo.set_defaults(func=cmd_demo)

    for register in _command_modules():
        register(commands)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
