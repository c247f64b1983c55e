"""``client.operations``: the state of generations (``GET /v1/operations/{id}``) and waiting for them."""

from __future__ import annotations

import asyncio
import time

from engram_client import _routes as routes
from engram_client._http import AsyncHTTP, SyncHTTP
from engram_client.errors import OperationTimeoutError
from engram_client.models import Operation

DEFAULT_WAIT_TIMEOUT = 120.0  # seconds
FIRST_POLL_INTERVAL = 0.2  # seconds; grows by half each poll up to the caller's poll_interval


def _id(operation: Operation | str) -> str:
    return operation if isinstance(operation, str) else operation.id


class _Poll:
    """The waiting schedule: intervals growing from 0.2 s to ``poll_interval``, never past the deadline."""

    def __init__(self, timeout: float, poll_interval: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.interval = min(FIRST_POLL_INTERVAL, poll_interval)
        self.max_interval = poll_interval

    def next_sleep(self) -> float | None:
        """Seconds to sleep before the next poll, or None when the time is up."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        sleep = min(self.interval, left)
        self.interval = min(self.interval * 1.5, self.max_interval)
        return sleep


class Operations:
    """Generations: ``get`` one, ``wait`` until it finishes."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def get(self, operation: Operation | str) -> Operation:
        """The current state of an operation (an ``Operation`` or its id): ``GET /v1/operations/{id}``.
        Raises ``NotFoundError``."""
        return self._http.run(routes.get_operation(_id(operation)))

    def wait(
        self, operation: Operation | str, timeout: float = DEFAULT_WAIT_TIMEOUT, *, poll_interval: float = 2.0
    ) -> Operation:
        """Poll ``GET /v1/operations/{id}`` until the operation is SUCCEEDED or FAILED; return it.

        ``timeout`` and ``poll_interval`` in seconds (polls start 0.2 s apart and slow down to
        ``poll_interval``). A finished ``Operation`` passed in is returned without a request. A FAILED
        operation is returned, not raised: call ``.raise_for_status()`` for ``OperationFailedError``.
        A SUCCEEDED operation with ``index_pending`` is returned like any success (its changes are
        stored; search returns them once the index catches up): never start it again.
        Raises ``OperationTimeoutError`` (with ``.operation``, still RUNNING) when ``timeout`` runs out,
        ``NotFoundError`` for an unknown id.
        """
        if isinstance(operation, Operation) and operation.done:
            return operation
        poll = _Poll(timeout, poll_interval)
        while True:
            current = self.get(operation)
            if current.done:
                return current
            sleep = poll.next_sleep()
            if sleep is None:
                raise OperationTimeoutError(current, timeout)
            time.sleep(sleep)


class AsyncOperations:
    """Like ``Operations``, awaited."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def get(self, operation: Operation | str) -> Operation:
        """``GET /v1/operations/{id}`` → ``Operation``; see ``Operations.get``."""
        return await self._http.run(routes.get_operation(_id(operation)))

    async def wait(
        self, operation: Operation | str, timeout: float = DEFAULT_WAIT_TIMEOUT, *, poll_interval: float = 2.0
    ) -> Operation:
        """Poll until SUCCEEDED or FAILED; see ``Operations.wait``."""
        if isinstance(operation, Operation) and operation.done:
            return operation
        poll = _Poll(timeout, poll_interval)
        while True:
            current = await self.get(operation)
            if current.done:
                return current
            sleep = poll.next_sleep()
            if sleep is None:
                raise OperationTimeoutError(current, timeout)
            await asyncio.sleep(sleep)
