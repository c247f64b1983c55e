"""``OpenSearchIndex.indexed_ids``: every document's ``(tenant_id, memory_id)``, page after page with
``search_after``, each once (reindex uses it to find documents whose memory is gone)."""

from __future__ import annotations

from typing import Any

import pytest
from engram.adapters import opensearch
from engram.adapters.opensearch import OpenSearchIndex, indexed_ids_query_body


class PagedClient:
    """Answers ``search`` from ``documents`` (sorted by tenant, then memory id), honouring size,
    the tenant term and ``search_after``; records every body."""

    def __init__(self, documents: list[tuple[str, str]]) -> None:
        self.documents = sorted(documents)
        self.bodies: list[dict[str, Any]] = []

    def search(self, index: str, body: dict[str, Any], params: Any = None) -> dict[str, Any]:
        self.bodies.append(body)
        tenant = body["query"].get("term", {}).get("tenant_id")
        after = tuple(body.get("search_after") or ())
        rows = [d for d in self.documents if (tenant is None or d[0] == tenant) and (not after or d > after)]
        page = rows[: body["size"]]
        hits = [{"_source": {"tenant_id": t, "memory_id": m}, "sort": [t, m]} for t, m in page]
        return {"hits": {"hits": hits}}


def test_ids_come_page_after_page_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given five documents of two tenants, one memory held twice (a stale copy without custom ids)
    monkeypatch.setattr(opensearch, "IDS_PAGE", 3)
    client = PagedClient([("t1", "a"), ("t1", "b"), ("t1", "b"), ("t1", "c"), ("t2", "a")])
    index = OpenSearchIndex(client, "engram", 3, custom_ids=False)

    # When every id is listed, and one tenant's
    everything = list(index.indexed_ids())
    of_t1 = list(index.indexed_ids("t1"))

    # Then each document's ids come once, in order, over pages continued with search_after
    assert everything == [("t1", "a"), ("t1", "b"), ("t1", "c"), ("t2", "a")]
    assert of_t1 == [("t1", "a"), ("t1", "b"), ("t1", "c")]
    assert [b.get("search_after") for b in client.bodies[:2]] == [None, ["t1", "b"]]


def test_the_query_reads_only_the_ids() -> None:
    body = indexed_ids_query_body("t1", 1000, ["t1", "x"])
    assert body == {
        "size": 1000,
        "_source": ["tenant_id", "memory_id"],
        "query": {"term": {"tenant_id": "t1"}},
        "sort": [{"tenant_id": "asc"}, {"memory_id": "asc"}],
        "search_after": ["t1", "x"],
    }
    assert indexed_ids_query_body(None, 10)["query"] == {"match_all": {}}
