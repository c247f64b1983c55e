"""``engram bench soak``: nothing lost, nothing duplicated, under LLM faults.

M generations over K scopes go through the HTTP API, several on the same scope in flight at once, each
with an ``Idempotency-Key`` (some sent twice, one after the other or both at once). The stack's LLM and
embedding model is a scripted OpenAI-compatible server on loopback that answers with Engram's offline
rules (so facts are real and overlapping conversations really consolidate) and, at ``--fault-rate``,
with a fault instead: 429 (with and without ``retry-after``), 500, a response slower than the client's
timeout, malformed JSON or JSON of the wrong shape. The real ``openai`` client, the workflow's retries
and its failure recording deal with them.

Then an audit compares what the API accepted with what is stored, through the API:

- every accepted operation must be terminal: SUCCEEDED, or FAILED with an error code and message;
- every CREATED/UPDATED memory of a SUCCEEDED operation must be readable with its fact, unless a later
  revision (``GET /v1/memories/{id}/revisions``) changed or deleted it; every change an operation reports
  must have its revision, and each memory's current state must be its newest revision;
- a re-sent request must return the operation of the first one (never start a second);
- a scope never holds two memories with the same fact (normalized), every stored memory comes from
  an accepted operation, and every one is found by similarity search (the index agrees with the table);
- every memory read by id in the audit is also in its scope's listing (``unlisted``);
- no two requests got the same operation, and an operation's memories are of its request's scope
  (``crossed``: an answer that belongs to another request);
- a request the API never accepted (``rejected``, after a client's retries) and a re-send that failed
  are reported with the answers they got, and every 5xx answer the client retried is counted
  (``server_errors``, with the requests' answers), so every failure is recorded somewhere: on its
  operation, or in the report.

The audit cannot pass vacuously: a run with no accepted, succeeded or checked change, or no stored
memory, is ``vacuous`` (a problem).

``lost`` = operations not terminal + reported memories neither readable nor explained by a later
revision + re-sends that started another operation. ``duplicates`` = extra copies of a fact in a scope.

``run_soak(api_url, api_key, options)`` runs against a local stack already running in this process
(its handlers read this process's environment, which the soak points at the scripted server for the
duration); the command starts its own. Exit status 1 when anything is lost or duplicated, a failed
operation has no error, a stored memory comes from no accepted operation (``unaccounted``) or search
cannot find one (``not_indexed``), a memory read by id is missing from its scope's listing
(``unlisted``), a request got another's answer (``crossed``), the API failed one of the audit's reads
(``audit_errors``: the report is still written), or the run is ``vacuous``. The command's stack starts
empty (``--data-dir`` is emptied first).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from engram_dev import progress
from engram_dev.client import EngramClient
from engram_dev.scripted_llm import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    Delay,
    Malformed,
    ScriptedLLMServer,
    Status,
    Step,
    offline_chat_responder,
)

FAULT_KINDS = ("429", "429_retry_after", "500", "timeout", "malformed", "schema_invalid")

CITIES = ("Lisbon", "Porto", "Berlin", "Oslo", "Madrid", "Kyoto")
THINGS = ("jazz", "hiking", "chess", "sushi", "tennis", "painting")
JOBS = ("nurse", "teacher", "pilot", "chef", "lawyer", "carpenter")
COLORS = ("blue", "green", "red", "yellow")
DOGS = ("Pico", "Luna", "Max", "Rex")
STATEMENTS = (
    (4, lambda rng: f"I live in {rng.choice(CITIES)}."),
    (4, lambda rng: f"I like {rng.choice(THINGS)}."),
    (3, lambda rng: f"I work as a {rng.choice(JOBS)}."),
    (3, lambda rng: f"My favorite color is {rng.choice(COLORS)}."),
    (2, lambda rng: f"I have a dog named {rng.choice(DOGS)}."),
    (1, lambda rng: f"I don't like {rng.choice(THINGS)}."),
)
REPLIES = ("Noted!", "Got it.", "Thanks for telling me.", "Good to know.")


@dataclass(frozen=True)
class SoakOptions:
    """``generations`` (M) over ``scopes`` (K), at most ``concurrency`` in flight; LLM and embedding
    requests fail at ``fault_rate``; ``llm_timeout`` is the client's per-request timeout (a timeout
    fault answers after it); an operation still RUNNING after ``operation_timeout`` s counts as lost."""

    generations: int = 60
    scopes: int = 6
    concurrency: int = 6
    fault_rate: float = 0.3
    seed: int = 7
    llm_timeout: float = 2.0
    operation_timeout: float = 300.0
    resend_rate: float = 0.25


# --- the faulty LLM ----------------------------------------------------------------------------------


class FaultInjector:
    """Decides, per request, between a fault (at ``rate``, kind drawn uniformly from ``FAULT_KINDS``) and
    the normal answer; counts what it injected. ``enabled = False`` stops injecting (for the audit)."""

    def __init__(self, rate: float, seed: int, client_timeout: float) -> None:
        self.rate = rate
        self.client_timeout = client_timeout
        self.enabled = True
        self.injected: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def _draw(self, endpoint: str) -> str | None:
        with self._lock:
            self.requests[endpoint] += 1
            if not self.enabled or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(FAULT_KINDS)
            self.injected[f"{endpoint}:{kind}"] += 1
            return kind

    def _transport_fault(self, kind: str) -> Step | None:
        if kind == "429":
            return Status(429)
        if kind == "429_retry_after":
            return Status(429, headers={"retry-after": "1"})
        if kind == "500":
            return Status(500)
        if kind == "timeout":
            return Delay(self.client_timeout + 1.0)
        return None

    def chat(self, request: dict[str, Any]) -> Step:
        """A chat-completions step: a fault, or the offline rules' answer."""
        kind = self._draw("chat")
        if kind is None:
            return offline_chat_responder(request)
        if kind == "malformed":
            return Malformed('{"facts": [')
        if kind == "schema_invalid":
            return {"unexpected": "shape"}
        step = self._transport_fault(kind)
        assert step is not None
        return step

    def embeddings(self, request: dict[str, Any]) -> Step | None:
        """An embeddings step: a fault, or None (the server's deterministic vectors)."""
        kind = self._draw("embeddings")
        if kind is None:
            return None
        if kind == "malformed":
            return Status(200, body='{"object": "list", "data": [')
        if kind == "schema_invalid":
            return Status(200, body={"object": "list", "data": [], "model": "scripted"})
        return self._transport_fault(kind)


