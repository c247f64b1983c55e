"""The OpenSearch k-NN adapter of the ``VectorIndex`` port: the derived index of memory embeddings, on
a managed domain (SigV4 service ``es``) or a Serverless vector collection (``aoss``).

Every request body is built by a pure module-level function (``index_body``, ``knn_query_body``,
``lexical_query_body``, ``hybrid_query_body``, ``search_pipeline_body``, ``document_body``,
``revisions_query_body``, ``delete_query_body``) so contract tests can assert on them exactly.
``OpenSearchIndex`` only sends them and maps answers and errors back to domain terms.

Modes (``IndexQuery.mode``): ``dense`` is a ``knn`` query; ``lexical`` a BM25 ``match`` on ``fact``
(``english`` analyzer; k1 and b of ``engram.models.ranking``, the index's default similarity); ``hybrid``
a ``hybrid`` query of both, each sub-query keeping its top ``fusion_depth(k)``, run through the search
pipeline ``<index>-hybrid`` (``normalization-processor``: ``min_max``, ``arithmetic_mean`` with the
weights of the deployment's embedding model, ``engram.models.ranking.hybrid_weights``), which
``ensure_index`` creates (OpenSearch 2.11+, and Serverless collections); the adapter keeps the best
``k``. Every filter sits inside each sub-query, so it applies before the top ``k`` in every mode.

Scores: ``dense``: OpenSearch turns distances into positive scores; ``IndexHit.score`` is the cosine
similarity in [-1, 1] (vectors are unit length), recovered by ``cosine_from_score``. ``lexical``: the
BM25 ``_score``. ``hybrid``: the pipeline's fused ``_score`` in [0, 1].

Tracing (``engram.observability.traced``, when tracing is on): ``ensure_index``, ``upsert``, ``delete``,
``search``, ``revisions`` and ``grant_index_access`` each run in a subsegment ``opensearch.<method>``
annotated with the index name and counts (documents, ids, hits, bulk requests), never with text.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from engram.clock import SystemClock, isoformat
from engram.errors import ConfigurationError, IndexUnavailable
from engram.models.filters import And, Comparison, Node, Not, Or
from engram.models.index import IndexDocument, IndexHit, IndexQuery
from engram.models.ranking import BM25_B, BM25_K1, DEFAULT_HYBRID_WEIGHTS, HybridWeights, fusion_depth
from engram.observability import annotate, traced
from engram.ports import Clock

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

Engine = Literal["lucene", "faiss"]

#: HNSW graph parameters (OpenSearch defaults for both engines, written down so the mapping is explicit).
HNSW_EF_CONSTRUCTION = 128
HNSW_M = 16
#: Space type per engine. Lucene computes true cosine; faiss uses the inner product, which equals the
#: cosine because every vector Engram indexes is unit length.
SPACE_TYPES: dict[str, str] = {"lucene": "cosinesimil", "faiss": "innerproduct"}
#: Documents per ``_bulk`` request and memory ids per ``terms`` query.
BULK_CHUNK = 500
TERMS_CHUNK = 500
#: Hits per page when listing the documents the index holds (``indexed_ids``).
IDS_PAGE = 1000
#: The ``meta`` field: metadata as a nested list of ``{k, s|n|b|l}`` entries (see ``document_body``).
META_MAPPING: dict[str, Any] = {
    "type": "nested",
    "properties": {
        "k": {"type": "keyword"},
        "s": {"type": "keyword"},
        "n": {"type": "double"},
        "b": {"type": "boolean"},
        "l": {"type": "keyword"},
    },
}
#: HTTP statuses that mean "try again later" (throttling, version conflicts, server faults).
_TRANSIENT_STATUSES = frozenset({409, 429})


# --- pure request bodies ------------------------------------------------------------------------


def index_body(dimension: int, engine: Engine) -> dict[str, Any]:
    """The ``PUT /<index>`` body: k-NN enabled, BM25 with ``BM25_K1``/``BM25_B`` as the index's default
    similarity, keyword filter fields, ``fact`` as English text (for BM25), an HNSW ``knn_vector``.

    ``dimension`` is the embedding size (floats per vector); ``engine`` is ``lucene`` (space type
    ``cosinesimil``) or ``faiss`` (``innerproduct``). Both support efficient filtering inside ``knn``.
    """
    if engine not in SPACE_TYPES:
        raise ConfigurationError(f"unknown k-NN engine {engine!r}; expected lucene or faiss")
    return {
        "settings": {"index": {"knn": True, "similarity": {"default": {"type": "BM25", "k1": BM25_K1, "b": BM25_B}}}},
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
                "meta": copy.deepcopy(META_MAPPING),
                "embedding": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {
                        "name": "hnsw",
                        "engine": engine,
                        "space_type": SPACE_TYPES[engine],
                        "parameters": {"ef_construction": HNSW_EF_CONSTRUCTION, "m": HNSW_M},
                    },
                },
            }
        },
    }


def query_filter(query: IndexQuery, now: datetime) -> dict[str, Any]:
    """The ``bool`` filter every search applies (inside ``knn``, and around ``match``): tenant, scope
    hash and embedding model must match, at least one of ``query.topics`` must be present (``None``
    or empty: no topic filter), ids in ``query.exclude_ids`` are left out (by the ``memory_id``
    field, which works with and without custom ``_id``), and a document with an ``expire_time`` must
    expire strictly after ``now``."""
    filters: list[dict[str, Any]] = [
        {"term": {"tenant_id": query.tenant_id}},
        {"term": {"scope_hash": query.scope_hash}},
        {"term": {"embedding_model": query.embedding_model}},
    ]
    if query.topics:
        filters.append({"terms": {"topics": list(query.topics)}})
    filters.append(
        {
            "bool": {
                "should": [
                    {"bool": {"must_not": [{"exists": {"field": "expire_time"}}]}},
                    {"range": {"expire_time": {"gt": isoformat(now)}}},
                ],
                "minimum_should_match": 1,
            }
        }
    )
    if query.filter is not None:
        filters.append(metadata_filter_query(query.filter))
    bool_filter: dict[str, Any] = {"filter": filters}
    if query.exclude_ids:
        bool_filter["must_not"] = [{"terms": {"memory_id": list(query.exclude_ids)}}]
    return {"bool": bool_filter}


def _knn_clause(query: IndexQuery, now: datetime, k: int | None = None) -> dict[str, Any]:
    return {"knn": {"embedding": {"vector": list(query.vector), "k": k or query.k, "filter": query_filter(query, now)}}}


def _match_clause(query: IndexQuery, now: datetime) -> dict[str, Any]:
    bool_query = dict(query_filter(query, now)["bool"])
    return {"bool": {"must": [{"match": {"fact": {"query": query.text or ""}}}], **bool_query}}


def knn_query_body(query: IndexQuery, now: datetime) -> dict[str, Any]:
    """The ``POST /<index>/_search`` body of a dense (k-NN) query.

    The filter (``query_filter``) sits inside the ``knn`` clause (efficient filtering), so the engine
    picks the ``k`` nearest among the documents that pass it. ``size`` is ``k``; the embedding is not
    returned.
    """
    return {"size": query.k, "_source": {"excludes": ["embedding"]}, "query": _knn_clause(query, now)}


def lexical_query_body(query: IndexQuery, now: datetime) -> dict[str, Any]:
    """The ``_search`` body of a lexical query: BM25 ``match`` of ``query.text`` on ``fact`` (any term),
    in a ``bool`` whose ``filter``/``must_not`` are ``query_filter``'s (not scored)."""
    return {"size": query.k, "_source": {"excludes": ["embedding"]}, "query": _match_clause(query, now)}


