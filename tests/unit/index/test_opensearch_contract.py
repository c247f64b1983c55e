"""Contract tests of the OpenSearch adapter: the exact mapping and query bodies, and what
``OpenSearchIndex`` sends to (and makes of the answers of) a recording fake OpenSearch on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from engram.adapters.opensearch import (
    OpenSearchIndex,
    build_client,
    cosine_from_score,
    delete_documents_query_body,
    delete_query_body,
    document_body,
    hybrid_query_body,
    index_body,
    knn_query_body,
    lexical_query_body,
    metadata_filter_query,
    metadata_mapping_body,
    revisions_query_body,
    search_body,
    search_pipeline_body,
)
from engram.errors import ConfigurationError, IndexUnavailable
from engram.logic.indexing import StreamChange, apply_stream_batch
from engram.models.filters import parse as parse_filter
from engram.models.index import IndexDocument, IndexQuery
from engram.models.ranking import fusion_depth, hybrid_weights

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
INDEX = "engram-test"


class FixedClock:
    def now(self) -> datetime:
        return NOW


def make_doc(memory_id: str = "m1", *, tenant: str = "t1", expire: datetime | None = None) -> IndexDocument:
    return IndexDocument(
        tenant_id=tenant,
        memory_id=memory_id,
        scope_hash="h1",
        fact="likes tea",
        topics=["USER_PREFERENCES"],
        embedding=[0.6, 0.8, 0.0],
        embedding_model="text-embedding-3-small",
        revision_id="r1",
        update_time=datetime(2026, 1, 1, tzinfo=UTC),
        expire_time=expire,
    )


def make_query(**overrides: Any) -> IndexQuery:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "scope_hash": "h1",
        "vector": [1.0, 0.0, 0.0],
        "embedding_model": "text-embedding-3-small",
        "k": 5,
    }
    return IndexQuery(**{**values, **overrides})


# --- pure bodies --------------------------------------------------------------------------------


def expected_mapping(engine: str, space_type: str) -> dict[str, Any]:
    return {
        "settings": {"index": {"knn": True, "similarity": {"default": {"type": "BM25", "k1": 1.2, "b": 0.3}}}},
        "mappings": {
            "properties": {
                "tenant_id": {"type": "keyword"},
                "scope_hash": {"type": "keyword"},
                "memory_id": {"type": "keyword"},
                "topics": {"type": "keyword"},
                "embedding_model": {"type": "keyword"},
                "revision_id": {"type": "keyword"},
                "fact": {"type": "text", "analyzer": "english"},
                "create_time": {"type": "date"},
                "update_time": {"type": "date"},
                "expire_time": {"type": "date"},
                "meta": {
                    "type": "nested",
                    "properties": {
                        "k": {"type": "keyword"},
                        "s": {"type": "keyword"},
                        "n": {"type": "double"},
                        "b": {"type": "boolean"},
                        "l": {"type": "keyword"},
                    },
                },
                "embedding": {
                    "type": "knn_vector",
                    "dimension": 1536,
                    "method": {
                        "name": "hnsw",
                        "engine": engine,
                        "space_type": space_type,
                        "parameters": {"ef_construction": 128, "m": 16},
                    },
                },
            }
        },
    }


@pytest.mark.parametrize(("engine", "space_type"), [("lucene", "cosinesimil"), ("faiss", "innerproduct")])
def test_index_body(engine: str, space_type: str) -> None:
    """Given an engine, when building the index body, then it is exactly the k-NN mapping with HNSW on
    that engine and its space type."""
    assert index_body(1536, engine) == expected_mapping(engine, space_type)  # type: ignore[arg-type]


def test_index_body_rejects_an_unknown_engine() -> None:
    """Given an engine that is neither lucene nor faiss, when building the body, then ConfigurationError."""
    with pytest.raises(ConfigurationError):
        index_body(8, "nmslib")  # type: ignore[arg-type]


def test_knn_query_body_with_every_filter() -> None:
    """Given a query with topics and excluded ids,
    when building its body,
    then every filter sits inside the knn clause and size equals k."""
    body = knn_query_body(make_query(k=7, topics=["a", "b"], exclude_ids=["x1", "x2"]), NOW)

    assert body == {
        "size": 7,
        "_source": {"excludes": ["embedding"]},
        "query": {
            "knn": {
                "embedding": {
                    "vector": [1.0, 0.0, 0.0],
                    "k": 7,
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {"tenant_id": "t1"}},
                                {"term": {"scope_hash": "h1"}},
                                {"term": {"embedding_model": "text-embedding-3-small"}},
                                {"terms": {"topics": ["a", "b"]}},
                                {
                                    "bool": {
                                        "should": [
                                            {"bool": {"must_not": [{"exists": {"field": "expire_time"}}]}},
                                            {"range": {"expire_time": {"gt": "2026-01-02T03:04:05.678Z"}}},
                                        ],
                                        "minimum_should_match": 1,
                                    }
                                },
                            ],
                            "must_not": [{"terms": {"memory_id": ["x1", "x2"]}}],
                        }
                    },
                }
            }
        },
    }


def test_knn_query_body_without_optional_filters() -> None:
    """Given a query without topics (None or empty) nor excluded ids,
    when building its body,
    then the filter holds only tenant, scope, model and expiry."""
    expected_filter = {
        "bool": {
            "filter": [
                {"term": {"tenant_id": "t1"}},
                {"term": {"scope_hash": "h1"}},
                {"term": {"embedding_model": "text-embedding-3-small"}},
                {
                    "bool": {
                        "should": [
                            {"bool": {"must_not": [{"exists": {"field": "expire_time"}}]}},
                            {"range": {"expire_time": {"gt": "2026-01-02T03:04:05.678Z"}}},
                        ],
                        "minimum_should_match": 1,
                    }
                },
            ]
        }
    }
    no_topics: list[list[str] | None] = [None, []]
    for topics in no_topics:
        body = knn_query_body(make_query(topics=topics), NOW)
        assert body["query"]["knn"]["embedding"]["filter"] == expected_filter
        assert body["size"] == 5


EXPECTED_FILTER_WITH_TOPICS_AND_EXCLUSIONS = {
    "bool": {
        "filter": [
            {"term": {"tenant_id": "t1"}},
            {"term": {"scope_hash": "h1"}},
            {"term": {"embedding_model": "text-embedding-3-small"}},
            {"terms": {"topics": ["a", "b"]}},
            {
                "bool": {
                    "should": [
                        {"bool": {"must_not": [{"exists": {"field": "expire_time"}}]}},
                        {"range": {"expire_time": {"gt": "2026-01-02T03:04:05.678Z"}}},
                    ],
                    "minimum_should_match": 1,
                }
            },
        ],
        "must_not": [{"terms": {"memory_id": ["x1", "x2"]}}],
    }
}


def test_lexical_query_body_with_every_filter() -> None:
    """Given a lexical query with topics and excluded ids,
    when building its body,
    then it is a BM25 match of the text on fact inside a bool holding every filter, size k."""
    q = make_query(k=7, topics=["a", "b"], exclude_ids=["x1", "x2"], text="Where does Ana live?", mode="lexical")

    assert lexical_query_body(q, NOW) == {
        "size": 7,
        "_source": {"excludes": ["embedding"]},
        "query": {
            "bool": {
                "must": [{"match": {"fact": {"query": "Where does Ana live?"}}}],
                "filter": EXPECTED_FILTER_WITH_TOPICS_AND_EXCLUSIONS["bool"]["filter"],
                "must_not": [{"terms": {"memory_id": ["x1", "x2"]}}],
            }
        },
    }
    assert search_body(q, NOW) == lexical_query_body(q, NOW)


def test_hybrid_query_body_with_every_filter() -> None:
    """Given a hybrid query with topics and excluded ids,
    when building its body,
    then it is a hybrid query of the lexical bool query and the knn query, each with every filter
    and keeping its top max(50, 5k) (size and the knn k) for the fusion."""
    q = make_query(k=7, topics=["a", "b"], exclude_ids=["x1", "x2"], text="Where does Ana live?", mode="hybrid")

    assert hybrid_query_body(q, NOW) == {
        "size": 50,
        "_source": {"excludes": ["embedding"]},
        "query": {
            "hybrid": {
                "queries": [
                    {
                        "bool": {
                            "must": [{"match": {"fact": {"query": "Where does Ana live?"}}}],
                            "filter": EXPECTED_FILTER_WITH_TOPICS_AND_EXCLUSIONS["bool"]["filter"],
                            "must_not": [{"terms": {"memory_id": ["x1", "x2"]}}],
                        }
                    },
                    {
                        "knn": {
                            "embedding": {
                                "vector": [1.0, 0.0, 0.0],
                                "k": 50,
                                "filter": EXPECTED_FILTER_WITH_TOPICS_AND_EXCLUSIONS,
                            }
                        }
                    },
                ]
            }
        },
    }
    assert search_body(q, NOW) == hybrid_query_body(q, NOW)


@pytest.mark.parametrize(("k", "depth"), [(1, 50), (10, 50), (11, 55), (20, 100)])
def test_hybrid_sub_queries_keep_the_fusion_depth(k: int, depth: int) -> None:
    """Given hybrid queries of several k, when building their bodies, then each sub-query keeps
    fusion_depth(k) = max(50, 5k) hits (size bounds the match, k the knn), as the local index fuses."""
    body = hybrid_query_body(make_query(k=k, text="jazz", mode="hybrid"), NOW)

    assert fusion_depth(k) == depth
    assert body["size"] == depth
    assert body["query"]["hybrid"]["queries"][1]["knn"]["embedding"]["k"] == depth


def test_knn_body_is_the_dense_search_body() -> None:
    """Given a dense query (the default mode), when choosing its body, then it is the knn body."""
    q = make_query(text="ignored in dense mode")

    assert q.mode == "dense"
    assert search_body(q, NOW) == knn_query_body(q, NOW)


def test_lexical_body_without_text_matches_nothing() -> None:
    """Given a lexical query without text, when building its body, then it matches the empty string."""
    body = lexical_query_body(make_query(mode="lexical"), NOW)

    assert body["query"]["bool"]["must"] == [{"match": {"fact": {"query": ""}}}]


@pytest.mark.parametrize(
    ("model", "weights"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", [0.6, 0.4]),
        ("engram-offline-hash-v1", [0.98, 0.02]),
        ("text-embedding-3-small", [0.6, 0.4]),
    ],
)
def test_search_pipeline_body(model: str, weights: list[float]) -> None:
    """Given an embedding model, when building the hybrid search pipeline with its weights, then it
    min-max normalizes each sub-query and takes their weighted arithmetic mean (lexical first, as in
    the hybrid query): the fusion fuse_min_max computes."""
    assert search_pipeline_body(hybrid_weights(model)) == {
        "description": "Engram hybrid retrieval: min-max normalized BM25 and k-NN scores, weighted mean",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": weights}},
                }
            }
        ],
    }


def test_document_body() -> None:
    """Given documents with and without expiry, when building their bodies, then times are RFC 3339 UTC
    and a document without expiry has no expire_time field."""
    assert document_body(make_doc(expire=datetime(2026, 2, 1, 12, 0, 0, 250000, tzinfo=UTC))) == {
        "tenant_id": "t1",
        "memory_id": "m1",
        "scope_hash": "h1",
        "fact": "likes tea",
        "topics": ["USER_PREFERENCES"],
        "embedding": [0.6, 0.8, 0.0],
        "embedding_model": "text-embedding-3-small",
        "revision_id": "r1",
        "update_time": "2026-01-01T00:00:00.000Z",
        "expire_time": "2026-02-01T12:00:00.250Z",
        "meta": [],
    }
    assert "expire_time" not in document_body(make_doc())


def test_document_body_indexes_metadata_as_typed_nested_entries() -> None:
    """Given metadata of every value type, when building the body, then each key is one ``meta`` entry
    with its value in the field of its type, and the create time is indexed."""
    doc = dataclasses.replace(
        make_doc(),
        metadata={"lang": "pt", "priority": 2, "score": 0.5, "pinned": True},
        create_time=datetime(2025, 12, 31, tzinfo=UTC),
    )
    body = document_body(doc)
    assert body["meta"] == [
        {"k": "lang", "s": "pt"},
        {"k": "pinned", "b": True},
        {"k": "priority", "n": 2},
        {"k": "score", "n": 0.5},
    ]
    assert body["create_time"] == "2025-12-31T00:00:00.000Z"


def test_document_body_indexes_list_items_one_entry_each_and_leaves_null_out() -> None:
    """Given a list-valued key, an empty list and a null, when building the body, then each list item is
    one ``meta`` entry in ``l`` (so ``$eq`` on ``s`` never matches an item), and the empty list and the
    null have no entry."""
    doc = dataclasses.replace(
        make_doc(), metadata={"tags": ["python", "aws"], "none": [], "gone": None, "lang": "python"}
    )
    assert document_body(doc)["meta"] == [
        {"k": "lang", "s": "python"},
        {"k": "tags", "l": "python"},
        {"k": "tags", "l": "aws"},
    ]


def test_list_valued_filters_translate_to_terms_on_the_item_field() -> None:
    """Given ``$contains`` and a ``$in`` of strings and a number, when translating, then ``$contains`` is a
    ``term`` on ``meta.l`` and ``$in`` also looks for its strings among list items (``meta.l``)."""
    node = parse_filter({"participants": {"$contains": "alice"}, "tags": {"$in": ["python", "aws", 3]}})
    assert metadata_filter_query(node) == {
        "bool": {
            "filter": [
                _nested("participants", {"term": {"meta.l": "alice"}}),
                _nested(
                    "tags",
                    {
                        "bool": {
                            "should": [
                                {"terms": {"meta.l": ["python", "aws"]}},
                                {"terms": {"meta.n": [3]}},
                                {"terms": {"meta.s": ["python", "aws"]}},
                            ],
                            "minimum_should_match": 1,
                        }
                    },
                ),
            ]
        }
    }


def test_metadata_mapping_body_adds_the_current_meta_fields() -> None:
    """The mapping update an existing index gets is exactly the ``meta`` field of a new index."""
    assert metadata_mapping_body() == {
        "properties": {"meta": index_body(8, "lucene")["mappings"]["properties"]["meta"]}
    }
    assert metadata_mapping_body()["properties"]["meta"]["properties"]["l"] == {"type": "keyword"}


def _nested(key: str, condition: dict) -> dict:
    return {"nested": {"path": "meta", "query": {"bool": {"filter": [{"term": {"meta.k": key}}, condition]}}}}


def test_metadata_filter_translation() -> None:
    """Given a filter with every operator, when translating it, then each comparison is a nested query on
    the typed value field, negations are must_not, and times are range queries on the date fields."""
    node = parse_filter(
        {
            "lang": "pt",
            "priority": {"$gte": 2, "$ne": 5},
            "tag": {"$in": ["a", 1, True], "$nin": ["x"]},
            "$or": [{"pinned": True}, {"$not": {"create_time": {"$lt": "2026-01-01T00:00:00Z"}}}],
        }
    )
    assert metadata_filter_query(node) == {
        "bool": {
            "filter": [
                _nested("lang", {"term": {"meta.s": "pt"}}),
                _nested("priority", {"range": {"meta.n": {"gte": 2}}}),
                {"bool": {"must_not": [_nested("priority", {"term": {"meta.n": 5}})]}},
                _nested(
                    "tag",
                    {
                        "bool": {
                            "should": [
                                {"terms": {"meta.b": [True]}},
                                {"terms": {"meta.l": ["a"]}},
                                {"terms": {"meta.n": [1]}},
                                {"terms": {"meta.s": ["a"]}},
                            ],
                            "minimum_should_match": 1,
                        }
                    },
                ),
                {
                    "bool": {
                        "must_not": [
                            _nested(
                                "tag",
                                {
                                    "bool": {
                                        "should": [{"terms": {"meta.l": ["x"]}}, {"terms": {"meta.s": ["x"]}}],
                                        "minimum_should_match": 1,
                                    }
                                },
                            )
                        ]
                    }
                },
                {
                    "bool": {
                        "should": [
                            _nested("pinned", {"term": {"meta.b": True}}),
                            {"bool": {"must_not": [{"range": {"create_time": {"lt": "2026-01-01T00:00:00Z"}}}]}},
                        ],
                        "minimum_should_match": 1,
                    }
                },
            ]
        }
    }


def test_the_filter_goes_inside_the_knn_clause() -> None:
    query = dataclasses.replace(make_query(k=3), filter=parse_filter({"lang": "pt"}))
    knn_filter = knn_query_body(query, NOW)["query"]["knn"]["embedding"]["filter"]["bool"]["filter"]
    assert knn_filter[-1] == _nested("lang", {"term": {"meta.s": "pt"}})


def test_revisions_and_delete_query_bodies() -> None:
    """Given a tenant and ids, when building the revisions and delete bodies, then both select those ids
    of that tenant only."""
    selection = {"bool": {"filter": [{"term": {"tenant_id": "t1"}}, {"terms": {"memory_id": ["m1", "m2"]}}]}}
    assert revisions_query_body("t1", ["m1", "m2"], size=2) == {
        "size": 2,
        "_source": ["memory_id", "revision_id", "update_time"],
        "query": selection,
    }
    assert delete_query_body("t1", ["m1", "m2"]) == {"query": selection}


def test_delete_documents_query_body_selects_each_tenants_ids_only() -> None:
    """Given ids of two tenants, when building one delete-by-query body for both, then it matches each
    tenant's ids and nothing else (one tenant: the single-tenant body)."""
    assert delete_documents_query_body({"t1": ["m1", "m2"]}) == delete_query_body("t1", ["m1", "m2"])
    assert delete_documents_query_body({"t1": ["m1"], "t2": ["m2"]}) == {
        "query": {
            "bool": {
                "should": [
                    {"bool": {"filter": [{"term": {"tenant_id": "t1"}}, {"terms": {"memory_id": ["m1"]}}]}},
                    {"bool": {"filter": [{"term": {"tenant_id": "t2"}}, {"terms": {"memory_id": ["m2"]}}]}},
                ],
                "minimum_should_match": 1,
            }
        }
    }


