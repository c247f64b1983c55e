"""Sending calls: configuration, headers, retries with the same ``Idempotency-Key``, errors as exceptions.

A ``Call`` describes one API request and how to read its answer; ``SyncHTTP.run`` / ``AsyncHTTP.run``
send it (retrying per the ``RetryPolicy``) and return the parsed answer or raise an ``EngramError``.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from engram_client._version import __version__
from engram_client.errors import EngramError, error_from_response, error_from_transport
from engram_client.retry import RetryPolicy

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT = 30.0  # seconds, per request


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request. ``mutating`` calls get an ``Idempotency-Key`` (``idempotency_key`` or a new one),
    sent unchanged on every retry."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    body: Any = None
    params: Mapping[str, str] | None = None
    mutating: bool = False
    idempotency_key: str | None = None
    timeout: float | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def key(self) -> str | None:
        """The call's idempotency key: fixed for all its tries."""
        if not self.mutating:
            return None
        return self.idempotency_key or uuid.uuid4().hex

    def headers(self, key: str | None) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers


def returns(model: type[M]) -> Callable[[httpx.Response], M]:
    """A parser of a JSON body into ``model``."""
    return lambda response: model.model_validate_json(response.content)


def returns_optional(model: type[M]) -> Callable[[httpx.Response], M | None]:
    """Like ``returns``, but None for a 204 (whatever bytes came with it)."""
    return lambda response: None if response.status_code == 204 else model.model_validate_json(response.content)


def returns_nothing(response: httpx.Response) -> None:
    return None


def resolve_base_url(base_url: str | None) -> str:
    """The API's origin from the argument or ``ENGRAM_URL``; a trailing ``/`` or ``/v1`` is dropped."""
    url = base_url or os.environ.get("ENGRAM_URL")
    if not url:
        raise ValueError("no Engram URL: pass base_url=... or set ENGRAM_URL (e.g. http://127.0.0.1:8080)")
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def resolve_api_key(api_key: str | None) -> str:
    key = api_key or os.environ.get("ENGRAM_API_KEY")
    if not key:
        raise ValueError("no Engram API key: pass api_key=... or set ENGRAM_API_KEY")
    return key


class _Base:
    """What both transports share: where to send, with which headers, how often to retry."""

    def __init__(
        self, base_url: str | None, api_key: str | None, retry: RetryPolicy | None, headers: Mapping[str, str] | None
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.retry = retry or RetryPolicy()
        self._headers = {
            "Authorization": f"Bearer {resolve_api_key(api_key)}",
            "Accept": "application/json",
            "User-Agent": f"engram-client-python/{__version__}",
            **(headers or {}),
        }

    def _request_args(self, call: Call[Any], key: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "method": call.method,
            "url": self.base_url + call.path,
            "params": call.params,
            "headers": {**self._headers, **call.headers(key)},
        }
        if call.body is not None:
            args["json"] = call.body
        if call.timeout is not None:
            args["timeout"] = call.timeout
        return args


def _parse(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer; a 2xx body that is not the expected shape raises ``EngramError``
    ``INVALID_RESPONSE`` (e.g. a proxy's HTML page), chained to the parsing error."""
    try:
        return call.parse(response)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        text = response.text[:200]
        raise EngramError(
            f"unexpected response body for {call.method} {call.path}: {text!r}",
            status=response.status_code,
            code="INVALID_RESPONSE",
            response=response,
        ) from exc


def _outcome(response: httpx.Response) -> httpx.Response | EngramError:
    return response if response.is_success else error_from_response(response)


class SyncHTTP(_Base):
    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, api_key, retry, headers)
        self._client = http_client or httpx.Client(timeout=timeout)
        self._owns_client = http_client is None

    def run(self, call: Call[T]) -> T:
        """Send ``call`` (retrying per the policy, same idempotency key) and parse its answer."""
        key = call.key()
        retry = 0
        while True:
            outcome = self._try(call, key)
            if not isinstance(outcome, EngramError):
                return _parse(call, outcome)
            delay = self.retry.delay(retry, outcome)
            if delay is None:
                raise outcome
            time.sleep(delay)
            retry += 1

    def _try(self, call: Call[Any], key: str | None) -> httpx.Response | EngramError:
        try:
            return _outcome(self._client.request(**self._request_args(call, key)))
        except httpx.TransportError as exc:
            return error_from_transport(exc)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


class AsyncHTTP(_Base):
    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url, api_key, retry, headers)
        self._client = http_client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = http_client is None

    async def run(self, call: Call[T]) -> T:
        """Send ``call`` (retrying per the policy, same idempotency key) and parse its answer."""
        key = call.key()
        retry = 0
        while True:
            outcome = await self._try(call, key)
            if not isinstance(outcome, EngramError):
                return _parse(call, outcome)
            delay = self.retry.delay(retry, outcome)
            if delay is None:
                raise outcome
            await asyncio.sleep(delay)
            retry += 1

    async def _try(self, call: Call[Any], key: str | None) -> httpx.Response | EngramError:
        try:
            return _outcome(await self._client.request(**self._request_args(call, key)))
        except httpx.TransportError as exc:
            return error_from_transport(exc)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
