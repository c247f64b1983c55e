"""The ``engram`` command.

- ``engram local [--port 8080] [--data-dir .engram] [--fresh]``: run the embedded local stack in the
  foreground; its data stays in ``--data-dir`` between runs (``--fresh`` starts empty).
- ``engram demo [--conversation FILE] [--url URL --api-key KEY]``: generate memories from a real
  conversation and retrieve them (starts its own local stack unless ``--url`` is given).

Every command takes ``--quiet`` (no progress on stderr; progress is also off when stderr is not a
terminal or with ``--json``). A failure the user can act on (a busy port, an unreachable endpoint, a
missing file) is one ``error: ...`` line on stderr and exit code 2, not a traceback.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import os
import signal
import socket
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


class CommandError(Exception):
    """A failure the user can act on: ``main`` prints ``error: <message>`` and exits with code 2."""


def _check_port_free(port: int) -> None:
    """``CommandError`` when 127.0.0.1:``port`` is taken (checked before the stack's slow start)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server binds
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as error:
        raise CommandError(_port_message(port, error)) from None
    finally:
        probe.close()


def _port_message(port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} is already in use (another `engram local`?); pick another with --port, e.g. --port {port + 1}"
        )
    return f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}; pick another port with --port"


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM stops ``engram local`` as Ctrl-C does."""
    raise KeyboardInterrupt


def _access_logger(method: str, path: str, status: int, ms: float) -> None:
    """One line per request on stderr: method, path (no query string), status, milliseconds."""
    print(f"{time.strftime('%H:%M:%S')} {method} {path} {status} {ms:.0f} ms", file=sys.stderr, flush=True)


def cmd_local(args: argparse.Namespace) -> int:
    from engram.errors import ConfigurationError

    from engram_dev import progress
    from engram_dev.stack import LocalStack

    _check_port_free(args.port)
    stack = LocalStack(port=args.port, data_dir=args.data_dir, fresh=args.fresh)
    try:
        with progress.status("starting the local stack"):
            stack.start()
    except OSError as error:
        stack.stop()
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            raise CommandError(_port_message(args.port, error)) from None
        raise
    except ConfigurationError as error:  # e.g. the data directory is another running stack's
        stack.stop()
        raise CommandError(str(error)) from None
    if args.access_log and stack.front is not None:
        stack.front.access_log = _access_logger
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    assert stack.resources is not None  # set by start()
    print(
        f"Engram local stack\n  API:     {stack.api_url}  (routes under /v1)\n  API key: {stack.api_key}  (tenant dev)\n"
        f"  {_providers()}\n  Emulator (moto): {stack.emulator.endpoint_url}  table {stack.resources.table_name}\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stack.stop()
    return 0


def _fmt_memory(memory: dict[str, Any]) -> str:
    source = memory.get("source") or {}
    events = ",".join(source.get("event_ids") or []) or "-"
    return f"{memory['fact']}  [topics {','.join(memory.get('topics') or []) or '-'}; events {events}]"


def run_demo(client: Any, conversation: dict[str, Any], scope: dict[str, str], out: Any = sys.stdout) -> dict[str, Any]:
    """Generate from each session in turn, then ask the questions. Returns what it printed, as data."""
    from engram_dev import progress

    report: dict[str, Any] = {"sessions": [], "questions": []}
    stages = len(conversation["sessions"]) + len(conversation.get("questions", []))
    with progress.steps("demo", total=stages) as advance:
        _demo_stages(client, conversation, scope, out, report, advance)
    return report


def _demo_stages(
    client: Any, conversation: dict[str, Any], scope: dict[str, str], out: Any, report: dict[str, Any], advance: Any
) -> None:
    for number, session in enumerate(conversation["sessions"], start=1):
        advance(0, note=f"generating from session {number}")
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
        advance()
    for question in conversation.get("questions", []):
        advance(0, note="retrieving")
        found = client.retrieve(scope, question, top_k=3)["memories"]
        print(f"\nQ: {question}", file=out)
        for hit in found:
            print(f"  {hit['score']:.3f}  {_fmt_memory(hit['memory'])}", file=out)
        report["questions"].append({"question": question, "memories": found})
        advance()


def cmd_demo(args: argparse.Namespace) -> int:
    from engram_dev import progress
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
    stack = LocalStack(data_dir=args.data_dir, fresh=True)
    try:
        with progress.status("demo: starting the local stack"):
            stack.start()
        print(
            f"Engram demo: local stack at {stack.api_url} (started in {time.monotonic() - started:.1f} s, "
            f"tenant dev)\n{_providers()}\nConversation: {path.name}, scope {json.dumps(scope)}"
        )
        run_demo(EngramClient(stack.api_url, stack.api_key or ""), conversation, scope)
    finally:
        stack.stop()
    return 0


def _command_modules() -> list[Any]:
    """Other command groups: each module has ``register(subparsers)``, which adds its subcommands
    (with ``set_defaults(func=...)``) and imports nothing heavy until its command runs."""
    import importlib

    registers = []
    for name in COMMAND_MODULES:
        registers.append(importlib.import_module(name).register)
    return registers


#: Commands that run for seconds to minutes with little output meanwhile.
LONG_COMMANDS = ("bench", "reindex", "retention")

COMMAND_MODULES: list[str] = [
    "engram_dev.keys",
    "engram_dev.ops",
    "engram_dev.stats_cli",
    "engram_dev.bench.cli",
    "engram_dev.soak",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("engram")
    except PackageNotFoundError:  # run from a checkout without installing it
        return "unknown (not installed)"


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """Below ``parser``: ``--quiet`` on every command that runs, and a ``--help`` description (from its help
    line) on every subcommand registered without one. argparse keeps both only in private fields."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups and "--quiet" not in parser._option_string_actions:
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    for group in groups:
        helps = {choice.dest: choice.help for choice in group._choices_actions}
        for name, child in group.choices.items():
            if child.description is None and helps.get(name):
                child.description = f"{child.prog}: {helps[name]}."
            _add_common_options(child)


