"""Iterators over the pages of ``POST /v1/memories/retrieve`` in list mode (newest first).

Nothing is requested until iteration starts; each next page is requested when the previous one is used
up, following ``next_page_token`` until the server gives none. A page may hold fewer memories than
``page_size`` (expired memories and topic filtering are applied per page), even none, and still not be
the last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from engram_client.models import Memory, RetrieveResponse


class MemoryPager:
    """``for memory in pager`` yields every ``Memory``; ``pager.pages()`` yields each ``RetrieveResponse``."""

    def __init__(self, fetch: Callable[[str | None], RetrieveResponse], page_token: str | None = None) -> None:
        self._fetch = fetch
        self._first_token = page_token

    def pages(self) -> Iterator[RetrieveResponse]:
        token = self._first_token
        while True:
            page = self._fetch(token)
            yield page
            token = page.next_page_token
            if not token:
                return

    def __iter__(self) -> Iterator[Memory]:
        for page in self.pages():
            for scored in page.memories:
                yield scored.memory


class AsyncMemoryPager:
    """``async for memory in pager`` yields every ``Memory``; ``pager.pages()`` yields each ``RetrieveResponse``."""

    def __init__(
        self, fetch: Callable[[str | None], Awaitable[RetrieveResponse]], page_token: str | None = None
    ) -> None:
        self._fetch = fetch
        self._first_token = page_token

    async def pages(self) -> AsyncIterator[RetrieveResponse]:
        token = self._first_token
        while True:
            page = await self._fetch(token)
            yield page
            token = page.next_page_token
            if not token:
                return

    async def __aiter__(self) -> AsyncIterator[Memory]:
        async for page in self.pages():
            for scored in page.memories:
                yield scored.memory