class FaultyLLMServer(ScriptedLLMServer):
    """A ``ScriptedLLMServer`` whose every chat and embeddings request is answered by ``faults``."""

    def __init__(self, faults: FaultInjector) -> None:
        super().__init__(chat_responder=offline_chat_responder)
        self.faults = faults

    def _handle(self, path: str, request: Any) -> Any:
        # One step per request, decided when it is popped: all queued steps are the same callable.
        if path == CHAT_PATH:
            self.script_chat(self.faults.chat)
        elif path == EMBEDDINGS_PATH:
            self.script_embeddings(self.faults.embeddings)
        return super()._handle(path, request)


# --- the workload ------------------------------------------------------------------------------------


@dataclass
class Planned:
    """One generation request: its scope, messages, idempotency key and whether it is re-sent
    (``"after"`` the first response, ``"concurrent"`` with the first request, or None)."""

    index: int
    scope: dict[str, str]
    key: str
    messages: list[dict[str, str]]
    resend: str | None = None


def plan(options: SoakOptions, run_id: str) -> list[Planned]:
    """A deterministic (by ``options.seed``) list of generations: bursts of 1-3 on one scope, so several
    for one scope are in flight at once; 1-3 user turns of 1-2 statements each, with assistant replies."""
    rng = random.Random(options.seed)
    scopes = [{"user_id": f"soak-{run_id}-u{k}"} for k in range(options.scopes)]
    weights = [w for w, _ in STATEMENTS]
    planned: list[Planned] = []
    while len(planned) < options.generations:
        scope = rng.choice(scopes)
        for _ in range(rng.randint(1, 3)):
            if len(planned) == options.generations:
                break
            messages: list[dict[str, str]] = []
            for _turn in range(rng.randint(1, 3)):
                statements = [rng.choices(STATEMENTS, weights)[0][1](rng) for _ in range(rng.randint(1, 2))]
                messages.append({"role": "user", "content": " ".join(statements)})
                messages.append({"role": "assistant", "content": rng.choice(REPLIES)})
            resend = None
            if rng.random() < options.resend_rate:
                resend = rng.choice(("after", "concurrent"))
            index = len(planned)
            planned.append(Planned(index, scope, f"soak-{run_id}-{index}", messages, resend))
    return planned


