"""``client.config``: the tenant's configuration (``/v1/config``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engram_client import _routes as routes
from engram_client._http import AsyncHTTP, SyncHTTP
from engram_client.models import TenantConfig


class Config:
    """The tenant's configuration: managed and custom topics, few-shot examples, TTL defaults."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def get(self) -> TenantConfig:
        """The configuration (defaults if never set): ``GET /v1/config``."""
        return self._http.run(routes.get_config())

    def put(self, config: TenantConfig | Mapping[str, Any], *, idempotency_key: str | None = None) -> TenantConfig:
        """Replace the whole configuration: ``PUT /v1/config``; fields left out take their defaults.

        ``{"managed_topics": [...], "custom_topics": [{"label", "description"}] (≤ 20), "examples":
        [{"conversation": [messages], "facts": [{"fact", "topics"?}]}] (≤ 10), "ttl": {...} (seconds,
        60 s - 10 years, None = never)}``. Returns the stored ``TenantConfig``. Raises ``ValidationError``.
        """
        return self._http.run(routes.put_config(config, idempotency_key))


class AsyncConfig:
    """Like ``Config``, awaited."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def get(self) -> TenantConfig:
        """``GET /v1/config`` → ``TenantConfig``; see ``Config.get``."""
        return await self._http.run(routes.get_config())

    async def put(
        self, config: TenantConfig | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> TenantConfig:
        """``PUT /v1/config`` → ``TenantConfig``; see ``Config.put``."""
        return await self._http.run(routes.put_config(config, idempotency_key))
