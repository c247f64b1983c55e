"""The OpenAI adapters with the real ``openai`` client against the scripted server on 127.0.0.1.

Retries stay fast: scripted errors carry ``retry-after-ms: 1``, which the SDK honours instead of its
0.5 s+ exponential backoff.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from engram.adapters.offline import OfflineLLM
from engram.adapters.openai import OpenAIEmbedder, OpenAILLM, build_client
from engram.errors import ConfigurationError, EmbeddingUnavailable, LLMOutputInvalid, LLMUnavailable
from engram.models.conversation import ConversationEvent
from engram.models.extraction import Decision
from engram.models.prompts import ConsolidationPrompt, ExtractionPrompt, managed_topics
from engram_dev.scripted_llm import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    Delay,
    Malformed,
    Reply,
    ScriptedLLMServer,
    Status,
    offline_chat_responder,
)

FACT = {"fact": "The user lives in Lisbon.", "topics": ["USER_PERSONAL_INFO"], "event_ids": ["e1"]}


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as scripted:
        yield scripted


def llm(server: ScriptedLLMServer, timeout: float = 5.0, max_retries: int = 2) -> OpenAILLM:
    return OpenAILLM(
        build_client(api_key="test", base_url=server.base_url, timeout=timeout, max_retries=max_retries),
        "gpt-test",
    )


def embedder(server: ScriptedLLMServer, model: str = "text-embedding-3-small", dimension: int = 32) -> OpenAIEmbedder:
    client = build_client(api_key="test", base_url=server.base_url, timeout=5.0, max_retries=2)
    return OpenAIEmbedder(client, model, dimension)


def extraction_prompt() -> ExtractionPrompt:
    return ExtractionPrompt(
        events=[
            ConversationEvent(event_id="e1", role="user", text="I live in Lisbon and I love jazz."),
            ConversationEvent(event_id="e2", role="assistant", text="Noted!"),
        ],
        topics=managed_topics(),
        today=date(2025, 5, 1),
    )


def consolidation_prompt() -> ConsolidationPrompt:
    return ConsolidationPrompt(
        existing=["The user lives in Porto.", "The user has a cat."],
        candidates=["The user lives in Lisbon.", "The user no longer has a cat."],
    )


# --- chat completions ------------------------------------------------------------------------------


def test_extraction_is_parsed_with_token_usage(server: ScriptedLLMServer) -> None:
    # Given the model answers with one fact
    server.script_chat({"facts": [FACT]})

    # When extracting
    result = llm(server).extract(extraction_prompt())

    # Then the parsed fact comes back with the usage the server reported (len // 4 of the texts)
    [fact] = result.output.facts
    assert (fact.fact, fact.topics, fact.event_ids) == (FACT["fact"], FACT["topics"], FACT["event_ids"])
    prompt_chars = sum(len(m["content"]) for m in extraction_prompt().messages())
    assert result.input_tokens == prompt_chars // 4 > 0
    assert result.output_tokens > 0
    assert len(server.requests) == 1


def test_the_request_carries_the_strict_json_schema_and_temperature_zero(server: ScriptedLLMServer) -> None:
    # Given a model that answers with an empty extraction
    # When extracting
    llm(server).extract(extraction_prompt())

    # Then the request asked for structured output of ExtractionOutput, deterministically
    [(path, body)] = server.requests
    assert path == CHAT_PATH
    assert body["model"] == "gpt-test"
    assert body["temperature"] == 0
    assert body["messages"] == extraction_prompt().messages()
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "ExtractionOutput"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"]["required"] == ["facts"]
    assert "max_completion_tokens" not in body and "max_tokens" not in body


def test_an_extraction_prompt_s_temperature_and_token_limit_are_sent(server: ScriptedLLMServer) -> None:
    # Given an extraction prompt that asks for temperature 0.7 and at most 4000 tokens
    prompt = dataclasses.replace(extraction_prompt(), temperature=0.7, max_tokens=4000)

    # When extracting, and then consolidating
    llm(server).extract(prompt)
    llm(server).consolidate(consolidation_prompt())

    # Then the extraction request carries both (the limit as max_completion_tokens); consolidation keeps 0
    extraction, consolidation = server.requests_to(CHAT_PATH)
    assert (extraction["temperature"], extraction["max_completion_tokens"]) == (0.7, 4000)
    assert consolidation["temperature"] == 0 and "max_completion_tokens" not in consolidation


def test_consolidation_is_parsed(server: ScriptedLLMServer) -> None:
    # Given the model decides an update and a delete
    server.script_chat(
        {
            "decisions": [
                {"candidate": 0, "decision": "UPDATE", "memory": 0, "fact": "The user lives in Lisbon."},
                {"candidate": 1, "decision": "DELETE", "memory": 1, "fact": None},
            ]
        }
    )

    # When consolidating
    result = llm(server).consolidate(consolidation_prompt())

    # Then the decisions come back typed, and the request asked for ConsolidationOutput
    assert [(d.candidate, d.decision, d.memory, d.fact) for d in result.output.decisions] == [
        (0, Decision.UPDATE, 0, "The user lives in Lisbon."),
        (1, Decision.DELETE, 1, None),
    ]
    [(_, body)] = server.requests
    assert body["response_format"]["json_schema"]["name"] == "ConsolidationOutput"


def test_a_throttled_request_is_retried_by_the_client_and_succeeds(server: ScriptedLLMServer) -> None:
    # Given the server throttles once, then answers
    server.script_chat(Status(429, retry_after_ms=1), {"facts": [FACT]})

    # When extracting
    result = llm(server, max_retries=2).extract(extraction_prompt())

    # Then the SDK retried once and the answer is the second one
    assert [f.fact for f in result.output.facts] == [FACT["fact"]]
    assert len(server.requests) == 2


def test_persistent_server_errors_become_llm_unavailable_after_the_retries(server: ScriptedLLMServer) -> None:
    # Given the server fails every time
    server.script_chat(*[Status(500, retry_after_ms=1)] * 5)

    # When extracting with two retries
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        llm(server, max_retries=2).extract(extraction_prompt())

    # Then the request was tried 1 + 2 times
    assert len(server.requests) == 3


def test_a_timeout_becomes_llm_unavailable(server: ScriptedLLMServer) -> None:
    # Given the server answers far later than the client waits
    server.script_chat(Delay(5.0, then={"facts": []}))

    # When extracting without retries
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="timed out"):
        llm(server, timeout=0.2, max_retries=0).extract(extraction_prompt())

    # Then the client gave up at its timeout, after one request
    assert time.monotonic() - started < 2.0
    assert len(server.requests) == 1


def test_an_authentication_error_is_a_configuration_error_and_not_retried(server: ScriptedLLMServer) -> None:
    # Given the server rejects the key
    server.script_chat(Status(401, {"error": {"message": "bad key", "type": "invalid_request_error"}}))

    # When extracting
    with pytest.raises(ConfigurationError, match="401"):
        llm(server, max_retries=2).extract(extraction_prompt())

    # Then the client did not retry
    assert len(server.requests) == 1


def test_malformed_json_is_llm_output_invalid(server: ScriptedLLMServer) -> None:
    # Given the model answers with text that is not JSON
    server.script_chat(Malformed("Sure! Here are the facts: ..."))

    # When extracting
    # Then the answer is rejected as invalid output (retryable by the workflow)
    with pytest.raises(LLMOutputInvalid, match="ExtractionOutput"):
        llm(server).extract(extraction_prompt())


@pytest.mark.parametrize(
    "content",
    [
        {"fact": []},  # missing "facts"
        {"facts": [{"fact": "x", "topics": []}]},  # a fact without event_ids
        {"facts": [], "extra": 1},  # a field the schema forbids
    ],
)
def test_json_that_breaks_the_schema_is_llm_output_invalid(server: ScriptedLLMServer, content: dict) -> None:
    # Given the model answers with valid JSON of the wrong shape
    server.script_chat(content)

    # When extracting
    # Then it is rejected as invalid output
    with pytest.raises(LLMOutputInvalid):
        llm(server).extract(extraction_prompt())


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(content='{"decisions": [', finish_reason="length"), "stopped before a complete answer"),
        (Reply(content=None, finish_reason="content_filter"), "stopped before a complete answer"),
        (Reply(content=None, refusal="I can't help with that."), "refused: I can't help with that"),
        (Reply(content=None), "returned no ConsolidationOutput"),
    ],
)
def test_truncated_filtered_refused_or_empty_answers_are_llm_output_invalid(
    server: ScriptedLLMServer, reply: Reply, reason: str
) -> None:
    # Given the model stops early, is filtered, refuses, or says nothing
    server.script_chat(reply)

    # When consolidating
    # Then the answer is rejected as invalid output, saying why
    with pytest.raises(LLMOutputInvalid, match=reason):
        llm(server).consolidate(consolidation_prompt())


def test_the_offline_responder_answers_like_the_offline_llm(server: ScriptedLLMServer) -> None:
    # Given the server answers Engram's prompts with the offline rules (as benchmarks use it)
    server.chat_responder = offline_chat_responder
    adapter, offline = llm(server), OfflineLLM()

    # When extracting and consolidating through HTTP
    extracted = adapter.extract(extraction_prompt())
    consolidated = adapter.consolidate(consolidation_prompt())

    # Then the answers equal the offline LLM's, read back from the rendered prompts
    assert extracted.output == offline.extract(extraction_prompt()).output
    assert [f.fact for f in extracted.output.facts] == ["The user lives in Lisbon.", "The user loves jazz."]
    assert consolidated.output == offline.consolidate(consolidation_prompt()).output
    assert [d.decision for d in consolidated.output.decisions] == [Decision.UPDATE, Decision.DELETE]


def test_concurrent_requests_each_get_one_scripted_answer(server: ScriptedLLMServer) -> None:
    # Given eight scripted answers, each with a different fact
    facts = [f"The user has {n} books." for n in range(8)]
    server.script_chat(*({"facts": [{**FACT, "fact": fact}]} for fact in facts))
    adapter = llm(server)

    # When eight extractions run at the same time
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: adapter.extract(extraction_prompt()), range(8)))

    # Then every answer was used exactly once
    assert sorted(r.output.facts[0].fact for r in results) == sorted(facts)
    assert server.pending() == 0 and len(server.requests) == 8


# --- embeddings ------------------------------------------------------------------------------------


def test_a_batch_is_embedded_in_one_request_in_order_with_unit_length(server: ScriptedLLMServer) -> None:
    # Given the server returns vectors that are not normalized, for three texts
    server.script_embeddings([[3.0, 4.0] + [0.0] * 30, [0.0, 2.0] + [0.0] * 30, [1.0] * 32])
    texts = ["The user lives in Lisbon.", "The user likes jazz.", "The user has a cat."]

    # When embedding them
    vectors = embedder(server, dimension=32).embed(texts)

    # Then one request carried the whole batch and the vectors come back in order, unit length
    [(path, body)] = server.requests
    assert path == EMBEDDINGS_PATH
    assert body["input"] == texts
    assert body["dimensions"] == 32
    assert vectors[0][:2] == pytest.approx([0.6, 0.8])
    assert vectors[1][:2] == pytest.approx([0.0, 1.0])
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0) for v in vectors)


def test_default_embeddings_are_deterministic_and_follow_the_input_order(server: ScriptedLLMServer) -> None:
    # Given the server's default (offline hashing) vectors
    adapter = embedder(server, dimension=48)

    # When embedding a batch and then its reverse
    forward = adapter.embed(["alpha", "beta"])
    backward = adapter.embed(["beta", "alpha"])

    # Then each text keeps its vector whatever its position, and there is one request per call
    assert forward == backward[::-1]
    assert forward[0] != forward[1]
    assert len(forward[0]) == 48
    assert len(server.requests) == 2


def test_an_empty_batch_makes_no_request(server: ScriptedLLMServer) -> None:
    # Given an embedder
    # When embedding nothing
    # Then nothing is sent
    assert embedder(server).embed([]) == []
    assert server.requests == []


def test_persistent_embedding_errors_become_embedding_unavailable(server: ScriptedLLMServer) -> None:
    # Given the server fails every time
    server.script_embeddings(*[Status(503, retry_after_ms=1)] * 5)

    # When embedding
    with pytest.raises(EmbeddingUnavailable):
        embedder(server).embed(["The user lives in Lisbon."])

    # Then the client retried twice before giving up
    assert len(server.requests) == 3


def test_vectors_of_the_wrong_size_are_a_configuration_error(server: ScriptedLLMServer) -> None:
    # Given a model that does not take `dimensions` and returns 1536 floats by default
    adapter = embedder(server, model="nomic-embed-text", dimension=32)

    # When embedding
    with pytest.raises(ConfigurationError, match="1536"):
        adapter.embed(["hello"])

    # Then the request did not ask for a size the model cannot give
    [(_, body)] = server.requests
    assert "dimensions" not in body


# --- client factory --------------------------------------------------------------------------------


def test_the_client_is_cached_and_a_base_url_alone_is_enough(server: ScriptedLLMServer) -> None:
    # Given only a base URL (a local OpenAI-compatible server)
    first = build_client(None, server.base_url, 1.0, 0)

    # Then the client is built once per settings, with a placeholder key, and it works
    assert build_client(None, server.base_url, 1.0, 0) is first
    assert first.api_key
    assert OpenAILLM(first, "m").extract(extraction_prompt()).output.facts == []


def test_no_key_and_no_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        build_client(None, None, 1.0, 0)