def lucene_score(cosine: float) -> float:
    return (1 + cosine) / 2


def faiss_score(inner_product: float) -> float:
    return inner_product + 1 if inner_product >= 0 else 1 / (1 - inner_product)


@pytest.mark.parametrize("cosine", [-1.0, -0.6, -0.1, 0.0, 0.25, 0.9, 1.0])
def test_scores_convert_back_to_cosine(cosine: float) -> None:
    """Given OpenSearch's score for a cosine on each engine, when converting back, then the cosine returns."""
    assert cosine_from_score(lucene_score(cosine), "lucene") == pytest.approx(cosine)
    assert cosine_from_score(faiss_score(cosine), "faiss") == pytest.approx(cosine)


# --- a recording fake OpenSearch ----------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    body: Any
    headers: dict[str, str]


@dataclass
class FakeOpenSearch:
    """Records every request; answers from ``replies`` keyed by (method, path), else 200 ``{}``.
    ``status`` forces one status for every request."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    replies: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    status: int | None = None

    def reply(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.replies[(method, path)] = (status, body)

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]


def _handler(fake: FakeOpenSearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            url = urlsplit(self.path)
            if url.path.endswith("/_bulk"):
                body: Any = [json.loads(line) for line in raw.splitlines() if line.strip()]
            else:
                body = json.loads(raw) if raw else None
            fake.requests.append(Recorded(self.command, url.path, url.query, body, dict(self.headers)))
            if fake.status is not None:
                status, answer = fake.status, {"error": {"type": "unavailable"}, "status": fake.status}
            else:
                status, answer = fake.replies.get((self.command, url.path), (200, {}))
            payload = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeOpenSearch]:
    recorder = FakeOpenSearch()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def adapter(fake: FakeOpenSearch, engine: str = "lucene", custom_ids: bool = True) -> OpenSearchIndex:
    client = build_client(fake.url, "us-east-1", "es", "none")
    return OpenSearchIndex(client, INDEX, 3, engine=engine, custom_ids=custom_ids, clock=FixedClock())  # type: ignore[arg-type]


def hit(memory_id: str, score: float, revision: str = "r1", update_time: str = "2026-01-01T00:00:00.000Z"):
    source = {"memory_id": memory_id, "revision_id": revision, "update_time": update_time}
    return {"_index": INDEX, "_id": f"t1:{memory_id}", "_score": score, "_source": source}


def bulk_ok(n: int, action: str = "index") -> dict[str, Any]:
    return {"errors": False, "items": [{action: {"status": 201}} for _ in range(n)]}


# --- ensure_index -------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["lucene", "faiss"])
def test_ensure_index_creates_the_index_and_its_hybrid_pipeline(fake: FakeOpenSearch, engine: str) -> None:
    """Given no index, when ensure_index runs, then it PUTs the index with index_body(dimension, engine)
    and then the search pipeline <index>-hybrid with search_pipeline_body()."""
    adapter(fake, engine).ensure_index()

    assert fake.paths() == [("PUT", f"/{INDEX}"), ("PUT", f"/_search/pipeline/{INDEX}-hybrid")]
    assert fake.requests[0].body == index_body(3, engine)  # type: ignore[arg-type]
    assert fake.requests[1].body == search_pipeline_body()


def test_ensure_index_writes_the_pipeline_with_the_adapters_weights(fake: FakeOpenSearch) -> None:
    """Given an adapter built with the offline embedder's hybrid weights, when ensure_index runs,
    then the pipeline's arithmetic mean carries those weights."""
    client = build_client(fake.url, "us-east-1", "es", "none")
    weights = hybrid_weights("engram-offline-hash-v1")
    OpenSearchIndex(client, INDEX, 3, clock=FixedClock(), hybrid_weights=weights).ensure_index()

    pipeline = fake.requests[1].body["phase_results_processors"][0]["normalization-processor"]
    assert pipeline["combination"]["parameters"]["weights"] == [0.98, 0.02]


