"""Images in conversation events (``inline_data``): type, size and base64 rules, and the markers
``normalize`` leaves where images were."""

from __future__ import annotations

import base64

import pytest
from engram.errors import PayloadTooLarge
from engram.models.api import GenerateRequest
from engram.models.conversation import (
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    ConversationEvent,
    Event,
    InlineData,
    Message,
    normalize,
)
from pydantic import ValidationError

SIGNATURES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff\xe0",
    "image/gif": b"GIF89a",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
}


def image_bytes(mime_type: str = "image/png", size: int = 64) -> bytes:
    """Bytes that start with the type's signature, ``size`` long."""
    head = SIGNATURES[mime_type]
    return head + b"\x00" * (size - len(head))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def image_part(mime_type: str = "image/png", size: int = 64, **extra: object) -> dict:
    return {"inline_data": {"mime_type": mime_type, "data": b64(image_bytes(mime_type, size)), **extra}}


def event(*parts: dict, event_id: str | None = None, role: str = "user") -> dict:
    body: dict = {"content": {"role": role, "parts": list(parts)}}
    if event_id is not None:
        body["event_id"] = event_id
    return body


# --- types -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mime_type", sorted(SIGNATURES))
def test_each_supported_image_type_is_accepted(mime_type: str) -> None:
    # Given an image of a supported type
    # When it is validated
    image = InlineData(mime_type=mime_type, data=b64(image_bytes(mime_type)))
    # Then it is kept as given
    assert image.mime_type == mime_type
    assert base64.b64decode(image.data) == image_bytes(mime_type)


def test_the_type_is_read_case_insensitively_and_image_jpg_means_jpeg() -> None:
    # Given types spelled loosely
    # When validated
    upper = InlineData(mime_type="IMAGE/PNG", data=b64(image_bytes("image/png")))
    jpg = InlineData(mime_type="image/jpg", data=b64(image_bytes("image/jpeg")))
    # Then they are stored in their canonical form
    assert (upper.mime_type, jpg.mime_type) == ("image/png", "image/jpeg")


@pytest.mark.parametrize("mime_type", ["image/bmp", "image/svg+xml", "application/pdf", "text/plain", "audio/wav", ""])
def test_an_unsupported_type_is_a_validation_error(mime_type: str) -> None:
    # Given a type Engram cannot describe
    # When validated
    with pytest.raises(ValidationError, match="unsupported mime_type") as error:
        InlineData(mime_type=mime_type, data=b64(image_bytes()))
    # Then the error names the supported types (a 422 through the API)
    assert "image/png, image/jpeg, image/gif, image/webp" in str(error.value)


def test_data_that_is_not_the_declared_image_type_is_a_validation_error() -> None:
    # Given a JPEG declared as PNG, and a PDF declared as PNG
    # When validated
    # Then both are refused, saying what the data really is
    with pytest.raises(ValidationError, match="is image/png but the data is image/jpeg"):
        InlineData(mime_type="image/png", data=b64(image_bytes("image/jpeg")))
    with pytest.raises(ValidationError, match="not a PNG, JPEG, GIF or WebP image"):
        InlineData(mime_type="image/png", data=b64(b"%PDF-1.7 ..."))


# --- base64 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["not base64!", "iVBORw0KGgo=AAAA", "***", "a"])
def test_invalid_base64_is_a_validation_error(data: str) -> None:
    with pytest.raises(ValidationError, match="not valid base64"):
        InlineData(mime_type="image/png", data=data)


def test_empty_data_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="empty"):
        InlineData(mime_type="image/png", data="")


def test_url_safe_unpadded_or_wrapped_base64_is_accepted_and_stored_in_the_standard_form() -> None:
    # Given bytes whose base64 uses + and / and needs padding
    raw = image_bytes("image/png") + b"\xfb\xff\xbf\xfe"
    standard = b64(raw)
    assert "+" in standard or "/" in standard
    assert standard.endswith("=")
    url_safe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    wrapped = "\n".join(standard[i : i + 16] for i in range(0, len(standard), 16))
    # When each form is validated
    # Then each is stored as standard padded base64 of the same bytes
    for data in (url_safe, wrapped, standard):
        assert InlineData(mime_type="image/png", data=data).data == standard


# --- size --------------------------------------------------------------------------------------------


