"""A small HTTP client for the Engram API (stdlib only), used by the demo, benchmarks and tests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class EngramClient:
    """``EngramClient(base_url, api_key)``; methods return the decoded JSON or raise ``ApiError``."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Send one request; returns ``(status, json)`` for any status (no raise)."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json", **(headers or {})}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - caller's URL
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw)
            except ValueError:
                return error.code, raw.decode(errors="replace")

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.request(method, path, body)
        if status >= 400:
            raise ApiError(status, payload)
        return payload

    def generate(self, scope: dict[str, str], **source: Any) -> dict[str, Any]:
        return self._ok("POST", "/v1/memories/generate", {"scope": scope, **source})

    def operation(self, operation_id: str) -> dict[str, Any]:
        return self._ok("GET", f"/v1/operations/{operation_id}")

    def wait(self, operation_id: str, timeout: float = 120.0, poll: float = 0.25) -> dict[str, Any]:
        """Poll until the operation is no longer RUNNING; raises ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            operation = self.operation(operation_id)
            if operation["status"] != "RUNNING":
                return operation
            if time.monotonic() > deadline:
                raise TimeoutError(f"operation {operation_id} still RUNNING after {timeout} s")
            time.sleep(poll)

    def create(self, scope: dict[str, str], fact: str, **fields: Any) -> dict[str, Any]:
        return self._ok("POST", "/v1/memories", {"scope": scope, "fact": fact, **fields})

    def create_batch(self, memories: list[dict[str, Any]]) -> dict[str, Any]:
        return self._ok("POST", "/v1/memories/batch", {"memories": memories})

    def get(self, memory_id: str) -> dict[str, Any]:
        return self._ok("GET", f"/v1/memories/{memory_id}")

    def retrieve(self, scope: dict[str, str], query: str | None = None, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"scope": scope, **fields}
        if query is not None:
            body["query"] = query
        return self._ok("POST", "/v1/memories/retrieve", body)
