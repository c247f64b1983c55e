"""Fixtures for the integration suites: other tenants' clients and a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from engram import wiring
from engram.logic.auth import create_api_key
from engram_dev.client import EngramClient


class SteppingClock:
    """A clock the test moves forward; starts at the real time."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> SteppingClock:
    """Every handler of the local stack reads time from this clock during the test."""
    stepping = SteppingClock()
    monkeypatch.setattr(wiring.dependencies(), "clock", stepping)
    return stepping


@pytest.fixture
def tenant_client(local_stack):
    """``tenant_client(name)`` → a client with a new API key of tenant ``name``."""

    def make(tenant: str) -> EngramClient:
        deps = wiring.dependencies()
        key = create_api_key(deps.api_keys, deps.clock, tenant, "test")
        return EngramClient(local_stack.api_url, key)

    return make
