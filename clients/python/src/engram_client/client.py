"""``Engram`` (sync) and ``AsyncEngram`` (async): one API key, one HTTP connection pool, four resources."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType

import httpx

from engram_client import _routes
from engram_client._http import DEFAULT_TIMEOUT, AsyncHTTP, SyncHTTP
from engram_client.models import ForgetReceipt, Stats
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

    def forget(
        self,
        scope: Mapping[str, str],
        session_ids: Sequence[str] = (),
        *,
        idempotency_key: str | None = None,
        max_requests: int = 20,
    ) -> ForgetReceipt:
        """Forget ``scope`` for good: ``POST /v1/forget`` deletes its memories (also expired ones), their
        revisions and index entries, its generations with their stored requests, and the events of the
        sessions ``session_ids``. Returns the receipt (no content: ``scope_hash``, ``counts``,
        ``requested_at``, ``completed_at``).

        A forget the server could not finish in one request (202, ``completed_at`` None) is sent again
        with the same ``Idempotency-Key`` until it completes, at most ``max_requests`` times (then the
        receipt in progress is returned: call again to continue). Raises ``ValidationError``.
        """
        call = _routes.forget(scope, session_ids, idempotency_key or uuid.uuid4().hex)
        receipt = self._http.run(call)
        for _ in range(max_requests - 1):
            if receipt.completed:
                break
            receipt = self._http.run(call)
        return receipt

    def forget_receipt(self, receipt_id: str) -> ForgetReceipt:
        """A forget's receipt: ``GET /v1/forget/{receipt_id}``. Raises ``NotFoundError``."""
        return self._http.run(_routes.forget_receipt(receipt_id))

    def stats(
        self, scope: Mapping[str, str] | None = None, *, days: int | None = None, group_by: str | None = None
    ) -> Stats:
        """Usage analytics of ``scope`` (None: the whole tenant) over the last ``days`` UTC days (1-366;
        server default 30): ``GET /v1/stats``. ``group_by``: ``"topic"`` or ``"metadata.<key>"`` (needs a
        scope) fills ``by_group``. Raises ``ValidationError`` naming a bad parameter."""
        return self._http.run(_routes.stats(scope, days, group_by))

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

    async def forget(
        self,
        scope: Mapping[str, str],
        session_ids: Sequence[str] = (),
        *,
        idempotency_key: str | None = None,
        max_requests: int = 20,
    ) -> ForgetReceipt:
        """``POST /v1/forget`` until the receipt completes; see ``Engram.forget``."""
        call = _routes.forget(scope, session_ids, idempotency_key or uuid.uuid4().hex)
        receipt = await self._http.run(call)
        for _ in range(max_requests - 1):
            if receipt.completed:
                break
            receipt = await self._http.run(call)
        return receipt

    async def forget_receipt(self, receipt_id: str) -> ForgetReceipt:
        """``GET /v1/forget/{receipt_id}``; see ``Engram.forget_receipt``."""
        return await self._http.run(_routes.forget_receipt(receipt_id))

    async def stats(
        self, scope: Mapping[str, str] | None = None, *, days: int | None = None, group_by: str | None = None
    ) -> Stats:
        """``GET /v1/stats`` → ``Stats``; see ``Engram.stats``."""
        return await self._http.run(_routes.stats(scope, days, group_by))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncEngram:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