def test_ensure_index_accepts_an_existing_index(fake: FakeOpenSearch) -> None:
    """Given the index already exists, when ensure_index runs, then it succeeds and still (re)writes
    the pipeline."""
    exists = {"error": {"type": "resource_already_exists_exception"}, "status": 400}
    fake.reply("PUT", f"/{INDEX}", exists, status=400)

    adapter(fake).ensure_index()

    assert fake.paths() == [("PUT", f"/{INDEX}"), ("PUT", f"/_search/pipeline/{INDEX}-hybrid")]


def test_ensure_index_reports_a_rejected_pipeline(fake: FakeOpenSearch) -> None:
    """Given a cluster without the hybrid search plugin (the pipeline is rejected with 400),
    when ensure_index runs, then the error is not swallowed."""
    from opensearchpy.exceptions import RequestError

    rejected = {"error": {"type": "illegal_argument_exception"}, "status": 400}
    fake.reply("PUT", f"/_search/pipeline/{INDEX}-hybrid", rejected, status=400)

    with pytest.raises(RequestError):
        adapter(fake).ensure_index()


def test_ensure_index_reports_other_rejections(fake: FakeOpenSearch) -> None:
    """Given OpenSearch rejects the mapping, when ensure_index runs, then the error is not swallowed."""
    from opensearchpy.exceptions import RequestError

    fake.reply("PUT", f"/{INDEX}", {"error": {"type": "mapper_parsing_exception"}, "status": 400}, 400)

    with pytest.raises(RequestError):
        adapter(fake).ensure_index()


