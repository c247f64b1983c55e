"""``engram bench soak``: generations under LLM fault injection, then an audit of what was accepted
against what is stored. The audit itself is checked on a fake API first (it must see a lost or
duplicated memory when there is one), then the soak runs, small, on the session's local stack."""

from __future__ import annotations

import os
from typing import Any

from engram import wiring
from engram_dev.soak import Outcome, Planned, SoakOptions, audit, plan, run_soak

SCOPE = {"user_id": "audit-u1"}


def _memory(memory_id: str, fact: str, revision_id: str, operation_id: str) -> dict[str, Any]:
    return {"id": memory_id, "fact": fact, "revision_id": revision_id, "source": {"operation_id": operation_id}}


def _revision(revision_id: str, action: str, fact: str, operation_id: str) -> dict[str, Any]:
    return {"id": revision_id, "action": action, "fact": fact, "operation_id": operation_id}


class FakeApi:
    """Answers the audit's reads from dicts: operations, memories (current state) and revisions."""

    def __init__(self) -> None:
        self.operations: dict[str, dict[str, Any]] = {}
        self.memories: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, list[dict[str, Any]]] = {}

    def succeeded(self, operation_id: str, *generated: tuple[str, dict[str, Any]]) -> None:
        self.operations[operation_id] = {
            "id": operation_id,
            "status": "SUCCEEDED",
            "result": {"generated_memories": [{"action": a, "memory": m} for a, m in generated]},
            "usage": {"llm_calls": 1, "embedding_calls": 1},
        }

    def request(self, method: str, path: str, body: Any = None, headers: Any = None) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[1] == "operations":
            operation = self.operations.get(parts[2])
            return (200, operation) if operation else (404, {})
        if path == "/v1/memories/retrieve":
            live = [{"memory": m} for m in self.memories.values()]
            return 200, {"memories": live}
        if len(parts) == 4 and parts[3] == "revisions":
            revisions = self.revisions.get(parts[2])
            return (200, {"revisions": revisions}) if revisions else (404, {})
        memory = self.memories.get(parts[2])
        return (200, memory) if memory else (404, {})


def _outcome(index: int, *operation_ids: str, resend: str | None = None) -> Outcome:
    planned = Planned(index, SCOPE, f"key-{index}", [{"role": "user", "content": "I like jazz."}], resend)
    return Outcome(planned, operation_ids=list(operation_ids))


def test_the_audit_finds_nothing_wrong_when_every_change_is_there_or_explained():
    # Given op-1 created m1 and m2, and a later op-2 updated m2 and deleted m1
    api = FakeApi()
    m1 = _memory("m1", "The user likes jazz.", "r1", "op-1")
    m2 = _memory("m2", "The user lives in Lisbon.", "r2", "op-1")
    m2_now = _memory("m2", "The user lives in Porto.", "r3", "op-2")
    api.succeeded("op-1", ("CREATED", m1), ("CREATED", m2))
    api.succeeded("op-2", ("UPDATED", m2_now), ("DELETED", m1))
    api.memories = {"m2": m2_now}
    api.revisions = {
        "m1": [_revision("r4", "DELETED", m1["fact"], "op-2"), _revision("r1", "CREATED", m1["fact"], "op-1")],
        "m2": [_revision("r3", "UPDATED", m2_now["fact"], "op-2"), _revision("r2", "CREATED", m2["fact"], "op-1")],
    }
    # When auditing (op-2's request was re-sent and answered with the same operation)
    report = audit(api, [_outcome(0, "op-1"), _outcome(1, "op-2", "op-2", resend="after")], [SCOPE])  # type: ignore[arg-type]
    # Then nothing is lost or duplicated
    figures = report["figures"]
    assert (figures["accepted"], figures["succeeded"], figures["lost"], figures["duplicates"]) == (2, 2, 0, 0)
    assert figures["unaccounted"] == 0 and figures["resent"] == 1


def test_the_audit_counts_lost_changes_duplicates_unterminated_and_silent_failures():
    api = FakeApi()
    # op-1 reports a memory that is gone without any revision saying why (lost)
    gone = _memory("m1", "The user likes jazz.", "r1", "op-1")
    api.succeeded("op-1", ("CREATED", gone))
    api.revisions["m1"] = [_revision("r1", "CREATED", gone["fact"], "op-1")]
    # op-2 is still RUNNING (lost); op-3 FAILED without an error; op-4's re-send started op-5 (lost)
    api.operations["op-2"] = {"id": "op-2", "status": "RUNNING", "usage": {"llm_calls": 0, "embedding_calls": 0}}
    api.operations["op-3"] = {"id": "op-3", "status": "FAILED", "usage": {"llm_calls": 0, "embedding_calls": 0}}
    api.succeeded("op-4")
    # the scope holds one fact twice (a duplicate), both from op-4
    api.memories = {
        "m2": _memory("m2", "The user lives in Lisbon.", "r2", "op-4"),
        "m3": _memory("m3", "the user lives in Lisbon", "r3", "op-4"),
    }
    outcomes = [_outcome(0, "op-1"), _outcome(1, "op-2"), _outcome(2, "op-3"), _outcome(3, "op-4", "op-5")]
    # When auditing
    report = audit(api, outcomes, [SCOPE])  # type: ignore[arg-type]
    # Then each problem is counted, with its details
    figures = report["figures"]
    assert figures["lost"] == 3, report["details"]
    assert figures["still_running"] == 1 and figures["resend_new_operation"] == 1
    assert figures["failed_without_error"] == 1 and figures["failed_with_error"] == 0
    assert figures["duplicates"] == 1
    assert any("memory m1 is not readable" in line for line in report["details"]["lost"])


def test_the_plan_is_deterministic_overlapping_and_resends_some_requests():
    options = SoakOptions(generations=30, scopes=4, seed=3)
    first, again = plan(options, "run"), plan(options, "run")
    assert [p.messages for p in first] == [p.messages for p in again]
    assert len({p.key for p in first}) == 30
    # consecutive generations on one scope (so several are in flight at once), some re-sent
    assert any(a.scope == b.scope for a, b in zip(first, first[1:], strict=False))
    assert any(p.resend for p in first)


def test_soak_with_faults_loses_and_duplicates_nothing(local_stack):
    # Given the local stack, with the LLM and embeddings failing 30% of requests
    options = SoakOptions(generations=12, scopes=3, concurrency=4, fault_rate=0.3, seed=11)
    # When twelve generations run over three scopes, some re-sent, several on one scope at once
    report = run_soak(local_stack.api_url, local_stack.api_key, options)
    figures = report["figures"]
    # Then faults were injected, every accepted operation ended, and nothing is lost or duplicated
    assert figures["faults_injected"] > 0, figures
    assert figures["accepted"] == 12 and figures["rejected"] == 0, figures
    assert figures["succeeded"] > 0, figures
    assert figures["succeeded"] + figures["failed_with_error"] == 12, report
    assert figures["failed_without_error"] == 0, report["details"]
    assert figures["lost"] == 0, report["details"]
    assert figures["duplicates"] == 0, report["details"]
    assert figures["unaccounted"] == 0 and figures["not_indexed"] == 0, report["details"]
    assert all(f["code"] and f["message"] for f in report["failures"])
    assert report["ok"]
    # And the stack is back on the offline providers afterwards
    assert os.environ["ENGRAM_PROVIDER"] == "offline" and "OPENAI_BASE_URL" not in os.environ
    assert wiring.dependencies().llm.offline
