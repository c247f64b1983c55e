"""Image description with the real ``openai`` client against the scripted server on 127.0.0.1: the
request's image input and schema, the parsed answer, usage, and the error mapping."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from engram.adapters.offline import OfflineLLM
from engram.adapters.openai import OpenAILLM, build_client
from engram.errors import ConfigurationError, LLMOutputInvalid, LLMUnavailable
from engram.logic.multimodal import describe_attachments
from engram.models.conversation import ConversationEvent, InlineData
from engram.models.prompts import DESCRIBE_IMAGE_SYSTEM
from engram_dev.scripted_llm import (
    CHAT_PATH,
    DEFAULT_IMAGE_DESCRIPTION,
    IMAGE_TOKENS,
    Malformed,
    Reply,
    ScriptedLLMServer,
    Status,
    offline_chat_responder,
)

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
DATA = base64.b64encode(JPEG).decode()


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as scripted:
        yield scripted


def llm(server: ScriptedLLMServer, max_retries: int = 2) -> OpenAILLM:
    return OpenAILLM(
        build_client(api_key="test", base_url=server.base_url, timeout=5.0, max_retries=max_retries), "gpt-test"
    )


def photo(caption: str | None = "Our new puppy") -> InlineData:
    return InlineData(mime_type="image/jpeg", data=DATA, caption=caption)


def test_the_request_sends_the_image_as_a_data_url_with_the_caption_and_the_strict_schema(
    server: ScriptedLLMServer,
) -> None:
    # Given a vision model
    server.script_chat({"text": "A golden retriever puppy on a lawn."})
    # When describing a captioned JPEG
    llm(server).describe_image(photo())
    # Then one request carried the instructions, a text part with the caption and an image_url part
    # holding the image as a data URL, with ImageDescription as the strict JSON schema
    [(path, body)] = server.requests
    assert path == CHAT_PATH
    assert body["model"] == "gpt-test" and body["temperature"] == 0
    system, user = body["messages"]
    assert system == {"role": "system", "content": DESCRIBE_IMAGE_SYSTEM}
    assert user["role"] == "user"
    text_part, image_part = user["content"]
    assert text_part["type"] == "text" and '"Our new puppy"' in text_part["text"]
    assert image_part == {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{DATA}"}}
    schema = body["response_format"]
    assert schema["type"] == "json_schema"
    assert schema["json_schema"]["name"] == "ImageDescription"
    assert schema["json_schema"]["strict"] is True
    assert schema["json_schema"]["schema"]["required"] == ["text"]


def test_the_description_is_parsed_with_the_tokens_the_server_reported(server: ScriptedLLMServer) -> None:
    # Given a vision model answering with a description
    server.script_chat({"text": "A golden retriever puppy on a lawn."})
    # When describing an image
    result = llm(server).describe_image(photo(caption=None))
    # Then the text comes back, and the input tokens include the image's
    assert result.output.text == "A golden retriever puppy on a lawn."
    assert result.input_tokens > IMAGE_TOKENS
    assert result.output_tokens > 0


def test_describing_attachments_through_openai_adds_the_calls_and_tokens_to_usage(server: ScriptedLLMServer) -> None:
    # Given an event with two images and a model describing each
    server.script_chat({"text": "A puppy."}, {"text": "A leash."})
    event = ConversationEvent(event_id="e1", role="user", text="[image 1]\n[image 2]", attachments=[photo(), photo()])
    # When describing the attachments
    [described], usage = describe_attachments(llm(server), [event])
    # Then each image got its own request, and the usage counts both with their tokens
    assert described.text == "[Image: A puppy.]\n[Image: A leash.]"
    assert len(server.requests_to(CHAT_PATH)) == 2
    assert usage.llm_calls == 2 and usage.input_tokens > 2 * IMAGE_TOKENS and usage.output_tokens > 0
    assert usage.embedding_calls == 0


def test_server_errors_become_llm_unavailable_after_the_retries(server: ScriptedLLMServer) -> None:
    server.script_chat(*[Status(503, retry_after_ms=1)] * 3)
    with pytest.raises(LLMUnavailable, match="HTTP 503"):
        llm(server, max_retries=2).describe_image(photo())
    assert len(server.requests) == 3


def test_a_model_without_image_input_is_a_configuration_error_and_not_retried(server: ScriptedLLMServer) -> None:
    # Given a model that rejects image content (as text-only models do, with a 400)
    server.script_chat(
        Status(400, {"error": {"message": "image input is not supported", "type": "invalid_request_error"}})
    )
    # When describing
    with pytest.raises(ConfigurationError, match="400"):
        llm(server).describe_image(photo())
    # Then the request was not retried
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "step",
    [
        Malformed("It is a dog."),
        {"description": "a dog"},  # the wrong field
        Reply(content=None, refusal="I can't describe this image."),
        Reply(content='{"text": "A do', finish_reason="length"),
    ],
)
def test_answers_that_are_not_an_image_description_are_llm_output_invalid(server: ScriptedLLMServer, step) -> None:
    server.script_chat(step)
    with pytest.raises(LLMOutputInvalid):
        llm(server).describe_image(photo())


def test_the_default_responder_answers_vision_requests(server: ScriptedLLMServer) -> None:
    # Given nothing scripted
    # When describing
    result = llm(server).describe_image(photo())
    # Then the server's default description comes back
    assert result.output.text == DEFAULT_IMAGE_DESCRIPTION


@pytest.mark.parametrize("caption", ["Our new puppy", 'He said "sit": he sat!\nGood boy', None])
def test_the_offline_responder_describes_like_the_offline_llm(server: ScriptedLLMServer, caption) -> None:
    # Given the server answering with Engram's offline rules (as benchmarks use it)
    server.chat_responder = offline_chat_responder
    # When describing through HTTP
    result = llm(server).describe_image(photo(caption))
    # Then the answer equals the offline LLM's, read back from the rendered request
    assert result.output == OfflineLLM().describe_image(photo(caption)).output