# --- upsert -------------------------------------------------------------------------------------


def test_upsert_with_custom_ids_sends_one_bulk_index(fake: FakeOpenSearch) -> None:
    """Given a managed domain (custom ids), when upserting two documents of two tenants,
    then one _bulk indexes them under <tenant_id>:<memory_id>."""
    docs = [make_doc("m1"), make_doc("m2", tenant="t2")]
    fake.reply("POST", "/_bulk", bulk_ok(2))

    adapter(fake).upsert(docs)

    assert fake.paths() == [("POST", "/_bulk")]
    assert fake.requests[0].body == [
        {"index": {"_index": INDEX, "_id": "t1:m1"}},
        document_body(docs[0]),
        {"index": {"_index": INDEX, "_id": "t2:m2"}},
        document_body(docs[1]),
    ]


def test_upsert_without_custom_ids_deletes_then_indexes(fake: FakeOpenSearch) -> None:
    """Given a Serverless collection (no custom ids), when upserting documents of two tenants,
    then one delete-by-query removes both tenants' ids, then one _bulk indexes without _id."""
    docs = [make_doc("m1"), make_doc("m2"), make_doc("m3", tenant="t2")]
    fake.reply("POST", "/_bulk", bulk_ok(3))

    adapter(fake, custom_ids=False).upsert(docs)

    assert fake.paths() == [("POST", f"/{INDEX}/_delete_by_query"), ("POST", "/_bulk")]
    assert fake.requests[0].body == delete_documents_query_body({"t1": ["m1", "m2"], "t2": ["m3"]})
    assert "refresh" not in fake.requests[0].query + fake.requests[1].query
    assert fake.requests[1].body == [
        {"index": {"_index": INDEX}},
        document_body(docs[0]),
        {"index": {"_index": INDEX}},
        document_body(docs[1]),
        {"index": {"_index": INDEX}},
        document_body(docs[2]),
    ]