def hybrid_query_body(query: IndexQuery, now: datetime) -> dict[str, Any]:
    """The ``_search`` body of a hybrid query (sent with ``search_pipeline=<index>-hybrid``): the
    lexical ``bool`` query and the ``knn`` query as sub-queries, each with the full filter, each
    keeping its top ``fusion_depth(k)`` (``size``, which bounds every sub-query, and the ``knn`` ``k``),
    fused by the pipeline (``search_pipeline_body``); the adapter keeps the best ``k``."""
    depth = fusion_depth(query.k)
    return {
        "size": depth,
        "_source": {"excludes": ["embedding"]},
        "query": {"hybrid": {"queries": [_match_clause(query, now), _knn_clause(query, now, depth)]}},
    }


def search_body(query: IndexQuery, now: datetime) -> dict[str, Any]:
    """The ``_search`` body for ``query.mode``."""
    if query.mode == "lexical":
        return lexical_query_body(query, now)
    if query.mode == "hybrid":
        return hybrid_query_body(query, now)
    return knn_query_body(query, now)


def search_pipeline_body(weights: HybridWeights = DEFAULT_HYBRID_WEIGHTS) -> dict[str, Any]:
    """The ``PUT /_search/pipeline/<index>-hybrid`` body: min-max normalization of each sub-query's
    scores, then their weighted arithmetic mean (``weights``, lexical then dense; a sub-query that did
    not return a document gives it 0): ``engram.models.ranking.fuse_min_max``."""
    return {
        "description": "Engram hybrid retrieval: min-max normalized BM25 and k-NN scores, weighted mean",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {
                        "technique": "arithmetic_mean",
                        "parameters": {"weights": weights.as_list()},
                    },
                }
            }
        ],
    }


