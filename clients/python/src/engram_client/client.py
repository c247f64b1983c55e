"""``Engram`` (sync) and ``AsyncEngram`` (async): one API key, one HTTP connection pool, four resources."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import httpx

from engram_client._http import DEFAULT_TIMEOUT, AsyncHTTP, SyncHTTP
from engram_client.resources import (
    AsyncConfig,
    AsyncMemories,
    AsyncOperations,
    AsyncSessions,
    Config,
    Memories,
    Operations,
    Sessions,
)
from engram_client.retry import RetryPolicy


class Engram:
    """The Engram API, synchronously.

    ``base_url``: the API's origin, e.g. ``http://127.0.0.1:8080`` (a trailing ``/v1`` is accepted),
    default ``ENGRAM_URL``; ``api_key``: default ``ENGRAM_API_KEY`` (``ValueError`` if neither is set).
    ``timeout``: seconds per request; ``retry``: a ``RetryPolicy`` (default: 3 retries, backoff from
    0.5 s to 8 s with jitter, ``Retry-After`` honoured); ``headers``: sent with every request;
    ``http_client``: your own ``httpx.Client`` (its own timeout then applies; not closed by ``close()``).

    Resources: ``memories``, ``operations``, ``sessions``, ``config``. Use it as a context manager, or
    call ``close()``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = SyncHTTP(base_url, api_key, timeout=timeout, retry=retry, headers=headers, http_client=http_client)
        self.memories = Memories(self._http)
        self.operations = Operations(self._http)
        self.sessions = Sessions(self._http)
        self.config = Config(self._http)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Engram:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncEngram:
    """The Engram API, asynchronously: like ``Engram`` (same arguments; ``http_client`` is an
    ``httpx.AsyncClient``), every call awaited. Use ``async with``, or ``await aclose()``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = AsyncHTTP(
            base_url, api_key, timeout=timeout, retry=retry, headers=headers, http_client=http_client
        )
        self.memories = AsyncMemories(self._http)
        self.operations = AsyncOperations(self._http)
        self.sessions = AsyncSessions(self._http)
        self.config = AsyncConfig(self._http)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncEngram:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
