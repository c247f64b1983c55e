"""Tenant configuration: read with defaults, replace as a whole, and the TTL arithmetic built on it."""

from __future__ import annotations

from datetime import datetime, timedelta

from engram.models.config import TenantConfig
from engram.ports import Clock, ConfigRepository


def get_config(configs: ConfigRepository, tenant_id: str) -> TenantConfig:
    """The tenant's config, or the defaults (all managed topics, no examples, revisions kept 365 days)."""
    raw = configs.get(tenant_id)
    return TenantConfig.model_validate(raw) if raw is not None else TenantConfig()


def put_config(configs: ConfigRepository, clock: Clock, tenant_id: str, config: TenantConfig) -> TenantConfig:
    """Replace the tenant's config; returns it."""
    configs.put(tenant_id, config.model_dump(mode="json"), clock.now())
    return config


def expire_at(now: datetime, ttl_seconds: int | None) -> datetime | None:
    """``now + ttl_seconds``, or None (never expires) when no TTL applies."""
    return now + timedelta(seconds=ttl_seconds) if ttl_seconds else None