@dataclass
class Outcome:
    """What the client saw for one planned request: every operation id any send returned, send
    statuses, and the operation's final state (after polling)."""

    planned: Planned
    operation_ids: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    rejected: str | None = None
    send_errors: list[str] = field(default_factory=list)
    final: dict[str, Any] | None = None


def _send(client: EngramClient, planned: Planned, outcome: Outcome, lock: threading.Lock) -> None:
    """Send the request with its key; a 409 (the same key in progress), 429 or 5xx is retried, as a
    client would, up to 8 times. A 2xx records the operation id."""
    body = {"scope": planned.scope, "messages": planned.messages}
    status, payload = 0, None
    for attempt in range(8):
        status, payload = client.request(
            "POST", "/v1/memories/generate", body, headers={"Idempotency-Key": planned.key}
        )
        with lock:
            outcome.statuses.append(status)
        if status not in (409, 429) and status < 500:
            break
        time.sleep(0.2 * (attempt + 1))
    with lock:
        if status in (200, 202) and isinstance(payload, dict) and payload.get("id"):
            outcome.operation_ids.append(str(payload["id"]))
            return
        outcome.send_errors.append(f"HTTP {status}: {payload} (answers: {outcome.statuses})")
        if outcome.rejected is None:
            outcome.rejected = outcome.send_errors[-1]


def _run_one(client: EngramClient, planned: Planned, options: SoakOptions) -> Outcome:
    outcome = Outcome(planned)
    lock = threading.Lock()
    if planned.resend == "concurrent":
        twin = threading.Thread(target=_send, args=(client, planned, outcome, lock))
        twin.start()
        _send(client, planned, outcome, lock)
        twin.join()
    else:
        _send(client, planned, outcome, lock)
        if planned.resend == "after" and outcome.operation_ids:
            _send(client, planned, outcome, lock)
    if outcome.operation_ids:
        outcome.final = _wait(client, outcome.operation_ids[0], options.operation_timeout)
    return outcome


