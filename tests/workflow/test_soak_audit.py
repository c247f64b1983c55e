"""The soak's audit cannot pass on a run that proves nothing, and sees answers that belong to another
request and memories missing from their scope's listing (on the fake API of ``test_soak``)."""

from __future__ import annotations

from typing import Any, cast

from engram_dev.client import EngramClient
from engram_dev.soak import Outcome, Planned, audit

from tests.workflow.test_soak import SCOPE, FakeApi, _revision

OTHER = {"user_id": "audit-u2"}


def _memory(memory_id: str, fact: str, operation_id: str, scope: dict[str, str] = SCOPE) -> dict[str, Any]:
    source = {"operation_id": operation_id}
    return {"id": memory_id, "fact": fact, "revision_id": f"r-{memory_id}", "scope": scope, "source": source}


def _outcome(index: int, *operation_ids: str, scope: dict[str, str] = SCOPE, rejected: str | None = None) -> Outcome:
    planned = Planned(index, scope, f"key-{index}", [{"role": "user", "content": "I like jazz."}])
    return Outcome(planned, operation_ids=list(operation_ids), rejected=rejected)


def _created(api: FakeApi, operation_id: str, memory: dict[str, Any]) -> None:
    api.succeeded(operation_id, ("CREATED", memory))
    api.memories[memory["id"]] = memory
    api.revisions[memory["id"]] = [_revision(memory["revision_id"], "CREATED", memory["fact"], operation_id)]


def _client(api: FakeApi) -> EngramClient:
    """The fake API where the audit takes a client (it only calls ``request``)."""
    return cast(EngramClient, api)


class UnlistingApi(FakeApi):
    """A fake API whose scope listing leaves out ``hidden`` (the memory is still read by id)."""

    hidden = "m2"

    def request(self, method: str, path: str, body: Any = None, headers: Any = None) -> tuple[int, Any]:
        status, payload = super().request(method, path, body, headers)
        if path == "/v1/memories/retrieve":
            payload = {"memories": [m for m in payload["memories"] if m["memory"]["id"] != self.hidden]}
        return status, payload


def test_a_run_where_nothing_was_accepted_is_vacuous_and_says_why_each_request_was_rejected():
    # Given two requests the API never accepted
    rejected = [_outcome(0, rejected="HTTP 503: {'error': 'busy'}"), _outcome(1, rejected="HTTP 422: reused")]

    # When auditing, Then nothing is lost, but the run is vacuous, with each rejection's answer
    report = audit(_client(FakeApi()), rejected, [SCOPE])
    figures = report["figures"]
    assert (figures["lost"], figures["duplicates"], figures["rejected"]) == (0, 0, 2)
    assert figures["vacuous"] == 1 and "no accepted" in report["details"]["vacuous"][0]
    assert report["details"]["rejected"] == [
        "request key-0: HTTP 503: {'error': 'busy'}",
        "request key-1: HTTP 422: reused",
    ]


def test_a_complete_run_is_not_vacuous():
    api = FakeApi()
    _created(api, "op-1", _memory("m1", "The user likes jazz.", "op-1"))
    figures = audit(_client(api), [_outcome(0, "op-1")], [SCOPE])["figures"]
    assert (figures["vacuous"], figures["checked_changes"], figures["memories"], figures["crossed"]) == (0, 1, 1, 0)


def test_an_answer_of_another_request_is_crossed():
    # Given request 0's operation wrote its scope, and request 1 (of another scope) got the same operation,
    # and request 2 (of the first scope) got an operation that wrote another scope
    api = FakeApi()
    _created(api, "op-1", _memory("m1", "The user likes jazz.", "op-1"))
    _created(api, "op-2", _memory("m2", "The user likes tea.", "op-2", scope=OTHER))
    outcomes = [_outcome(0, "op-1"), _outcome(1, "op-1", scope=OTHER), _outcome(2, "op-2")]

    # When auditing, Then both are crossed (request 1's operation also wrote another scope than its own)
    report = audit(_client(api), outcomes, [SCOPE, OTHER])
    assert report["figures"]["crossed"] == 3, report["details"]
    assert report["details"]["crossed"] == [
        "requests key-0 and key-1 got operation op-1",
        "operation op-1 of key-1 wrote another scope",
        "operation op-2 of key-2 wrote another scope",
    ]


def test_a_memory_read_by_id_but_missing_from_its_scopes_listing_is_unlisted():
    api = UnlistingApi()
    _created(api, "op-1", _memory("m1", "The user likes jazz.", "op-1"))
    _created(api, "op-2", _memory("m2", "The user likes tea.", "op-2"))
    report = audit(_client(api), [_outcome(0, "op-1"), _outcome(1, "op-2")], [SCOPE])
    assert report["figures"]["unlisted"] == 1
    assert report["details"]["unlisted"] == ["memory m2 is read by id but not listed in its scope"]


def test_a_5xx_answer_the_client_retried_is_recorded():
    # Given a request answered 500, then accepted on the client's retry
    api = FakeApi()
    _created(api, "op-1", _memory("m1", "The user likes jazz.", "op-1"))
    retried = _outcome(0, "op-1")
    retried.statuses = [500, 202]

    # When auditing, Then nothing is lost, and the 500 is in the report
    report = audit(_client(api), [retried], [SCOPE])
    assert (report["figures"]["lost"], report["figures"]["server_errors"]) == (0, 1)
    assert report["details"]["server_errors"] == ["request key-0 answers: [500, 202]"]


class FailingApi(FakeApi):
    """A fake API that answers 500 to every read of memories and revisions."""

    def request(self, method: str, path: str, body: Any = None, headers: Any = None) -> tuple[int, Any]:
        if path.startswith("/v1/memories"):
            return 500, {"error": {"code": "INTERNAL"}}
        return super().request(method, path, body, headers)


def test_a_read_the_api_fails_during_the_audit_is_recorded_not_raised():
    api = FailingApi()
    _created(api, "op-1", _memory("m1", "The user likes jazz.", "op-1"))
    report = audit(_client(api), [_outcome(0, "op-1")], [SCOPE])
    assert report["figures"]["audit_errors"] == 2  # the change's revisions, and the scope's listing
    assert "HTTP 500" in report["details"]["audit_errors"][0]
