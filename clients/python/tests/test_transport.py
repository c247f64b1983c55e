"""Retries, idempotency keys, errors and configuration, against ``httpx.MockTransport`` (no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from engram_client import (
    AsyncEngram,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionError,
    Engram,
    EngramError,
    NotFoundError,
    OperationTimeoutError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnsupportedMediaTypeError,
    ValidationError,
)

BASE = "http://127.0.0.1:9"  # never dialled: every request goes to the MockTransport
NO_WAIT = RetryPolicy(max_retries=3, initial_delay=0.0, max_delay=0.0)
NOW = "2026-01-02T03:04:05.000001Z"


def memory_json(memory_id: str = "m1", fact: str = "The user likes tea.") -> dict[str, Any]:
    return {
        "id": memory_id,
        "scope": {"user_id": "u"},
        "fact": fact,
        "topics": [],
        "metadata": {},
        "create_time": NOW,
        "update_time": NOW,
        "expire_time": None,
        "revision_id": "r1",
        "source": {"operation_id": None, "event_ids": []},
    }


def operation_json(status: str = "RUNNING") -> dict[str, Any]:
    return {"id": "op1", "status": status, "create_time": NOW, "update_time": NOW}


def error(status: int, code: str = "X", message: str = "m", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


class Script:
    """A MockTransport handler answering from a list (the last answer repeats), recording each request.
    An answer may be an exception to raise (a transport error)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def keys(self) -> list[str | None]:
        return [request.headers.get("Idempotency-Key") for request in self.requests]


def sync_client(script: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy = NO_WAIT) -> Engram:
    return Engram(BASE, "k", retry=retry, http_client=httpx.Client(transport=httpx.MockTransport(script)))


def async_client(script: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy = NO_WAIT) -> AsyncEngram:
    return AsyncEngram(BASE, "k", retry=retry, http_client=httpx.AsyncClient(transport=httpx.MockTransport(script)))


def test_a_503_then_201_sends_the_same_idempotency_key_twice() -> None:
    script = Script(error(503, "UNAVAILABLE"), httpx.Response(201, json=memory_json()))
    memory = sync_client(script).memories.create({"user_id": "u"}, "The user likes tea.")
    assert memory.id == "m1"
    keys = script.keys()
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert json.loads(script.requests[0].content) == json.loads(script.requests[1].content)


def test_async_a_503_then_201_sends_the_same_idempotency_key_twice() -> None:
    script = Script(error(503, "UNAVAILABLE"), httpx.Response(201, json=memory_json()))

    async def main() -> None:
        async with async_client(script) as client:
            assert (await client.memories.create({"user_id": "u"}, "The user likes tea.")).id == "m1"

    asyncio.run(main())
    keys = script.keys()
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_a_422_is_not_retried_and_carries_status_code_message() -> None:
    script = Script(error(422, "INVALID_ARGUMENT", "fact: String should have at least 1 character"))
    with pytest.raises(ValidationError) as raised:
        sync_client(script).memories.create({"user_id": "u"}, "")
    assert len(script.requests) == 1
    assert (raised.value.status, raised.value.code) == (422, "INVALID_ARGUMENT")
    assert raised.value.message == "fact: String should have at least 1 character"


def test_async_a_422_is_not_retried() -> None:
    script = Script(error(422, "INVALID_ARGUMENT"))

    async def main() -> None:
        async with async_client(script) as client:
            await client.memories.create({"user_id": "u"}, "x")

    with pytest.raises(ValidationError):
        asyncio.run(main())
    assert len(script.requests) == 1


def test_connection_errors_and_timeouts_are_retried_with_the_same_key() -> None:
    script = Script(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(202, json=operation_json())
    )
    operation = sync_client(script).memories.generate({"user_id": "u"}, messages=[{"role": "user", "content": "hi"}])
    assert operation.status == "RUNNING"
    keys = script.keys()
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0]


def test_retries_are_bounded_then_the_last_error_is_raised() -> None:
    script = Script(error(500, "INTERNAL", "boom"))
    with pytest.raises(ServerError) as raised:
        sync_client(script, RetryPolicy(max_retries=2, initial_delay=0, max_delay=0)).memories.get("m1")
    assert len(script.requests) == 3
    assert (raised.value.status, raised.value.code, raised.value.message) == (500, "INTERNAL", "boom")


def test_a_connection_error_that_persists_raises_connection_error() -> None:
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(ConnectionError) as raised:
        sync_client(script, RetryPolicy(max_retries=1, initial_delay=0, max_delay=0)).config.get()
    assert len(script.requests) == 2
    assert raised.value.status is None and raised.value.code == "CONNECTION_ERROR"
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("engram_client._http.time.sleep", slept.append)
    script = Script(error(429, "THROTTLED", headers={"Retry-After": "1.5"}), httpx.Response(200, json=memory_json()))
    sync_client(script, RetryPolicy(initial_delay=0.01, max_delay=0.02)).memories.get("m1")
    assert slept == [1.5]


