"""``VectorIndex.indexed_ids`` on the local index and the fake: every document's ``(tenant_id,
memory_id)``, of one tenant or all, expired ones too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engram.models.index import IndexDocument
from engram_dev.local_index import LocalIndex

from tests.fakes import FakeIndex

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def doc(tenant_id: str, memory_id: str, expire_time: datetime | None = None) -> IndexDocument:
    return IndexDocument(
        tenant_id=tenant_id,
        memory_id=memory_id,
        scope_hash="s",
        fact="A fact.",
        topics=[],
        embedding=[1.0, 0.0, 0.0],
        embedding_model="m",
        revision_id="r1",
        update_time=NOW,
        expire_time=expire_time,
    )


@pytest.fixture(params=["local", "fake"])
def index(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    return LocalIndex(tmp_path) if request.param == "local" else FakeIndex()


def test_indexed_ids_lists_every_document_of_one_tenant_or_all(index: Any) -> None:
    index.ensure_index()
    assert sorted(index.indexed_ids()) == []
    index.upsert([doc("t1", "a"), doc("t1", "b", expire_time=NOW - timedelta(days=1)), doc("t2", "a")])
    index.delete("t1", ["a"])
    index.upsert([doc("t1", "c")])

    assert sorted(index.indexed_ids()) == [("t1", "b"), ("t1", "c"), ("t2", "a")]
    assert sorted(index.indexed_ids("t1")) == [("t1", "b"), ("t1", "c")]
    assert list(index.indexed_ids("t3")) == []