def test_upsert_of_a_repeated_memory_indexes_its_last_document_once(fake: FakeOpenSearch) -> None:
    fake.reply("POST", "/_bulk", bulk_ok(1))
    first, last = make_doc("m1"), dataclasses.replace(make_doc("m1"), revision_id="r2")

    adapter(fake, custom_ids=False).upsert([first, last])

    assert fake.requests[1].body == [{"index": {"_index": INDEX}}, document_body(last)]


@pytest.mark.parametrize("custom_ids", [True, False])
def test_a_stream_batch_is_one_bulk_request(fake: FakeOpenSearch, custom_ids: bool) -> None:
    """Given a DynamoDB stream batch of 100 memory writes over two tenants (creates and updates),
    when IndexSync applies it, then OpenSearch gets one _bulk request (and, on Serverless, one
    delete-by-query before it), not one per record."""
    fake.reply("POST", "/_bulk", bulk_ok(100))
    changes = [StreamChange(str(n), new=_stored(f"m{n}", tenant="t1" if n % 2 else "t2"), old=None) for n in range(100)]

    outcome = apply_stream_batch(adapter(fake, custom_ids=custom_ids), changes)

    expected = [("POST", "/_bulk")] if custom_ids else [("POST", f"/{INDEX}/_delete_by_query"), ("POST", "/_bulk")]
    assert fake.paths() == expected
    assert (outcome.upserted, outcome.failed) == (100, [])
    assert len(fake.requests[-1].body) == 200  # an action line and a document per memory


