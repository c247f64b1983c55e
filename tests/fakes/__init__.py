"""In-memory fakes of the ports, shared by the unit tests and the store contract suite (imported as
``tests.fakes``: pytest's ``importlib`` import mode makes ``tests`` a package root; no ``sys.path`` edits).

- ``store``: one fake repository per table port, bundled as ``FakeStores`` (the contract suite in
  ``tests/integration/store`` holds them to the DynamoDB adapter's behaviour).
- ``index``: ``FakeIndex`` and ``connect_stream`` (the mirrored DynamoDB stream).
- ``models``: ``CountingEmbedder``, ``ScriptedLLM``, ``FixedClock``.
"""

from tests.fakes.index import FakeIndex, connect_stream
from tests.fakes.models import START, CountingEmbedder, FixedClock, ScriptedLLM
from tests.fakes.store import (
    MAX_CHANGES,
    FakeApiKeys,
    FakeConfigs,
    FakeForget,
    FakeLeases,
    FakeMemories,
    FakeOperations,
    FakeRetention,
    FakeSessions,
    FakeStores,
)

__all__ = [
    "MAX_CHANGES",
    "START",
    "CountingEmbedder",
    "FakeApiKeys",
    "FakeConfigs",
    "FakeForget",
    "FakeIndex",
    "FakeLeases",
    "FakeMemories",
    "FakeOperations",
    "FakeRetention",
    "FakeSessions",
    "FakeStores",
    "FixedClock",
    "ScriptedLLM",
    "connect_stream",
]