def test_an_image_of_exactly_the_size_limit_is_accepted() -> None:
    image = InlineData(mime_type="image/jpeg", data=b64(image_bytes("image/jpeg", MAX_IMAGE_BYTES)))
    assert len(base64.b64decode(image.data)) == MAX_IMAGE_BYTES == 256 * 1024


def test_an_image_over_the_size_limit_raises_payload_too_large_not_a_validation_error() -> None:
    # Given a request with an image one byte over 256 KiB
    body = {"scope": {"user_id": "u1"}, "events": [event({"text": "look"}, image_part(size=MAX_IMAGE_BYTES + 1))]}
    # When the request is validated
    # Then PayloadTooLarge (413) escapes pydantic as itself, naming the sizes
    with pytest.raises(PayloadTooLarge, match="262,145 bytes; the limit is 262,144 bytes") as error:
        GenerateRequest.model_validate(body)
    assert not isinstance(error.value, ValidationError)
    assert (error.value.http_status, error.value.code) == (413, "PAYLOAD_TOO_LARGE")


def test_a_caption_over_2000_characters_is_a_validation_error() -> None:
    InlineData(mime_type="image/png", data=b64(image_bytes()), caption="x" * 2000)
    with pytest.raises(ValidationError, match="at most 2000 characters"):
        InlineData(mime_type="image/png", data=b64(image_bytes()), caption="x" * 2001)


def test_a_part_with_both_text_and_an_image_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        Event.model_validate(event({"text": "hi", **image_part()}))


# --- normalization -----------------------------------------------------------------------------------


def test_normalize_leaves_a_marker_where_each_image_was_and_keeps_the_images_in_order() -> None:
    # Given two events: text, image, text, image; and an image alone
    first = image_part("image/png", caption="My dog")
    second = image_part("image/gif")
    events = [
        Event.model_validate(event({"text": "Look:"}, first, {"text": "and"}, second, event_id="e1")),
        Event.model_validate(event(image_part("image/webp"), role="model")),
    ]
    # When normalized
    normalized = normalize(None, events)
    # Then each event's text has an [image N] line per image (counted per event), and its attachments
    assert [e.text for e in normalized] == ["Look:\n[image 1]\nand\n[image 2]", "[image 1]"]
    assert [[a.mime_type for a in e.attachments] for e in normalized] == [["image/png", "image/gif"], ["image/webp"]]
    assert normalized[0].attachments[0].caption == "My dog"
    assert [(e.event_id, e.role) for e in normalized] == [("e1", "user"), ("1", "assistant")]


def test_normalized_text_only_events_have_no_attachments() -> None:
    normalized = normalize([Message(role="user", content="I live in Lisbon.")], None)
    assert normalized == [ConversationEvent(event_id="0", role="user", text="I live in Lisbon.")]
    assert normalized[0].attachments == []


def test_a_normalized_event_survives_a_json_round_trip_with_its_image() -> None:
    # Given a normalized event with an image (as LoadSource would store it)
    [normalized] = normalize(None, [Event.model_validate(event({"text": "hi"}, image_part(caption="c")))])
    # When dumped to JSON and read back
    restored = ConversationEvent.model_validate(normalized.model_dump(mode="json"))
    # Then nothing is lost
    assert restored == normalized
    assert base64.b64decode(restored.attachments[0].data) == image_bytes()


def test_more_than_the_image_limit_per_conversation_is_a_validation_error() -> None:
    # Given a conversation with one image more than allowed, spread over events
    events = [event(image_part()) for _ in range(MAX_IMAGES + 1)]
    # When the request is validated
    # Then it is refused (422), while the limit itself is fine
    with pytest.raises(ValidationError, match=f"at most {MAX_IMAGES} images"):
        GenerateRequest.model_validate({"scope": {"user_id": "u1"}, "events": events})
    GenerateRequest.model_validate({"scope": {"user_id": "u1"}, "events": events[:MAX_IMAGES]})


def test_a_stored_session_may_be_normalized_without_the_image_limit() -> None:
    # Given more images than a request may carry (as a long session can hold)
    events = [Event.model_validate(event(image_part())) for _ in range(MAX_IMAGES + 1)]
    # When normalized without the limit
    normalized = normalize(None, events, max_images=None)
    # Then every image is kept; with the default limit it is refused
    assert sum(len(e.attachments) for e in normalized) == MAX_IMAGES + 1
    with pytest.raises(ValueError, match="at most"):
        normalize(None, events)