def _stored(memory_id: str, tenant: str) -> Any:
    from engram.models.memory import Source, StoredMemory

    doc = make_doc(memory_id, tenant=tenant)
    return StoredMemory(
        id=memory_id,
        tenant_id=tenant,
        scope={"user_id": "u1"},
        fact=doc.fact,
        topics=list(doc.topics),
        create_time=doc.update_time,
        update_time=doc.update_time,
        revision_id=doc.revision_id,
        source=Source(operation_id="op-1", event_ids=[]),
        embedding=list(doc.embedding),
        embedding_model=doc.embedding_model,
        version=1,
    )


@pytest.mark.parametrize(("item_status", "error"), [(429, IndexUnavailable), (400, ConfigurationError)])
def test_upsert_reports_failed_bulk_items(fake: FakeOpenSearch, item_status: int, error: type) -> None:
    """Given a _bulk answer whose item failed (throttled, or rejected), when upserting,
    then the failure surfaces as IndexUnavailable (retryable) or ConfigurationError."""
    failed = {"index": {"status": item_status, "error": {"type": "some_exception"}}}
    fake.reply("POST", "/_bulk", {"errors": True, "items": [failed]})

    with pytest.raises(error):
        adapter(fake).upsert([make_doc()])


def test_upsert_rejects_a_vector_of_the_wrong_size_before_sending(fake: FakeOpenSearch) -> None:
    """Given an index of 3 dimensions, when upserting a 2-dimension vector, then ConfigurationError
    and nothing is sent."""
    wrong = IndexDocument(**{**make_doc().__dict__, "embedding": [1.0, 0.0]})

    with pytest.raises(ConfigurationError):
        adapter(fake).upsert([wrong])
    assert fake.requests == []


# --- search -------------------------------------------------------------------------------------


def test_search_sends_the_knn_query(fake: FakeOpenSearch) -> None:
    """Given a query, when searching, then the adapter POSTs knn_query_body(query, now) to _search."""
    q = make_query(topics=["a"], exclude_ids=["x"])
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": []}})

    assert adapter(fake).search(q) == []
    assert fake.paths() == [("POST", f"/{INDEX}/_search")]
    assert fake.requests[0].body == knn_query_body(q, NOW)


@pytest.mark.parametrize(
    ("engine", "scores"),
    [
        ("lucene", [lucene_score(c) for c in (0.9, 0.5, 0.5, -0.5)]),
        ("faiss", [faiss_score(c) for c in (0.9, 0.5, 0.5, -0.5)]),
    ],
)
def test_search_returns_cosine_scores(fake: FakeOpenSearch, engine: str, scores: list[float]) -> None:
    """Given OpenSearch hits scored by the engine's formula,
    when searching,
    then hits carry the cosine similarity, sorted by score then memory id."""
    hits = [hit("m-top", scores[0]), hit("m-tie-b", scores[1]), hit("m-tie-a", scores[2]), hit("m-neg", scores[3])]
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": hits}})

    result = adapter(fake, engine).search(make_query())

    assert [(h.memory_id, h.revision_id) for h in result] == [
        ("m-top", "r1"),
        ("m-tie-a", "r1"),
        ("m-tie-b", "r1"),
        ("m-neg", "r1"),
    ]
    assert [h.score for h in result] == pytest.approx([0.9, 0.5, 0.5, -0.5])


