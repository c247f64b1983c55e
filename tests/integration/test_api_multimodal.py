"""Images in ``events`` through the local API: the type, base64 and size limits as HTTP errors, and the
image described, then extracted, with provenance pointing at the image's event."""

from __future__ import annotations

import base64

import pytest
from engram.models.conversation import MAX_IMAGE_BYTES, MAX_IMAGES
from engram.models.prompts import parse_event_line

CHAT_PATH = "/v1/chat/completions"
PNG = b"\x89PNG\r\n\x1a\n"


def png(size: int = 64) -> str:
    return base64.b64encode(PNG + b"\x00" * (size - len(PNG))).decode()


def image_event(inline_data: dict, event_id: str = "photo-1", text: str = "Look at this!") -> dict:
    return {"event_id": event_id, "content": {"role": "user", "parts": [{"text": text}, {"inline_data": inline_data}]}}


def generate(api, scope, *events: dict, **fields) -> tuple[int, dict]:
    return api.request("POST", "/v1/memories/generate", {"scope": scope, "events": list(events), **fields})


@pytest.mark.parametrize("mime_type", ["image/bmp", "application/pdf", "text/plain"])
def test_an_unsupported_type_is_422(api, scope, mime_type):
    # Given an event with an attachment of a type Engram cannot describe
    # When generating from it
    status, payload = generate(api, scope, image_event({"mime_type": mime_type, "data": png()}))
    # Then the request is refused with 422, naming the field and the supported types
    assert status == 422, payload
    assert payload["error"]["code"] == "INVALID_ARGUMENT"
    assert "inline_data.mime_type" in payload["error"]["message"]
    assert "image/png, image/jpeg, image/gif, image/webp" in payload["error"]["message"]


def test_an_image_over_256_kib_is_413_payload_too_large(api, scope):
    # Given an event with a PNG one byte over the limit per image
    oversized = {"mime_type": "image/png", "data": png(MAX_IMAGE_BYTES + 1)}
    # When generating from it
    status, payload = generate(api, scope, image_event(oversized))
    # Then the request is refused with 413 and the stable code, and nothing started
    assert status == 413, payload
    assert payload["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "262,144 bytes" in payload["error"]["message"]


def test_invalid_base64_is_422(api, scope):
    status, payload = generate(api, scope, image_event({"mime_type": "image/png", "data": "not base64 at all!"}))
    assert status == 422, payload
    assert payload["error"]["code"] == "INVALID_ARGUMENT"
    assert "not valid base64" in payload["error"]["message"]


def test_data_that_is_not_the_declared_image_type_is_422(api, scope):
    pdf = base64.b64encode(b"%PDF-1.7 a document").decode()
    status, payload = generate(api, scope, image_event({"mime_type": "image/png", "data": pdf}))
    assert status == 422, payload
    assert "not a PNG, JPEG, GIF or WebP image" in payload["error"]["message"]


def test_too_many_images_in_one_conversation_is_422(api, scope):
    events = [image_event({"mime_type": "image/png", "data": png()}, event_id=f"e{i}") for i in range(MAX_IMAGES + 1)]
    status, payload = generate(api, scope, *events)
    assert status == 422, payload
    assert f"at most {MAX_IMAGES} images" in payload["error"]["message"]


def test_a_valid_image_is_accepted(api, scope):
    # Given an event with a small captioned PNG
    event = image_event({"mime_type": "image/png", "data": png(), "caption": "My dog"})
    # When generating from it
    status, operation = generate(api, scope, event)
    # Then the operation starts and finishes
    assert status == 202, operation
    assert api.wait(operation["id"])["status"] == "SUCCEEDED"


# --- described, then extracted (needs LoadSource to describe the attachments) ------------------------


def test_offline_the_caption_is_extracted_with_the_images_event_as_provenance(api, scope):
    # Given a conversation whose second event is a photo with a first-person caption (offline model)
    events = [
        {"event_id": "hello", "content": {"role": "user", "parts": [{"text": "Hi!"}]}},
        image_event({"mime_type": "image/png", "data": png(), "caption": "I have a dog named Rex."}),
    ]
    # When generating
    status, operation = generate(api, scope, *events, wait_seconds=20)
    # Then the caption, read in place of the image, became a memory from that event,
    # and the description counted as one more LLM call
    assert status == 200 and operation["status"] == "SUCCEEDED", operation
    [generated] = operation["result"]["generated_memories"]
    assert generated["memory"]["fact"] == "The user has a dog named Rex."
    assert generated["memory"]["source"]["event_ids"] == ["photo-1"]
    assert operation["usage"]["llm_calls"] == 2


def test_with_a_vision_model_the_description_is_extracted_from_the_images_event(api, scope, scripted_llm):
    # Given a vision model that describes the photo, then extracts a fact from event "photo-1"
    data = png()
    scripted_llm.script_chat(
        {"text": "A golden retriever wearing a name tag that reads 'Rex'."},
        {
            "facts": [
                {
                    "fact": "The user has a golden retriever named Rex.",
                    "topics": ["USER_PERSONAL_INFO"],
                    "event_ids": ["photo-1"],
                }
            ]
        },
    )
    events = [
        {"event_id": "hello", "content": {"role": "user", "parts": [{"text": "Hi!"}]}},
        image_event({"mime_type": "image/png", "data": data, "caption": "my boy"}),
    ]
    # When generating
    status, operation = generate(api, scope, *events, wait_seconds=20)
    # Then the image went to the model as a data URL, and extraction read its description inside its event
    assert status == 200 and operation["status"] == "SUCCEEDED", operation
    describe, extract = scripted_llm.requests_to(CHAT_PATH)
    assert describe["response_format"]["json_schema"]["name"] == "ImageDescription"
    assert describe["messages"][-1]["content"][-1]["image_url"]["url"] == f"data:image/png;base64,{data}"
    lines = extract["messages"][-1]["content"].splitlines()[1:]
    photo_event = next(event for event in map(parse_event_line, lines) if event and event[0] == "photo-1")
    assert photo_event[2] == "Look at this!\n[Image: A golden retriever wearing a name tag that reads 'Rex'.]"
    assert data not in extract["messages"][-1]["content"]
    # And the memory's provenance is the image's event; usage counts both calls
    [generated] = operation["result"]["generated_memories"]
    assert generated["memory"]["source"]["event_ids"] == ["photo-1"]
    assert operation["usage"]["llm_calls"] == 2