def test_a_retry_after_beyond_the_limit_is_raised_not_waited(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("engram_client._http.time.sleep", slept.append)
    script = Script(error(429, "THROTTLED", headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as raised:
        sync_client(script, RetryPolicy(max_retry_after=60)).memories.get("m1")
    assert raised.value.retry_after == 3600 and slept == [] and len(script.requests) == 1


def test_backoff_is_exponential_with_jitter_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("engram_client._http.time.sleep", slept.append)
    script = Script(error(503))
    policy = RetryPolicy(max_retries=5, initial_delay=0.1, max_delay=0.5)
    with pytest.raises(ServerError):
        sync_client(script, policy).memories.get("m1")
    ceilings = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert len(slept) == 5
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(slept, ceilings, strict=True))


def test_idempotency_in_progress_is_retried_but_a_plain_conflict_is_not() -> None:
    script = Script(error(409, "IDEMPOTENCY_IN_PROGRESS"), httpx.Response(200, json=memory_json()))
    sync_client(script).memories.update("m1", fact="The user likes green tea.")
    assert len(script.requests) == 2 and script.keys()[0] == script.keys()[1]
    script = Script(error(409, "CONFLICT"))
    with pytest.raises(ConflictError):
        sync_client(script).memories.update("m1", fact="x")
    assert len(script.requests) == 1


def test_each_mutating_call_gets_its_own_key_and_reads_get_none() -> None:
    script = Script(httpx.Response(201, json=memory_json()))
    client = sync_client(script)
    client.memories.create({"user_id": "u"}, "a")
    client.memories.create({"user_id": "u"}, "b")
    client.memories.create({"user_id": "u"}, "c", idempotency_key="my-key")
    script.answers = [httpx.Response(200, json={"memories": []})]
    client.memories.retrieve({"user_id": "u"}, "tea")
    keys = script.keys()
    assert keys[0] != keys[1] and keys[2] == "my-key" and keys[3] is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, PayloadTooLargeError),
        (415, UnsupportedMediaTypeError),
        (422, ValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (405, EngramError),
    ],
)
def test_status_families_map_to_exceptions(status: int, cls: type[EngramError]) -> None:
    script = Script(error(status, "CODE", "text"))
    with pytest.raises(cls) as raised:
        sync_client(script, RetryPolicy(max_retries=0)).memories.get("m1")
    assert type(raised.value) is cls
    assert (raised.value.status, raised.value.code, raised.value.message) == (status, "CODE", "text")


def test_an_error_body_that_is_not_json_still_gives_code_and_message() -> None:
    script = Script(httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(ServerError) as raised:
        sync_client(script, RetryPolicy(max_retries=0)).memories.get("m1")
    assert (raised.value.code, raised.value.message) == ("HTTP_502", "Bad Gateway")


def test_requests_carry_the_key_json_and_escaped_ids() -> None:
    script = Script(httpx.Response(204, content=b"null"))
    sync_client(script).memories.delete("a/b c")
    request = script.requests[0]
    assert request.url.raw_path == b"/v1/memories/a%2Fb%20c"
    assert request.headers["Authorization"] == "Bearer k"
    assert request.headers.get("Connection") != "close"  # a 204 route keeps its connection alive too


def test_rollback_answering_204_returns_none() -> None:
    script = Script(httpx.Response(204, content=b"null"))
    assert sync_client(script).memories.rollback("m1", "r0") is None
    assert json.loads(script.requests[0].content) == {"revision_id": "r0"}


def test_wait_times_out_with_the_last_state() -> None:
    script = Script(httpx.Response(200, json=operation_json("RUNNING")))
    with pytest.raises(OperationTimeoutError) as raised:
        sync_client(script).operations.wait("op1", timeout=0.3, poll_interval=0.05)
    assert raised.value.operation.status == "RUNNING" and len(script.requests) >= 2


def test_async_wait_times_out() -> None:
    script = Script(httpx.Response(200, json=operation_json("RUNNING")))

    async def main() -> None:
        async with async_client(script) as client:
            await client.operations.wait("op1", timeout=0.2, poll_interval=0.05)

    with pytest.raises(OperationTimeoutError):
        asyncio.run(main())


def test_generate_sends_options_only_when_given() -> None:
    script = Script(httpx.Response(202, json=operation_json()))
    client = sync_client(script)
    client.memories.generate({"user_id": "u"}, facts=["The user likes tea."])
    client.memories.generate(
        {"user_id": "u"}, session="s1", temperature=0.7, max_tokens=4000, disable_consolidation=True, wait_seconds=5
    )
    first, second = (json.loads(request.content) for request in script.requests)
    assert first == {"scope": {"user_id": "u"}, "facts": [{"fact": "The user likes tea."}]}
    assert second == {
        "scope": {"user_id": "u"},
        "session": {"session_id": "s1"},
        "disable_consolidation": True,
        "wait_seconds": 5,
        "temperature": 0.7,
        "max_tokens": 4000,
    }


def test_generate_needs_exactly_one_source() -> None:
    client = sync_client(Script(httpx.Response(202, json=operation_json())))
    with pytest.raises(ValueError, match="exactly one"):
        client.memories.generate({"user_id": "u"})
    with pytest.raises(ValueError, match="exactly one"):
        client.memories.generate({"user_id": "u"}, facts=["a"], session="s")


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_URL", "http://127.0.0.1:8080/v1/")
    monkeypatch.setenv("ENGRAM_API_KEY", "egm_env")
    with Engram() as client:
        assert client.base_url == "http://127.0.0.1:8080"
        assert client._http._headers["Authorization"] == "Bearer egm_env"
    monkeypatch.delenv("ENGRAM_API_KEY")
    with pytest.raises(ValueError, match="ENGRAM_API_KEY"):
        Engram()
    monkeypatch.delenv("ENGRAM_URL")
    with pytest.raises(ValueError, match="ENGRAM_URL"):
        Engram(api_key="k")


def test_a_2xx_body_of_the_wrong_shape_raises_engram_error() -> None:
    script = Script(httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(EngramError) as raised:
        sync_client(script).memories.get("m1")
    assert (raised.value.status, raised.value.code) == (200, "INVALID_RESPONSE")