def _wait(client: EngramClient, operation_id: str, timeout: float) -> dict[str, Any] | None:
    """The operation once terminal, or its last state after ``timeout`` s (None if never readable)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while True:
        status, payload = client.request("GET", f"/v1/operations/{operation_id}")
        if status == 200 and isinstance(payload, dict):
            last = payload
            if payload.get("status") != "RUNNING":
                return last
        if time.monotonic() > deadline:
            return last
        time.sleep(0.5)


# --- the audit ---------------------------------------------------------------------------------------


def normalize_fact(fact: str) -> str:
    """The text compared for duplicates: case, surrounding space, inner runs of space, a final period."""
    return " ".join(fact.split()).lower().rstrip(".").strip()


def _list_scope(client: EngramClient, scope: dict[str, str]) -> list[dict[str, Any]]:
    memories: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        body: dict[str, Any] = {"scope": scope, "page_size": 100}
        if token:
            body["page_token"] = token
        status, payload = client.request("POST", "/v1/memories/retrieve", body)
        if status != 200:
            raise RuntimeError(f"listing scope {scope} failed: HTTP {status}: {payload}")
        memories += [item["memory"] for item in payload["memories"]]
        token = payload.get("next_page_token")
        if not token:
            return memories


class _Reader:
    """Cached reads of memories and revisions through the API."""

    def __init__(self, client: EngramClient) -> None:
        self.client = client
        self._memories: dict[str, dict[str, Any] | None] = {}
        self._revisions: dict[str, list[dict[str, Any]]] = {}

    def readable(self) -> dict[str, dict[str, Any]]:
        """Every memory read so far that was there, by id."""
        return {memory_id: memory for memory_id, memory in self._memories.items() if memory is not None}

    def memory(self, memory_id: str) -> dict[str, Any] | None:
        if memory_id not in self._memories:
            status, payload = self.client.request("GET", f"/v1/memories/{memory_id}")
            if status not in (200, 404):
                raise RuntimeError(f"GET memory {memory_id}: HTTP {status}: {payload}")
            self._memories[memory_id] = payload if status == 200 else None
        return self._memories[memory_id]

    def revisions(self, memory_id: str) -> list[dict[str, Any]]:
        """Newest first; [] when the memory never existed."""
        if memory_id not in self._revisions:
            status, payload = self.client.request("GET", f"/v1/memories/{memory_id}/revisions")
            if status not in (200, 404):
                raise RuntimeError(f"GET revisions {memory_id}: HTTP {status}: {payload}")
            self._revisions[memory_id] = payload["revisions"] if status == 200 else []
        return self._revisions[memory_id]


def _check_change(reader: _Reader, operation_id: str, generated: dict[str, Any]) -> str | None:
    """Why a change an operation reported is lost, or None when it is there (or a later revision
    explains why it no longer is)."""
    action, memory = generated["action"], generated["memory"]
    revisions = reader.revisions(memory["id"])
    mine = [i for i, r in enumerate(revisions) if r.get("operation_id") == operation_id and r.get("action") == action]
    if not mine:
        return f"{action} of memory {memory['id']} has no revision of operation {operation_id}"
    current = reader.memory(memory["id"])
    newest = revisions[0]
    if newest["action"] == "DELETED":
        if current is not None:
            return f"memory {memory['id']} is readable but its newest revision is DELETED"
    elif current is None:
        return f"memory {memory['id']} is not readable but its newest revision is {newest['action']}"
    elif current["fact"] != newest["fact"]:
        return f"memory {memory['id']} reads {current['fact']!r}, its newest revision says {newest['fact']!r}"
    if action == "DELETED" or mine[0] > 0:
        return None  # deleted by this operation, or changed again by a later revision
    if current is None or current["fact"] != memory["fact"] or current["revision_id"] != memory["revision_id"]:
        return f"memory {memory['id']} does not read {memory['fact']!r} and no later revision explains it"
    return None


def audit(client: EngramClient, outcomes: list[Outcome], scopes: list[dict[str, str]]) -> dict[str, Any]:
    """The figures (see the module docstring) and the details behind every non-zero problem figure."""
    reader = _Reader(client)
    figures: Counter[str] = Counter()
    details: dict[str, list[str]] = {
        "lost": [],
        "duplicates": [],
        "failed_without_error": [],
        "unaccounted": [],
        "not_indexed": [],
        "unlisted": [],
        "crossed": [],
        "rejected": [],
        "resend_failed": [],
        "server_errors": [],
        "audit_errors": [],
    }
    errors: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    accepted: set[str] = set()
    owners: dict[str, str] = {}
    for outcome in outcomes:
        if outcome.planned.resend:
            figures["resent"] += 1
        if errors_5xx := [status for status in outcome.statuses if status >= 500]:
            figures["server_errors"] += len(errors_5xx)
            details["server_errors"].append(f"request {outcome.planned.key} answers: {outcome.statuses}")
        if not outcome.operation_ids:
            figures["rejected"] += 1
            details["rejected"].append(f"request {outcome.planned.key}: {outcome.rejected}")
            continue
        for answer in outcome.send_errors:  # the request was accepted, but one of its sends failed
            figures["resend_failed"] += 1
            details["resend_failed"].append(f"request {outcome.planned.key}: {answer}")
        first = outcome.operation_ids[0]
        accepted.add(first)
        for operation_id in dict.fromkeys(outcome.operation_ids):
            owner = owners.setdefault(operation_id, outcome.planned.key)
            if owner != outcome.planned.key:
                figures["crossed"] += 1
                details["crossed"].append(f"requests {owner} and {outcome.planned.key} got operation {operation_id}")
        others = sorted(set(outcome.operation_ids) - {first})
        if others:
            figures["lost"] += 1
            figures["resend_new_operation"] += 1
            accepted.update(others)
            details["lost"].append(f"request {outcome.planned.key} re-sent started operations {others}")
        status, operation = client.request("GET", f"/v1/operations/{first}")
        if status != 200:
            figures["lost"] += 1
            details["lost"].append(f"operation {first}: GET answered HTTP {status}")
            continue
        figures["llm_calls"] += operation["usage"]["llm_calls"]
        figures["embedding_calls"] += operation["usage"]["embedding_calls"]
        if operation["status"] == "RUNNING":
            figures["still_running"] += 1
            figures["lost"] += 1
            details["lost"].append(f"operation {first} still RUNNING")
        elif operation["status"] == "FAILED":
            error = operation.get("error") or {}
            if error.get("code") and error.get("message"):
                figures["failed_with_error"] += 1
                errors[error["code"]] += 1
                failures.append({"operation_id": first, **error})
            else:
                figures["failed_without_error"] += 1
                details["failed_without_error"].append(f"operation {first}: {operation}")
        else:
            figures["succeeded"] += 1
            generated_memories = (operation.get("result") or {}).get("generated_memories", [])
            if any(
                g["memory"].get("scope", outcome.planned.scope) != outcome.planned.scope for g in generated_memories
            ):
                figures["crossed"] += 1
                details["crossed"].append(f"operation {first} of {outcome.planned.key} wrote another scope")
            for generated in generated_memories:
                figures[f"reported_{generated['action'].lower()}"] += 1
                figures["checked_changes"] += 1
                try:
                    problem = _check_change(reader, first, generated)
                except RuntimeError as error:  # the API failed a read: nothing can be said of this change
                    figures["audit_errors"] += 1
                    details["audit_errors"].append(f"operation {first}: {error}")
                    continue
                if problem:
                    figures["lost"] += 1
                    details["lost"].append(f"operation {first}: {problem}")
    figures["accepted"] = len(accepted)
    readable = reader.readable()
    for scope in scopes:
        try:
            memories = _list_scope(client, scope)
        except RuntimeError as error:
            figures["audit_errors"] += 1
            details["audit_errors"].append(str(error))
            continue
        figures["memories"] += len(memories)
        listed = {memory["id"] for memory in memories}
        for memory_id, memory in sorted(readable.items()):
            if memory.get("scope") == scope and memory_id not in listed:
                figures["unlisted"] += 1
                details["unlisted"].append(f"memory {memory_id} is read by id but not listed in its scope")
        facts = Counter(normalize_fact(m["fact"]) for m in memories)
        for fact, count in facts.items():
            if count > 1:
                figures["duplicates"] += count - 1
                details["duplicates"].append(f"{scope['user_id']}: {fact!r} x{count}")
        for memory in memories:
            source = (memory.get("source") or {}).get("operation_id")
            if source not in accepted:
                figures["unaccounted"] += 1
                details["unaccounted"].append(f"memory {memory['id']} from operation {source}")
        if 0 < len(memories) <= 100:  # dense search returns every memory of the scope it indexes (up to top_k)
            body = {"scope": scope, "query": "the user", "mode": "dense", "top_k": 100}
            status, payload = client.request("POST", "/v1/memories/retrieve", body)
            found = {hit["memory"]["id"] for hit in payload["memories"]} if status == 200 else set()
            for memory in memories:
                if memory["id"] not in found:
                    figures["not_indexed"] += 1
                    details["not_indexed"].append(f"memory {memory['id']} is not found by similarity search")
        elif memories:
            figures["index_unchecked_scopes"] += 1  # more than one search can return: not checked
    for name in ("succeeded", "failed_with_error", "failed_without_error", "still_running", "lost", "duplicates"):
        figures.setdefault(name, 0)
    for name in ("rejected", "resent", "resend_new_operation", "resend_failed", "unaccounted", "not_indexed"):
        figures.setdefault(name, 0)
    for name in ("unlisted", "crossed", "checked_changes", "index_unchecked_scopes", "server_errors", "audit_errors"):
        figures.setdefault(name, 0)
    empty = [name for name in ("accepted", "succeeded", "checked_changes", "memories") if not figures[name]]
    figures["vacuous"] = int(bool(empty))
    if empty:
        details["vacuous"] = [f"nothing was audited: no {', no '.join(empty)}"]
    return {
        "figures": dict(figures),
        "errors": dict(errors),
        "failures": failures,
        "details": {k: v for k, v in details.items() if v},
    }


# --- running it --------------------------------------------------------------------------------------


@contextlib.contextmanager
def faulty_llm(options: SoakOptions) -> Iterator[FaultyLLMServer]:
    """Point this process's handlers at a faulty scripted server (OpenAI adapters) for the duration."""
    from engram_dev.bench.common import environment

    faults = FaultInjector(options.fault_rate, options.seed, options.llm_timeout)
    server = FaultyLLMServer(faults)
    with (
        server,
        environment(
            ENGRAM_PROVIDER="openai",
            ENGRAM_EMBEDDER=None,
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="soak",
            ENGRAM_LLM_TIMEOUT_SECONDS=str(options.llm_timeout),
        ),
    ):
        yield server