def search_pipeline_name(index_name: str) -> str:
    """The hybrid search pipeline of an index: ``<index>-hybrid``."""
    return f"{index_name}-hybrid"


def document_body(doc: IndexDocument) -> dict[str, Any]:
    """The stored ``_source`` of one memory. Times are RFC 3339 UTC with milliseconds; a document
    without ``expire_time`` has no such field (the query treats a missing field as "never expires")."""
    body: dict[str, Any] = {
        "tenant_id": doc.tenant_id,
        "memory_id": doc.memory_id,
        "scope_hash": doc.scope_hash,
        "fact": doc.fact,
        "topics": list(doc.topics),
        "embedding": list(doc.embedding),
        "embedding_model": doc.embedding_model,
        "revision_id": doc.revision_id,
        "update_time": isoformat(doc.update_time),
    }
    if doc.expire_time is not None:
        body["expire_time"] = isoformat(doc.expire_time)
    if doc.create_time is not None:
        body["create_time"] = isoformat(doc.create_time)
    body["meta"] = [entry for key, value in sorted(doc.metadata.items()) for entry in _meta_entries(key, value)]
    return body


def _value_field(value: Any) -> str:
    """Where a metadata value lives in a ``meta`` entry: ``b`` (boolean), ``n`` (number), ``s`` (string)."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int | float):
        return "n"
    return "s"


def _meta_entries(key: str, value: Any) -> list[dict[str, Any]]:
    """The ``meta`` entries of one metadata key: one ``{k, s|n|b: value}``; for a list of strings one
    ``{k, l: item}`` per item (none for an empty list); none for null (no filter value matches null)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [{"k": key, "l": item} for item in value]
    return [{"k": key, _value_field(value): value}]