def test_search_without_custom_ids_keeps_the_newest_copy(fake: FakeOpenSearch) -> None:
    """Given a Serverless collection where a stale copy of a memory survived next to the new one,
    when searching,
    then the memory returns once, at its newest revision."""
    hits = [
        hit("m1", 0.9, revision="old", update_time="2026-01-01T00:00:00.000Z"),
        hit("m1", 0.8, revision="new", update_time="2026-01-01T00:00:01.000Z"),
        hit("m2", 0.7),
    ]
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": hits}})

    result = adapter(fake, custom_ids=False).search(make_query())

    assert [(h.memory_id, h.revision_id) for h in result] == [("m1", "new"), ("m2", "r1")]


def test_lexical_search_sends_the_match_query_and_keeps_bm25_scores(fake: FakeOpenSearch) -> None:
    """Given a lexical query (no vector needed), when searching,
    then the adapter POSTs lexical_query_body without a search pipeline and hits carry the BM25 score."""
    q = make_query(vector=[], text="jazz", mode="lexical")
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": [hit("m2", 1.5), hit("m1", 3.25)]}})

    result = adapter(fake).search(q)

    assert fake.requests[0].body == lexical_query_body(q, NOW)
    assert "search_pipeline" not in fake.requests[0].query
    assert [(h.memory_id, h.score) for h in result] == [("m1", 3.25), ("m2", 1.5)]


def test_hybrid_search_goes_through_the_pipeline_and_keeps_fused_scores(fake: FakeOpenSearch) -> None:
    """Given a hybrid query, when searching,
    then the adapter POSTs hybrid_query_body with search_pipeline=<index>-hybrid and hits carry the
    pipeline's fused score as is."""
    q = make_query(text="jazz", mode="hybrid")
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": [hit("m1", 1.0), hit("m2", 0.25)]}})

    result = adapter(fake).search(q)

    assert fake.requests[0].body == hybrid_query_body(q, NOW)
    assert fake.requests[0].query == f"search_pipeline={INDEX}-hybrid"
    assert [(h.memory_id, h.score) for h in result] == [("m1", 1.0), ("m2", 0.25)]


def test_hybrid_search_keeps_the_best_k_of_the_fused_depth(fake: FakeOpenSearch) -> None:
    """Given a hybrid query of k=2 (its sub-queries keep 50 each, so the pipeline may return more),
    when the pipeline answers with 4 fused hits (two tied),
    then the adapter keeps the best 2, ties broken by memory id."""
    q = make_query(text="jazz", mode="hybrid", k=2)
    fused = [hit("m9", 0.9), hit("m3", 0.5), hit("m1", 0.5), hit("m2", 0.1)]
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": fused}})

    result = adapter(fake).search(q)

    assert fake.requests[0].body["size"] == 50
    assert [(h.memory_id, h.score) for h in result] == [("m9", 0.9), ("m1", 0.5)]


def test_hybrid_search_rejects_a_query_vector_of_the_wrong_size(fake: FakeOpenSearch) -> None:
    """Given an index of 3 dimensions, when a hybrid search has 2, then ConfigurationError, nothing sent."""
    with pytest.raises(ConfigurationError):
        adapter(fake).search(make_query(vector=[1.0, 0.0], text="jazz", mode="hybrid"))
    assert fake.requests == []


def test_search_with_k_zero_sends_nothing(fake: FakeOpenSearch) -> None:
    """Given k=0, when searching, then no hit and no request."""
    assert adapter(fake).search(make_query(k=0)) == []
    assert fake.requests == []


# --- delete and revisions -----------------------------------------------------------------------


def test_delete_with_custom_ids_sends_bulk_deletes_and_ignores_missing(fake: FakeOpenSearch) -> None:
    """Given a managed domain, when deleting two ids of which one is unknown,
    then one _bulk deletes both <tenant>:<id> and the not-found item is no error."""
    items = [{"delete": {"status": 200, "result": "deleted"}}, {"delete": {"status": 404, "result": "not_found"}}]
    fake.reply("POST", "/_bulk", {"errors": False, "items": items})

    adapter(fake).delete("t1", ["m1", "gone"])

    assert fake.paths() == [("POST", "/_bulk")]
    assert fake.requests[0].body == [
        {"delete": {"_index": INDEX, "_id": "t1:m1"}},
        {"delete": {"_index": INDEX, "_id": "t1:gone"}},
    ]


def test_delete_without_custom_ids_deletes_by_query(fake: FakeOpenSearch) -> None:
    """Given a Serverless collection, when deleting ids, then one _delete_by_query on tenant and ids."""
    adapter(fake, custom_ids=False).delete("t1", ["m1", "m2"])

    assert fake.paths() == [("POST", f"/{INDEX}/_delete_by_query")]
    assert fake.requests[0].body == delete_query_body("t1", ["m1", "m2"])


def test_delete_of_nothing_sends_nothing(fake: FakeOpenSearch) -> None:
    """Given no ids, when deleting, then no request."""
    adapter(fake).delete("t1", [])
    adapter(fake, custom_ids=False).delete("t1", [])

    assert fake.requests == []


