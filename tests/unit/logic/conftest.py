"""Fixtures for the use-case tests (no AWS, no network, no moto): the in-memory fakes of ``tests.fakes``.

``stores`` bundles one fake repository per table port (``stores.memories``, ``stores.operations``,
``stores.sessions``, ``stores.api_keys``, ``stores.leases``, ``stores.configs``, ``stores.retention``),
its memory writes reaching ``index`` through the mirrored stream. ``fakes`` gives the classes.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests import fakes as fake_module
from tests.fakes import CountingEmbedder, FakeIndex, FakeStores, FixedClock, ScriptedLLM, connect_stream


@pytest.fixture
def fakes() -> SimpleNamespace:
    """The fake classes and helpers, for tests that need more than the default instances."""
    return SimpleNamespace(**{name: getattr(fake_module, name) for name in fake_module.__all__})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def index(clock: FixedClock) -> FakeIndex:
    """The fake index, deciding expiry by the test's ``clock`` as the real index does by its own."""
    return FakeIndex(clock)


@pytest.fixture
def stores(index: FakeIndex) -> FakeStores:
    """Every repository, the memories' writes reaching ``index`` through the mirrored stream."""
    bundle = FakeStores()
    connect_stream(bundle.memories, index)
    return bundle


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()