def metadata_filter_query(node: Node) -> dict[str, Any]:
    """The request's ``filter`` (``engram.models.filters``) as an OpenSearch query, used inside the k-NN
    filter and around the BM25 match, so it applies before ``top_k``.

    Metadata is indexed as ``meta``: a ``nested`` list of ``{k, s|n|b|l}`` (one typed value field per
    entry; ``l`` holds the items of a list-valued key, one entry each), so one mapping serves any keys
    without mapping explosions or type conflicts. A comparison on key K is a ``nested`` query on
    ``meta`` with ``term k = K`` and the typed value condition; values of another type never match (as
    in DynamoDB), and a list never equals a scalar (``$eq`` and ranges read ``s``/``n``/``b`` only).
    ``$in`` also matches list items (``terms`` on ``l`` for its strings), ``$contains`` is ``term`` on
    ``l``. ``$ne``/``$nin`` are the ``must_not`` of ``$eq``/``$in``, so they also hold where the key is
    absent. ``create_time``/``update_time`` are ``range``/``term`` queries on the date fields.
    """
    if isinstance(node, And):
        return {"bool": {"filter": [metadata_filter_query(n) for n in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [metadata_filter_query(n) for n in node.items], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [metadata_filter_query(node.item)]}}
    return _comparison_query(node)


_RANGE = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def _comparison_query(node: Comparison) -> dict[str, Any]:
    op, value = node.op, node.value
    if op in ("$ne", "$nin"):
        positive = Comparison(node.field, "$eq" if op == "$ne" else "$in", value)
        return {"bool": {"must_not": [_comparison_query(positive)]}}
    if node.is_time:
        if op == "$eq":
            return {"term": {node.field: value}}
        if op == "$in":
            return {"terms": {node.field: list(value)}}
        return {"range": {node.field: {_RANGE[op]: value}}}
    if op == "$in":
        by_field: dict[str, list[Any]] = {}
        for item in value:
            by_field.setdefault(_value_field(item), []).append(item)
        if "s" in by_field:  # list values hold strings only
            by_field["l"] = by_field["s"]
        condition: dict[str, Any] = {
            "bool": {
                "should": [{"terms": {f"meta.{field}": items}} for field, items in sorted(by_field.items())],
                "minimum_should_match": 1,
            }
        }
    elif op == "$contains":
        condition = {"term": {"meta.l": value}}
    elif op == "$eq":
        condition = {"term": {f"meta.{_value_field(value)}": value}}
    else:
        condition = {"range": {f"meta.{_value_field(value)}": {_RANGE[op]: value}}}
    return {
        "nested": {"path": "meta", "query": {"bool": {"filter": [{"term": {"meta.k": node.metadata_key}}, condition]}}}
    }


def tenant_memories_query(tenant_id: str, memory_ids: Sequence[str]) -> dict[str, Any]:
    """A ``bool`` query selecting ``memory_ids`` of one tenant (never another tenant's same ids)."""
    return {
        "bool": {
            "filter": [
                {"term": {"tenant_id": tenant_id}},
                {"terms": {"memory_id": list(memory_ids)}},
            ]
        }
    }


def revisions_query_body(tenant_id: str, memory_ids: Sequence[str], size: int) -> dict[str, Any]:
    """The ``_search`` body reading which revision the index holds for each of ``memory_ids``."""
    return {
        "size": size,
        "_source": ["memory_id", "revision_id", "update_time"],
        "query": tenant_memories_query(tenant_id, memory_ids),
    }


def indexed_ids_query_body(tenant_id: str | None, size: int, after: list[Any] | None = None) -> dict[str, Any]:
    """One page of the ``_search`` listing which documents the index holds (of ``tenant_id``, or of all):
    only ``tenant_id`` and ``memory_id``, sorted by both, continued with ``search_after`` (the last hit's
    ``sort`` values; works on domains and Serverless collections alike)."""
    body: dict[str, Any] = {
        "size": size,
        "_source": ["tenant_id", "memory_id"],
        "query": {"term": {"tenant_id": tenant_id}} if tenant_id is not None else {"match_all": {}},
        "sort": [{"tenant_id": "asc"}, {"memory_id": "asc"}],
    }
    if after is not None:
        body["search_after"] = after
    return body


def delete_query_body(tenant_id: str, memory_ids: Sequence[str]) -> dict[str, Any]:
    """The ``_delete_by_query`` body removing ``memory_ids`` of one tenant."""
    return {"query": tenant_memories_query(tenant_id, memory_ids)}


def delete_documents_query_body(memory_ids: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The ``_delete_by_query`` body removing, in one request, the documents of ``{tenant_id: memory_ids}``
    (each tenant's ids only); for one tenant, ``delete_query_body``."""
    if len(memory_ids) == 1:
        [(tenant_id, ids)] = memory_ids.items()
        return delete_query_body(tenant_id, ids)
    selections = [tenant_memories_query(tenant_id, ids) for tenant_id, ids in memory_ids.items()]
    return {"query": {"bool": {"should": selections, "minimum_should_match": 1}}}


def document_id(tenant_id: str, memory_id: str) -> str:
    """The custom ``_id`` on a managed domain: ``<tenant_id>:<memory_id>`` (unique across tenants)."""
    return f"{tenant_id}:{memory_id}"


def cosine_from_score(score: float, engine: Engine) -> float:
    """Invert OpenSearch's score formula back to the cosine similarity, clamped to [-1, 1].

    lucene ``cosinesimil``: ``score = (1 + cos) / 2``. faiss ``innerproduct``: ``score = ip + 1`` when
    ``ip >= 0`` else ``1 / (1 - ip)`` (so ``score >= 1`` exactly when ``ip >= 0``).
    """
    if engine == "lucene":
        cosine = 2.0 * score - 1.0
    elif engine == "faiss":
        cosine = score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    else:
        raise ConfigurationError(f"unknown k-NN engine {engine!r}; expected lucene or faiss")
    return max(-1.0, min(1.0, cosine))


# --- client factory -----------------------------------------------------------------------------


@functools.cache
def build_client(
    endpoint: str,
    region: str,
    service: Literal["es", "aoss"],
    auth: Literal["sigv4", "none"],
) -> OpenSearch:
    """A cached ``opensearchpy.OpenSearch`` client for ``endpoint`` (``https://host`` or
    ``http://host:port``).

    ``auth="sigv4"`` signs every request with the process's AWS credentials (``boto3`` default chain)
    for ``service`` ``es`` (managed domain) or ``aoss`` (Serverless) in ``region``; ``auth="none"`` is
    for a local test cluster. Timeout 10 s per request, 2 retries on connection errors, timeouts and
    502/503/504. Building the client does no network I/O.
    """
    from opensearchpy import OpenSearch, Urllib3AWSV4SignerAuth, Urllib3HttpConnection

    http_auth: Urllib3AWSV4SignerAuth | None = None
    if auth == "sigv4":
        import boto3

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise ConfigurationError("no AWS credentials found to sign OpenSearch requests")
        http_auth = Urllib3AWSV4SignerAuth(credentials, region, service)
    elif auth != "none":
        raise ConfigurationError(f"unknown OpenSearch auth {auth!r}; expected sigv4 or none")
    return OpenSearch(
        hosts=[endpoint],
        http_auth=http_auth,
        connection_class=Urllib3HttpConnection,
        timeout=10,
        max_retries=2,
        retry_on_timeout=True,
        pool_maxsize=16,
    )


# --- error mapping ------------------------------------------------------------------------------


@contextlib.contextmanager
def _index_errors(index_name: str) -> Iterator[None]:
    """Turn opensearch-py errors into domain errors: unreachable, throttled, conflicting or failing
    (>= 500) → ``IndexUnavailable``; a missing index → ``IndexUnavailable`` too (``ensure_index``
    has not run yet); refused credentials → ``ConfigurationError``. Anything else is a bug and
    propagates unchanged."""
    from opensearchpy.exceptions import ConnectionError, TransportError

    try:
        yield
    except ConnectionError as e:  # includes ConnectionTimeout and SSLError
        raise IndexUnavailable(f"OpenSearch unreachable: {e}") from e
    except TransportError as e:
        status = e.status_code if isinstance(e.status_code, int) else 0
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise IndexUnavailable(f"OpenSearch answered {status}: {e.error}") from e
        if status == 404 and e.error == "index_not_found_exception":
            raise IndexUnavailable(f"index {index_name!r} does not exist yet") from e
        if status in (401, 403):
            raise ConfigurationError(f"OpenSearch refused the credentials ({status}): {e.error}") from e
        raise


def _check_bulk(response: dict[str, Any], *, ignore_not_found: bool) -> None:
    """Raise for failed items of a ``_bulk`` answer (it is 200 even when items fail)."""
    if not response.get("errors"):
        return
    failures: list[tuple[int, Any]] = []
    for item in response.get("items", []):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300 or (ignore_not_found and status == 404):
            continue
        failures.append((status, result.get("error")))
    if not failures:
        return
    status, error = failures[0]
    message = f"{len(failures)} bulk item(s) failed, first {status}: {error}"
    if any(s >= 500 or s in _TRANSIENT_STATUSES for s, _ in failures):
        raise IndexUnavailable(message)
    raise ConfigurationError(message)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the adapter --------------------------------------------------------------------------------


class OpenSearchIndex:
    """``VectorIndex`` on OpenSearch: k-NN, BM25 and hybrid search.

    ``client``: an ``opensearchpy.OpenSearch`` (see ``build_client``). ``index_name``: the index.
    ``dimension``: floats per embedding; documents and queries of another size raise
    ``ConfigurationError``. ``engine``: ``lucene`` (default) or ``faiss``. ``custom_ids``: ``True`` on a
    managed domain (``_id`` is ``<tenant_id>:<memory_id>``, upsert overwrites, delete is a bulk
    delete); ``False`` on a Serverless vector collection, which rejects custom ``_id``: upsert first
    deletes the memory's documents by query and then indexes, delete is a delete-by-query, and
    search/revisions keep the newest document per memory should a stale copy survive. ``clock``:
    decides which documents have expired (default: the system clock, UTC). ``hybrid_weights``: the
    hybrid pipeline's weights (default ``DEFAULT_HYBRID_WEIGHTS``; ``engram.wiring`` passes those of the
    deployment's embedding model, ``engram.models.ranking.hybrid_weights``), written by ``ensure_index``.

    Writes are not refreshed (Serverless does not allow it): they become searchable after the index's
    refresh interval; ``revisions`` sees exactly what ``search`` sees.

    Errors: ``IndexUnavailable`` when OpenSearch cannot be reached, throttles, fails (>= 500) or the
    index does not exist; ``ConfigurationError`` for rejected credentials or documents.
    """

    def __init__(
        self,
        client: OpenSearch,
        index_name: str,
        dimension: int,
        engine: Engine = "lucene",
        custom_ids: bool = True,
        *,
        clock: Clock | None = None,
        hybrid_weights: HybridWeights = DEFAULT_HYBRID_WEIGHTS,
    ) -> None:
        if engine not in SPACE_TYPES:
            raise ConfigurationError(f"unknown k-NN engine {engine!r}; expected lucene or faiss")
        self._client = client
        self.index_name = index_name
        self.dimension = dimension
        self.engine: Engine = engine
        self.custom_ids = custom_ids
        self.pipeline_name = search_pipeline_name(index_name)
        self._clock: Clock = clock or SystemClock()
        self.hybrid_weights = hybrid_weights

    @traced("opensearch.ensure_index")
    def ensure_index(self) -> None:
        """Create the index with ``index_body`` unless it exists (a concurrent creation is fine), then
        create or replace its hybrid search pipeline (``search_pipeline_body`` of ``hybrid_weights``).
        An existing index keeps the similarity it was created with (``index_body``'s BM25 parameters
        apply to indexes created from now on, or after closing the index and updating its
        ``index.similarity.default`` settings)."""
        from opensearchpy.exceptions import RequestError

        annotate(index=self.index_name, engine=self.engine, dimension=self.dimension)
        try:
            with _index_errors(self.index_name):
                self._client.indices.create(index=self.index_name, body=index_body(self.dimension, self.engine))
        except RequestError as e:
            if e.error != "resource_already_exists_exception":
                raise
        with _index_errors(self.index_name):
            self._client.search_pipeline.put(id=self.pipeline_name, body=search_pipeline_body(self.hybrid_weights))

    @traced("opensearch.upsert")
    def upsert(self, documents: Sequence[IndexDocument]) -> None:
        """Index ``documents``, replacing any earlier document of the same tenant and memory id (the last
        of a repeated memory wins): one ``_bulk`` request per ``BULK_CHUNK`` documents (a DynamoDB stream
        batch, at most 100 records, is one), and without custom ids one delete-by-query before it, for
        every tenant of the chunk at once (``delete_documents_query_body``)."""
        latest = list({(doc.tenant_id, doc.memory_id): doc for doc in documents}.values())
        chunks = (len(latest) + BULK_CHUNK - 1) // BULK_CHUNK
        annotate(index=self.index_name, documents=len(latest), bulk_requests=chunks)
        for doc in latest:
            self._check_dimension(len(doc.embedding), f"memory {doc.memory_id}")
        for chunk in _chunks(latest, BULK_CHUNK):
            if not self.custom_ids:
                by_tenant: dict[str, list[str]] = {}
                for doc in chunk:
                    by_tenant.setdefault(doc.tenant_id, []).append(doc.memory_id)
                with _index_errors(self.index_name):
                    self._client.delete_by_query(index=self.index_name, body=delete_documents_query_body(by_tenant))
            operations: list[dict[str, Any]] = []
            for doc in chunk:
                action: dict[str, Any] = {"_index": self.index_name}
                if self.custom_ids:
                    action["_id"] = document_id(doc.tenant_id, doc.memory_id)
                operations += [{"index": action}, document_body(doc)]
            self._bulk(operations, ignore_not_found=False)

    @traced("opensearch.delete")
    def delete(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        """Remove ``memory_ids`` of ``tenant_id``; unknown ids are ignored."""
        unique_ids = list(dict.fromkeys(memory_ids))
        annotate(index=self.index_name, memory_ids=len(unique_ids))
        for chunk in _chunks(unique_ids, BULK_CHUNK):
            if self.custom_ids:
                operations = [
                    {"delete": {"_index": self.index_name, "_id": document_id(tenant_id, memory_id)}}
                    for memory_id in chunk
                ]
                self._bulk(operations, ignore_not_found=True)
            else:
                self._delete_by_query(tenant_id, chunk)

    @traced("opensearch.search")
    def search(self, query: IndexQuery) -> list[IndexHit]:
        """The ``query.k`` best live memories passing the query's filters, ranked by ``query.mode``
        (scores: see the module docstring), then memory id. Empty when ``k`` is not positive."""
        annotate(index=self.index_name, mode=query.mode, k=query.k, filtered=query.filter is not None)
        if query.k <= 0:
            return []
        if query.mode != "lexical":
            self._check_dimension(len(query.vector), "the query vector")
        params = {"search_pipeline": self.pipeline_name} if query.mode == "hybrid" else {}
        with _index_errors(self.index_name):
            response = self._client.search(
                index=self.index_name, body=search_body(query, self._clock.now()), params=params
            )
        best: dict[str, tuple[str, float, str]] = {}  # memory_id -> (update_time, score, revision)
        for hit in response["hits"]["hits"]:
            source = hit["_source"]
            score = float(hit["_score"])
            candidate = (
                str(source.get("update_time", "")),
                cosine_from_score(score, self.engine) if query.mode == "dense" else score,
                source["revision_id"],
            )
            current = best.get(source["memory_id"])
            if current is None or candidate[0] > current[0]:
                best[source["memory_id"]] = candidate
        hits = [
            IndexHit(memory_id=memory_id, revision_id=revision, score=score)
            for memory_id, (_, score, revision) in best.items()
        ]
        hits.sort(key=lambda h: (-h.score, h.memory_id))
        del hits[query.k :]
        annotate(hits=len(hits))
        return hits

    @traced("opensearch.revisions")
    def revisions(self, tenant_id: str, memory_ids: Sequence[str]) -> dict[str, str]:
        """``{memory_id: revision_id}`` for the ids of ``tenant_id`` the index holds (expired ones too);
        missing ids are absent."""
        found: dict[str, tuple[str, str]] = {}  # memory_id -> (update_time, revision_id)
        # Without custom ids a stale copy may survive next to the current one: ask for room for both.
        per_id = 1 if self.custom_ids else 2
        unique_ids = list(dict.fromkeys(memory_ids))
        annotate(index=self.index_name, memory_ids=len(unique_ids))
        for chunk in _chunks(unique_ids, TERMS_CHUNK):
            body = revisions_query_body(tenant_id, chunk, size=len(chunk) * per_id)
            with _index_errors(self.index_name):
                response = self._client.search(index=self.index_name, body=body)
            for hit in response["hits"]["hits"]:
                source = hit["_source"]
                candidate = (str(source.get("update_time", "")), source["revision_id"])
                current = found.get(source["memory_id"])
                if current is None or candidate[0] > current[0]:
                    found[source["memory_id"]] = candidate
        annotate(found=len(found))
        return {memory_id: revision for memory_id, (_, revision) in found.items()}

    def indexed_ids(self, tenant_id: str | None = None) -> Iterator[tuple[str, str]]:
        """``(tenant_id, memory_id)`` of every document (of ``tenant_id``, or of all), sorted, each once (a
        stale copy next to the current one, possible without custom ids, is listed once): pages of
        ``IDS_PAGE`` hits (``indexed_ids_query_body``)."""
        after: list[Any] | None = None
        last: tuple[str, str] | None = None
        while True:
            with _index_errors(self.index_name):
                response = self._client.search(
                    index=self.index_name, body=indexed_ids_query_body(tenant_id, IDS_PAGE, after)
                )
            hits = response["hits"]["hits"]
            for hit in hits:
                pair = (str(hit["_source"]["tenant_id"]), str(hit["_source"]["memory_id"]))
                if pair != last:
                    yield pair
                    last = pair
            if len(hits) < IDS_PAGE:
                return
            after = hits[-1]["sort"]

    # -- helpers --

    def _check_dimension(self, size: int, what: str) -> None:
        if size != self.dimension:
            raise ConfigurationError(f"{what} has {size} dimensions; index {self.index_name!r} holds {self.dimension}")

    def _bulk(self, operations: list[dict[str, Any]], *, ignore_not_found: bool) -> None:
        if not operations:
            return
        with _index_errors(self.index_name):
            response = self._client.bulk(body=operations)
        _check_bulk(response, ignore_not_found=ignore_not_found)

    def _delete_by_query(self, tenant_id: str, memory_ids: Sequence[str]) -> None:
        with _index_errors(self.index_name):
            self._client.delete_by_query(index=self.index_name, body=delete_query_body(tenant_id, memory_ids))


# --- mapping upgrades ---------------------------------------------------------------------------


def metadata_mapping_body() -> dict[str, Any]:
    """The ``PUT /<index>/_mapping`` body that gives an existing index the current ``meta`` fields
    (``META_MAPPING``; an index made before list-valued metadata lacks ``meta.l``)."""
    return {"properties": {"meta": copy.deepcopy(META_MAPPING)}}


@traced("opensearch.update_metadata_mapping")
def update_metadata_mapping(client: OpenSearch, index_name: str) -> None:
    """Add the current ``meta`` fields to the mapping of the existing index ``index_name``
    (``metadata_mapping_body``). Adding fields is allowed on a live index and repeating it changes
    nothing; existing documents need no reindex (an index made before ``meta.l`` has no list values).
    Needs the right to change mappings (the index-setup function's). Errors as everywhere in this
    module (``IndexUnavailable``, ``ConfigurationError`` on 401/403)."""
    annotate(index=index_name)
    with _index_errors(index_name):
        client.indices.put_mapping(index=index_name, body=metadata_mapping_body())


# --- access control on a managed domain (fine-grained access control) ---------------------------

#: OpenSearch security roles Engram's function roles are mapped to, and what each may do.
READER_ROLE = "engram_reader"
WRITER_ROLE = "engram_writer"


def security_role_body(index_name: str, access: Literal["read", "write"]) -> dict[str, Any]:
    """The ``PUT _plugins/_security/api/roles/<role>`` body: ``read`` may search the index (and run
    its hybrid pipeline); ``write`` may also index and delete documents (``_bulk``, delete by query).
    Neither may create, change or delete indices."""
    if access == "read":
        return {
            "cluster_permissions": ["cluster_composite_ops_ro"],
            "index_permissions": [{"index_patterns": [index_name], "allowed_actions": ["read"]}],
        }
    if access == "write":
        return {
            "cluster_permissions": ["cluster_composite_ops"],
            "index_permissions": [{"index_patterns": [index_name], "allowed_actions": ["crud"]}],
        }
    raise ConfigurationError(f"unknown access {access!r}; expected read or write")


def role_mapping_body(backend_roles: Sequence[str]) -> dict[str, Any]:
    """The ``PUT _plugins/_security/api/rolesmapping/<role>`` body: IAM role ARNs as backend roles."""
    return {"backend_roles": sorted(set(backend_roles))}


@traced("opensearch.grant_index_access")
def grant_index_access(
    client: OpenSearch, index_name: str, reader_roles: Sequence[str], writer_roles: Sequence[str]
) -> None:
    """Create (or replace) ``engram_reader`` and ``engram_writer`` and map the IAM roles to them.

    Needs the domain's master user (the index-setup function's role). Errors map as everywhere in this
    module (``IndexUnavailable`` when unreachable or refusing for now, ``ConfigurationError`` on 401/403).
    """
    annotate(index=index_name, reader_roles=len(set(reader_roles)), writer_roles=len(set(writer_roles)))
    grants: tuple[tuple[str, Literal["read", "write"], Sequence[str]], ...] = (
        (READER_ROLE, "read", reader_roles),
        (WRITER_ROLE, "write", writer_roles),
    )
    for role, access, members in grants:
        with _index_errors(index_name):
            client.transport.perform_request(
                "PUT", f"/_plugins/_security/api/roles/{role}", body=security_role_body(index_name, access)
            )
            client.transport.perform_request(
                "PUT", f"/_plugins/_security/api/rolesmapping/{role}", body=role_mapping_body(members)
            )
