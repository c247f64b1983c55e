"""A retry never duplicates: a loopback proxy in front of the local stack lets the first request reach
the stack, then loses its answer (a 503, or a dropped connection); the client retries with the same
``Idempotency-Key`` and the stack replays its first answer instead of creating a second memory."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from engram_client import AsyncEngram, Engram, RetryPolicy

HOP_HEADERS = {"host", "connection", "content-length", "accept-encoding"}


class FaultyProxy(ThreadingHTTPServer):
    """Forwards to ``upstream``; the first forwarded request's answer is replaced by ``fault``."""

    def __init__(self, upstream: str, fault: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = httpx.Client(base_url=upstream)
        self.fault = fault
        self.forwarded: list[httpx.Request] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[httpx.Response, bool]:
        """The upstream answer, and whether to lose it (the first request only)."""
        kept = {name: value for name, value in headers.items() if name.lower() not in HOP_HEADERS}
        request = self.upstream.build_request(method, path, headers=kept, content=body)
        with self.lock:
            self.forwarded.append(request)
            first = len(self.forwarded) == 1
        return self.upstream.send(request), first


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        assert isinstance(self.server, FaultyProxy)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        response, lose = self.server.forward(self.command, self.path, dict(self.headers.items()), body)
        if lose and self.server.fault == "drop":
            self.close_connection = True  # no answer at all: the client sees the connection closed
            return
        status, content = (
            (503, b'{"error": {"code": "UNAVAILABLE", "message": "lost"}}')
            if lose
            else (
                response.status_code,
                response.content,
            )
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(params=["503", "drop"])
def proxy(request: pytest.FixtureRequest, stack: Any) -> Iterator[FaultyProxy]:
    server = FaultyProxy(stack.url, request.param)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.upstream.close()


RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)


def test_a_lost_answer_is_retried_without_duplicating(proxy: FaultyProxy, stack: Any, scope: dict[str, str]) -> None:
    with Engram(proxy.url, stack.api_key, retry=RETRY) as client:
        memory = client.memories.create(scope, "The user plays the cello.")
    keys = [request.headers["Idempotency-Key"] for request in proxy.forwarded]
    assert len(keys) == 2 and keys[0] == keys[1]
    with Engram(stack.url, stack.api_key) as direct:
        stored = list(direct.memories.list(scope))
    assert [m.id for m in stored] == [memory.id]


def test_async_a_lost_answer_is_retried_without_duplicating(
    proxy: FaultyProxy, stack: Any, scope: dict[str, str]
) -> None:
    async def main() -> str:
        async with AsyncEngram(proxy.url, stack.api_key, retry=RETRY) as client:
            return (
                (await client.memories.batch([{"scope": scope, "fact": "The user plays the oboe."}]))
                .memories[0]
                .memory.id
            )

    memory_id = asyncio.run(main())
    assert len(proxy.forwarded) == 2
    with Engram(stack.url, stack.api_key) as direct:
        assert [m.id for m in direct.memories.list(scope)] == [memory_id]
