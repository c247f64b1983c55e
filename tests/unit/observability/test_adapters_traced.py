"""Each adapter call runs in its own subsegment when tracing is on, annotated with counts, index names and
model ids — never with text, facts, queries, keys or tenant ids. Clients are in-memory stand-ins."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
from engram.adapters.openai import OpenAIEmbedder, OpenAILLM
from engram.adapters.opensearch import OpenSearchIndex, grant_index_access
from engram.adapters.secrets import read_api_key
from engram.adapters.stepfunctions import StepFunctionsWorkflow
from engram.errors import IndexUnavailable
from engram.models.conversation import ConversationEvent
from engram.models.extraction import ConsolidationOutput, ExtractionOutput
from engram.models.index import IndexDocument, IndexQuery
from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt, managed_topics

from .conftest import FakeProvider

INDEX = "engram-memories"
TENANT = "tenant-ana@example.com"
PERSONAL = "Ana's sister lives in Lisbon"


def assert_nothing_personal(provider: FakeProvider) -> None:
    recorded = json.dumps([(s.name, s.annotations, s.metadata) for s in provider.subsegments])
    for secret in ("Lisbon", TENANT, "sk-test-key"):
        assert secret not in recorded


# --- OpenSearch ---------------------------------------------------------------------------------


def index(client: MagicMock, custom_ids: bool = True) -> OpenSearchIndex:
    return OpenSearchIndex(client, INDEX, dimension=3, custom_ids=custom_ids)


def document(memory_id: str) -> IndexDocument:
    return IndexDocument(
        tenant_id=TENANT,
        memory_id=memory_id,
        scope_hash="h1",
        fact=PERSONAL,
        topics=["USER_PERSONAL_INFO"],
        embedding=[1.0, 0.0, 0.0],
        embedding_model="text-embedding-3-small",
        revision_id="r1",
        update_time=datetime(2026, 1, 1, tzinfo=UTC),
    )


def search_answer(*memory_ids: str) -> dict[str, Any]:
    hits = [
        {"_score": 2.0 - i / 10, "_source": {"memory_id": m, "revision_id": "r1", "update_time": "2026-01-01"}}
        for i, m in enumerate(memory_ids)
    ]
    return {"hits": {"hits": hits}}


def test_search_is_traced_with_index_mode_k_and_hits(tracing_on: FakeProvider) -> None:
    client = MagicMock()
    client.search.return_value = search_answer("m1", "m2")
    query = IndexQuery(
        tenant_id=TENANT, scope_hash="h1", vector=[], text=PERSONAL, embedding_model="e", k=5, mode="lexical"
    )

    hits = index(client).search(query)

    assert [h.memory_id for h in hits] == ["m1", "m2"]
    assert tracing_on.named("opensearch.search").annotations == {
        "index": INDEX,
        "mode": "lexical",
        "k": 5,
        "filtered": False,
        "hits": 2,
    }
    assert_nothing_personal(tracing_on)


def test_upsert_is_traced_with_documents_and_bulk_requests(tracing_on: FakeProvider) -> None:
    client = MagicMock()
    client.bulk.return_value = {"errors": False, "items": []}

    index(client).upsert([document("m1"), document("m2")])

    assert tracing_on.named("opensearch.upsert").annotations == {"index": INDEX, "documents": 2, "bulk_requests": 1}
    assert_nothing_personal(tracing_on)


def test_delete_and_revisions_are_traced_with_id_counts(tracing_on: FakeProvider) -> None:
    client = MagicMock()
    client.bulk.return_value = {"errors": False, "items": []}
    client.search.return_value = search_answer("m1")
    adapter = index(client)

    adapter.delete(TENANT, ["m1", "m2", "m1"])
    assert adapter.revisions(TENANT, ["m1", "m3"]) == {"m1": "r1"}

    assert tracing_on.named("opensearch.delete").annotations == {"index": INDEX, "memory_ids": 2}
    assert tracing_on.named("opensearch.revisions").annotations == {"index": INDEX, "memory_ids": 2, "found": 1}
    assert_nothing_personal(tracing_on)


def test_index_setup_calls_are_traced(tracing_on: FakeProvider) -> None:
    client = MagicMock()

    index(client).ensure_index()
    grant_index_access(client, INDEX, ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/a"], ["arn:aws:iam::1:role/b"])

    assert tracing_on.named("opensearch.ensure_index").annotations == {
        "index": INDEX,
        "engine": "lucene",
        "dimension": 3,
    }
    assert tracing_on.named("opensearch.grant_index_access").annotations == {
        "index": INDEX,
        "reader_roles": 1,
        "writer_roles": 1,
    }


def test_a_failing_index_call_is_marked_with_the_domain_error(tracing_on: FakeProvider) -> None:
    from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

    client = MagicMock()
    client.search.side_effect = OpenSearchConnectionError("N/A", f"refused while searching {PERSONAL}", None)
    query = IndexQuery(tenant_id=TENANT, scope_hash="h1", vector=[1.0, 0.0, 0.0], embedding_model="e", k=3)

    with pytest.raises(IndexUnavailable):
        index(client).search(query)

    subsegment = tracing_on.named("opensearch.search")
    assert subsegment.annotations["error_type"] == "IndexUnavailable"
    assert subsegment.fault
    assert_nothing_personal(tracing_on)


# --- OpenAI ---------------------------------------------------------------------------------------


def completion(parsed: Any, prompt_tokens: int, completion_tokens: int) -> SimpleNamespace:
    message = SimpleNamespace(refusal=None, parsed=parsed)
    usage = SimpleNamespace(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    return SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=usage)


def test_llm_calls_are_traced_with_model_and_tokens(tracing_on: FakeProvider) -> None:
    client = MagicMock()
    client.chat.completions.parse.side_effect = [
        completion(ExtractionOutput(facts=[]), 812, 40),
        completion(ConsolidationOutput(decisions=[]), 300, 12),
    ]
    llm = OpenAILLM(client, "gpt-4o-mini")
    extraction = ExtractionPrompt(
        events=[ConversationEvent(event_id="e1", role="user", text=PERSONAL)],
        topics=managed_topics(),
        today=date(2026, 1, 1),
    )

    llm.extract(extraction)
    llm.consolidate(ConsolidationPrompt(existing=[PERSONAL], candidates=[PERSONAL]))

    assert tracing_on.named("openai.extract").annotations == {
        "model": "gpt-4o-mini",
        "input_tokens": 812,
        "output_tokens": 40,
    }
    assert tracing_on.named("openai.consolidate").annotations == {
        "model": "gpt-4o-mini",
        "input_tokens": 300,
        "output_tokens": 12,
    }
    assert_nothing_personal(tracing_on)


def test_embeddings_are_traced_with_model_count_and_dimension(tracing_on: FakeProvider) -> None:
    client = MagicMock()
    client.embeddings.create.return_value = SimpleNamespace(
        data=[SimpleNamespace(index=i, embedding=[1.0, 0.0]) for i in range(2)]
    )

    vectors = OpenAIEmbedder(client, "text-embedding-3-small", dimension=2).embed([PERSONAL, "hello"])

    assert vectors == [[1.0, 0.0], [1.0, 0.0]]
    assert tracing_on.named("openai.embed").annotations == {
        "model": "text-embedding-3-small",
        "texts": 2,
        "dimension": 2,
    }
    assert_nothing_personal(tracing_on)


# --- Secrets Manager and Step Functions -----------------------------------------------------------


def test_reading_the_api_key_is_traced_without_the_key(
    tracing_on: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(parameters, "get_secret", lambda arn, max_age: '{"api_key": "sk-test-key"}')

    assert read_api_key("arn:aws:secretsmanager:us-east-1:1:secret:openai", max_age=60) == "sk-test-key"

    assert tracing_on.named("secrets.read_api_key").annotations == {"max_age": 60}
    assert_nothing_personal(tracing_on)


@pytest.mark.parametrize("exists", [False, True])
def test_starting_the_workflow_is_traced_with_the_operation_id(tracing_on: FakeProvider, exists: bool) -> None:
    client = MagicMock()
    client.exceptions.ExecutionAlreadyExists = type("ExecutionAlreadyExists", (Exception,), {})
    if exists:
        client.start_execution.side_effect = client.exceptions.ExecutionAlreadyExists()
    workflow = StepFunctionsWorkflow("arn:aws:states:us-east-1:1:stateMachine:generate", "us-east-1")
    workflow.__dict__["_client"] = client  # the cached boto3 client, replaced

    workflow.start(TENANT, "op-123")

    assert tracing_on.named("stepfunctions.start_execution").annotations == {
        "operation_id": "op-123",
        "already_started": exists,
    }
    assert_nothing_personal(tracing_on)