def run_soak(api_url: str, api_key: str, options: SoakOptions = SoakOptions()) -> dict[str, Any]:
    """Run the soak against the local stack at ``api_url`` (running in this process) and audit it.

    Returns ``{"figures": {...}, "errors": {code: n}, "failures": [...], "details": {...},
    "faults": {...}, "options": {...}, "ok": bool}``; ``figures`` holds ``accepted``, ``succeeded``,
    ``failed_with_error``, ``failed_without_error``, ``still_running``, ``lost``, ``duplicates``,
    ``llm_calls``, ``faults_injected``, ``elapsed_seconds``, ``generations_per_second`` and more.
    """
    run_id = uuid.uuid4().hex[:8]
    planned = plan(options, run_id)
    scopes = list({p.scope["user_id"]: p.scope for p in planned}.values())
    client = EngramClient(api_url, api_key)
    with faulty_llm(options) as server:
        started = time.monotonic()
        with (
            progress.steps("generations", total=len(planned)) as advance,
            ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="soak") as pool,
        ):
            outcomes = []
            for outcome in pool.map(lambda p: _run_one(client, p, options), planned):
                outcomes.append(outcome)
                advance()
        elapsed = time.monotonic() - started
        server.faults.enabled = False  # the audit's own searches must not fail
        with progress.status("audit"):
            report = audit(client, outcomes, scopes)
        faults = server.faults
        figures = report["figures"]
        figures["llm_requests"] = faults.requests["chat"]
        figures["embedding_requests"] = faults.requests["embeddings"]
        figures["faults_injected"] = sum(faults.injected.values())
        report["faults"] = dict(sorted(faults.injected.items()))
    figures["generations"] = options.generations
    figures["scopes"] = len(scopes)
    figures["elapsed_seconds"] = round(elapsed, 1)
    figures["generations_per_second"] = round(figures["accepted"] / elapsed, 2) if elapsed else 0.0
    report["options"] = asdict(options)
    problems = (
        "lost",
        "duplicates",
        "failed_without_error",
        "unaccounted",
        "not_indexed",
        "unlisted",
        "crossed",
        "audit_errors",
        "vacuous",
    )
    report["ok"] = all(figures[name] == 0 for name in problems)
    return report