@pytest.mark.parametrize(("custom_ids", "size"), [(True, 3), (False, 6)])
def test_revisions_reads_the_held_revisions(fake: FakeOpenSearch, custom_ids: bool, size: int) -> None:
    """Given the index holds two of three asked ids,
    when reading revisions,
    then one terms query on tenant and ids is sent and the two revisions come back."""
    hits = [hit("m1", 0.0, revision="r-1"), hit("m2", 0.0, revision="r-2")]
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": hits}})

    result = adapter(fake, custom_ids=custom_ids).revisions("t1", ["m1", "m2", "m3"])

    assert result == {"m1": "r-1", "m2": "r-2"}
    assert fake.requests[0].body == revisions_query_body("t1", ["m1", "m2", "m3"], size=size)


# --- errors -------------------------------------------------------------------------------------

OPERATIONS = {
    "ensure_index": lambda index: index.ensure_index(),
    "upsert": lambda index: index.upsert([make_doc()]),
    "search": lambda index: index.search(make_query()),
    "delete": lambda index: index.delete("t1", ["m1"]),
    "revisions": lambda index: index.revisions("t1", ["m1"]),
}


@pytest.mark.parametrize("custom_ids", [True, False])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_server_errors_become_index_unavailable(fake: FakeOpenSearch, operation: str, custom_ids: bool) -> None:
    """Given OpenSearch answers 503, when any operation runs, then IndexUnavailable."""
    fake.status = 503

    with pytest.raises(IndexUnavailable):
        OPERATIONS[operation](adapter(fake, custom_ids=custom_ids))
    assert fake.requests  # it did try


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_unreachable_cluster_becomes_index_unavailable(operation: str) -> None:
    """Given nothing listens on the endpoint's port, when any operation runs, then IndexUnavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    index = OpenSearchIndex(build_client(f"http://127.0.0.1:{port}", "us-east-1", "es", "none"), INDEX, 3)

    with pytest.raises(IndexUnavailable):
        OPERATIONS[operation](index)


def test_missing_index_becomes_index_unavailable(fake: FakeOpenSearch) -> None:
    """Given the index does not exist, when searching, then IndexUnavailable (not a crash)."""
    missing = {"error": {"type": "index_not_found_exception"}, "status": 404}
    fake.reply("POST", f"/{INDEX}/_search", missing, status=404)

    with pytest.raises(IndexUnavailable):
        adapter(fake).search(make_query())


def test_refused_credentials_become_configuration_error(fake: FakeOpenSearch) -> None:
    """Given OpenSearch answers 403, when searching, then ConfigurationError."""
    fake.reply("POST", f"/{INDEX}/_search", {"error": {"type": "security_exception"}, "status": 403}, 403)

    with pytest.raises(ConfigurationError):
        adapter(fake).search(make_query())


def test_search_rejects_a_query_vector_of_the_wrong_size(fake: FakeOpenSearch) -> None:
    """Given an index of 3 dimensions, when searching with 2, then ConfigurationError and nothing sent."""
    with pytest.raises(ConfigurationError):
        adapter(fake).search(make_query(vector=[1.0, 0.0]))
    assert fake.requests == []


# --- client factory -----------------------------------------------------------------------------


def test_build_client_is_cached() -> None:
    """Given the same arguments twice, when building the client, then the same client returns."""
    first = build_client("http://127.0.0.1:9", "us-east-1", "es", "none")

    assert build_client("http://127.0.0.1:9", "us-east-1", "es", "none") is first
    assert build_client("http://127.0.0.1:10", "us-east-1", "es", "none") is not first


@pytest.mark.parametrize("service", ["es", "aoss"])
def test_sigv4_client_signs_requests_for_its_service(fake: FakeOpenSearch, service: str) -> None:
    """Given a SigV4 client for a service (test credentials from the environment),
    when it sends a request,
    then the request carries a SigV4 Authorization for that service and region and the payload hash."""
    client = build_client(fake.url, "eu-west-1", service, "sigv4")  # type: ignore[arg-type]
    fake.reply("POST", f"/{INDEX}/_search", {"hits": {"hits": []}})

    OpenSearchIndex(client, INDEX, 3, clock=FixedClock()).search(make_query())

    headers = {k.lower(): v for k, v in fake.requests[0].headers.items()}
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert f"/eu-west-1/{service}/aws4_request" in headers["authorization"]
    assert "x-amz-content-sha256" in headers


def test_unknown_auth_is_a_configuration_error() -> None:
    """Given an auth mode that is neither sigv4 nor none, when building a client, then ConfigurationError."""
    with pytest.raises(ConfigurationError):
        build_client("http://127.0.0.1:9", "us-east-1", "es", "basic")  # type: ignore[arg-type]


def test_expiry_filter_uses_the_clock() -> None:
    """Given two instants an hour apart, when building query bodies, then each filters on its own now."""
    later = NOW + timedelta(hours=1)
    body = knn_query_body(make_query(), later)

    expiry = body["query"]["knn"]["embedding"]["filter"]["bool"]["filter"][-1]
    assert expiry["bool"]["should"][1] == {"range": {"expire_time": {"gt": "2026-01-02T04:04:05.678Z"}}}