def _unreachable(error: BaseException) -> str | None:
    """The message of a refused or failed connection anywhere in ``error``'s chain, else None."""
    from botocore.exceptions import EndpointConnectionError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, EndpointConnectionError | ConnectionRefusedError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _run(args: argparse.Namespace) -> int:
    from engram_dev import progress

    progress.configure(quiet=bool(getattr(args, "quiet", False) or getattr(args, "json", None)))
    name = " ".join(str(getattr(args, part)) for part in ("command", "bench") if getattr(args, part, None))
    try:
        if args.command in LONG_COMMANDS:  # a spinner with the elapsed time; the work may add its own bars
            with progress.status(f"engram {name}"):
                return int(args.func(args))
        return int(args.func(args))
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
    except FileNotFoundError as error:
        print(f"error: {error.strerror}: {error.filename}" if error.filename else f"error: {error}", file=sys.stderr)
    except Exception as error:
        message = _unreachable(error)
        if message is None:
            raise
        print(
            f"error: cannot reach the endpoint: {message}. Is it running (`engram local` prints its API and "
            "emulator endpoints)? For a deployed stack, check --stack-name, --region and your AWS credentials.",
            file=sys.stderr,
        )
    return 2


def main(argv: list[str] | None = None) -> int:
    _quiet_local_process()
    parser = argparse.ArgumentParser(prog="engram", description="Engram: a memory bank for AI agents")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    text = "run the embedded local stack in the foreground (Ctrl-C or SIGTERM stops it)"
    local = commands.add_parser("local", help=text, description=f"Engram: {text}.")
    local.add_argument("--port", type=int, default=8080, help="API port on 127.0.0.1 (default 8080)")
    local.add_argument(
        "--data-dir",
        default=".engram",
        help="where the stack keeps its data (table, index, dev key) between runs (default .engram)",
    )
    local.add_argument("--fresh", action="store_true", help="delete the data in --data-dir first: start empty")
    local.add_argument(
        "--access-log", action="store_true", help="print one line per request on stderr (method, path, status, ms)"
    )
    local.set_defaults(func=cmd_local)

    text = "generate memories from a conversation and retrieve them"
    demo = commands.add_parser(
        "demo",
        help=text,
        description=f"Engram: {text}, against a local stack it starts (or --url). Offline unless OPENAI_API_KEY is set.",
    )
    demo.add_argument("--conversation", help="JSON file: {sessions: [{messages}], questions: [...]}")
    demo.add_argument("--user-id", default="demo-user", help="scope {user_id: ...} (default demo-user)")
    demo.add_argument("--url", help="an already running API (e.g. from `engram local`); default: start one")
    demo.add_argument("--api-key", help="API key for --url (default $ENGRAM_API_KEY)")
    demo.add_argument(
        "--data-dir", default=".engram/demo", help="the demo stack's data folder, emptied first (default .engram/demo)"
    )
    demo.set_defaults(func=cmd_demo)

    for register in _command_modules():
        register(commands)
    _add_common_options(parser)

    args = parser.parse_args(argv)
    code = _run(args)
    if argv is None:  # the `engram` command: its process ends now
        sys.stdout.flush()
        # Skip the interpreter's last garbage collections over the stack's objects (seconds at exit).
        gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