FIGURE_ORDER = (
    "generations",
    "scopes",
    "accepted",
    "rejected",
    "resent",
    "resend_new_operation",
    "resend_failed",
    "server_errors",
    "succeeded",
    "failed_with_error",
    "failed_without_error",
    "still_running",
    "lost",
    "duplicates",
    "unaccounted",
    "not_indexed",
    "unlisted",
    "crossed",
    "audit_errors",
    "vacuous",
    "index_unchecked_scopes",
    "memories",
    "checked_changes",
    "reported_created",
    "reported_updated",
    "reported_deleted",
    "llm_calls",
    "embedding_calls",
    "llm_requests",
    "embedding_requests",
    "faults_injected",
    "elapsed_seconds",
    "generations_per_second",
)


def print_report(report: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """One ``name: value`` line per figure, then the errors, faults and any problem's details."""
    figures = report["figures"]
    for name in FIGURE_ORDER:
        print(f"{name}: {figures.get(name, 0)}", file=out)
    print("errors: " + (" ".join(f"{k}={v}" for k, v in sorted(report["errors"].items())) or "-"), file=out)
    print("faults: " + (" ".join(f"{k}={v}" for k, v in report.get("faults", {}).items()) or "-"), file=out)
    for failure in report["failures"]:
        print(f"  FAILED {failure['operation_id']}: {failure['code']}: {failure['message'][:160]}", file=out)
    for name, lines in report["details"].items():
        for line in lines[:20]:
            print(f"  {name}: {line}", file=out)
    print("result: " + ("OK (nothing lost, nothing duplicated)" if report["ok"] else "PROBLEMS FOUND"), file=out)


def add_parser(benches: Any) -> None:
    """Add ``soak`` to the ``engram bench`` subcommands ``benches``."""
    parser = benches.add_parser(
        "soak", help="generations under LLM fault injection, then an audit: nothing lost, nothing duplicated"
    )
    defaults = SoakOptions()
    parser.add_argument("--generations", type=int, default=defaults.generations, help="M generations (default 60)")
    parser.add_argument("--scopes", type=int, default=defaults.scopes, help="over K scopes (default 6)")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="in flight at once (default 6)")
    parser.add_argument(
        "--fault-rate", type=float, default=defaults.fault_rate, help="share of LLM/embedding requests failed (0.3)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="conversations and faults (default 7)")
    parser.add_argument("--json", help="also write the report to this JSON file")
    parser.add_argument(
        "--data-dir", default=".engram/soak", help="the stack's data folder, emptied first (default .engram/soak)"
    )
    parser.set_defaults(func=cmd_soak)


def register(subparsers: Any) -> None:
    """Add ``engram bench soak`` (creating the ``bench`` group unless another module already did)."""
    bench = subparsers.choices.get("bench")
    if bench is None:
        bench = subparsers.add_parser("bench", help="benchmarks")
        benches = bench.add_subparsers(dest="bench", required=True)
    else:
        benches = next(a for a in bench._actions if isinstance(a, argparse._SubParsersAction))
    add_parser(benches)


def cmd_soak(args: argparse.Namespace) -> int:
    from engram_dev.bench.common import write_json
    from engram_dev.stack import LocalStack

    # The workflows that end FAILED are the point of the exercise; the audit reports them (with their
    # errors), so the emulator's own error line for each is noise here.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    options = SoakOptions(
        generations=args.generations,
        scopes=args.scopes,
        concurrency=args.concurrency,
        fault_rate=args.fault_rate,
        seed=args.seed,
    )
    print(
        f"Engram soak: {options.generations} generations over {options.scopes} scopes, {options.concurrency} "
        f"in flight, fault rate {options.fault_rate}, seed {options.seed}",
        flush=True,
    )
    with LocalStack(data_dir=args.data_dir, fresh=True) as stack:
        report = run_soak(stack.api_url, stack.api_key or "", options)
    print_report(report)
    if args.json:
        write_json(args.json, report)
    return 0 if report["ok"] else 1
