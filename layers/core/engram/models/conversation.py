"""Conversation input in both accepted shapes, and the normalized form the workflow uses.

- OpenAI style ``messages``: ``[{"role": "user", "content": "I moved to Lisbon", "event_id"?: "m1"}]``;
  ``content`` may also be a list of ``{"type": "text", "text": ...}`` parts.
- Memory Bank style ``events``: ``[{"event_id"?: "e1", "content": {"role": "user", "parts": [{"text": ...}]}}]``;
  a part may instead be an image, ``{"inline_data": {"mime_type", "data", "caption"?}}``.

Images (``InlineData``): PNG, JPEG, GIF or WebP (the declared ``mime_type`` must match the bytes' own
signature), base64 in ``data`` (standard or URL-safe alphabet, padding optional; kept in the standard
form), at most 256 KiB decoded per image and 10 images per conversation. The limit per image keeps a
stored request inside one DynamoDB item (400 KB; the store refuses a compressed request over 350 KB
with 413 anyway, so several large images in one request are refused as a whole). Errors, through the
API: an unsupported or mismatched type, invalid base64 or too many images → 422 (``ValueError`` in a
validator); an image over the size limit → 413 ``PAYLOAD_TOO_LARGE`` (``engram.errors.PayloadTooLarge``,
which pydantic lets propagate and the API maps by its ``http_status``).

Normalization keeps images out of the text: an event's ``text`` holds a marker ``[image N]`` (its own
line, ``N`` counting from 1 within the event) where the N-th image part was, and the image itself is
in ``attachments``. The workflow's LoadSource step has each image described by a vision model
(``engram.logic.multimodal``) and replaces its marker with ``[Image: <description>]``, so extraction
reads the description as part of that event and provenance (``event_ids``) points at it.

Every message or event may carry an ``event_id``; where it has none, its position (``"0"``, ``"1"``,
...) is its id. Role ``model`` (Memory Bank) is accepted as an alias of ``assistant``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from typing_extensions import TypeAliasType  # typing.TypeAliasType from Python 3.12

from engram.errors import PayloadTooLarge
from engram.models.base import EngramModel

MAX_EVENTS = 500
MAX_EVENT_TEXT_CHARS = 32_000
MAX_EVENT_ID_CHARS = 128

IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 256 * 1024
MAX_IMAGES = 10
MAX_CAPTION_CHARS = 2000

_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
IMAGE_MARKER = re.compile(r"^\[image (\d+)\]$", re.MULTILINE)
"""Matches the marker lines ``normalize`` puts where images were (group 1: the 1-based number)."""
DESCRIBED_IMAGE = re.compile(r"^\[Image: (.*)\]$", re.MULTILINE)
"""Matches the lines that replace the markers once the images are described (group 1: the description)."""

Role = Literal["user", "assistant", "system", "tool"]


def _normalize_role(role: object) -> object:
    return "assistant" if role == "model" else role


ChatRole = TypeAliasType(
    "ChatRole",
    Annotated[
        Role,
        BeforeValidator(_normalize_role),
        WithJsonSchema(
            {
                "type": "string",
                "enum": [*get_args(Role), "model"],
                "description": "Who wrote the turn. `model` (Memory Bank's name) is accepted and stored as `assistant`.",
            }
        ),
    ],
)
"""The role of a message or event in the API: a ``Role``, or ``model`` read as ``assistant``."""


def check_event_text(text: str, what: str) -> str:
    """``text`` if it is at most ``MAX_EVENT_TEXT_CHARS`` characters; else ``ValueError`` (422) saying ``what``."""
    if len(text) > MAX_EVENT_TEXT_CHARS:
        raise ValueError(f"{what} has {len(text):,} characters of text; at most {MAX_EVENT_TEXT_CHARS:,} are allowed")
    return text


def image_marker(number: int) -> str:
    """The text that stands for an event's ``number``-th image (1-based): ``[image 1]``."""
    return f"[image {number}]"


def described_image(description: str) -> str:
    """The line that replaces an image's marker: ``[Image: <description>]`` (the description on one line)."""
    return f"[Image: {' '.join(description.split()) or '(no description)'}]"


def _sniff_image_type(data: bytes) -> str | None:
    """The image type named by the bytes' signature (magic number), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _decode_base64(data: str) -> bytes:
    """Standard or URL-safe base64, padding optional, ASCII whitespace ignored. Raises ``ValueError``."""
    text = "".join(data.split()).translate(_URLSAFE_TO_STANDARD)
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("inline_data.data is not valid base64") from error


class TextPart(EngramModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"] = "text"
    text: str


class Message(EngramModel):
    """An OpenAI-style chat message. Unknown keys (a misspelt ``event_id``, a ``timestamp``...) are a 422,
    as at the top level of a request."""

    model_config = ConfigDict(extra="forbid")

    role: ChatRole
    content: str | list[TextPart] = Field(description="Text, or a list of text parts.")
    event_id: str | None = Field(default=None, max_length=MAX_EVENT_ID_CHARS)
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)

    @model_validator(mode="after")
    def _bounded_text(self) -> Message:
        check_event_text(self.text(), "a message")
        return self


class InlineData(EngramModel):
    """An image given inline (Memory Bank's ``inline_data``), described into text before extraction.

    Validation (see the module docstring): ``mime_type`` one of ``IMAGE_MIME_TYPES`` (case-insensitive;
    ``image/jpg`` is read as ``image/jpeg``) and matching the data's signature; ``data`` valid base64 of
    1 byte to 256 KiB, re-encoded in the standard alphabet with padding. Raises ``ValueError`` (422)
    or ``PayloadTooLarge`` (413).
    """

    model_config = ConfigDict(extra="forbid")

    mime_type: str = Field(description="One of image/png, image/jpeg, image/gif, image/webp.")
    data: str = Field(description="Base64-encoded image bytes, at most 256 KiB decoded.")
    caption: str | None = Field(
        default=None,
        max_length=MAX_CAPTION_CHARS,
        description="What the image shows or why it was shared, if known: context for the vision model "
        "(and, without one, the text used in its place).",
    )

    @field_validator("mime_type", mode="before")
    @classmethod
    def _supported_type(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        mime_type = value.split(";", 1)[0].strip().lower()
        mime_type = _MIME_ALIASES.get(mime_type, mime_type)
        if mime_type not in IMAGE_MIME_TYPES:
            raise ValueError(f"unsupported mime_type {value[:100]!r}; supported: {', '.join(IMAGE_MIME_TYPES)}")
        return mime_type

    @model_validator(mode="after")
    def _valid_image(self) -> InlineData:
        raw = _decode_base64(self.data)
        if not raw:
            raise ValueError("inline_data.data is empty")
        if len(raw) > MAX_IMAGE_BYTES:
            raise PayloadTooLarge(
                f"an inline_data image is {len(raw):,} bytes; the limit is {MAX_IMAGE_BYTES:,} bytes (256 KiB) per image"
            )
        actual = _sniff_image_type(raw)
        if actual != self.mime_type:
            found = actual or "not a PNG, JPEG, GIF or WebP image"
            raise ValueError(f"inline_data.mime_type is {self.mime_type} but the data is {found}")
        self.data = base64.b64encode(raw).decode("ascii")
        return self

    def data_url(self) -> str:
        """``data:<mime_type>;base64,<data>``, the form OpenAI's image input takes."""
        return f"data:{self.mime_type};base64,{self.data}"


class Part(EngramModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    inline_data: InlineData | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Part:
        if (self.text is None) == (self.inline_data is None):
            raise ValueError("a part has exactly one of 'text' or 'inline_data'")
        return self


class Content(EngramModel):
    model_config = ConfigDict(extra="forbid")

    role: ChatRole
    parts: list[Part] = Field(min_length=1)

    def text_and_attachments(self) -> tuple[str, list[InlineData]]:
        """The parts' text joined by newlines, an ``[image N]`` line standing for the N-th image, and
        the images in order."""
        texts: list[str] = []
        attachments: list[InlineData] = []
        for part in self.parts:
            if part.text is not None:
                texts.append(part.text)
            elif part.inline_data is not None:
                attachments.append(part.inline_data)
                texts.append(image_marker(len(attachments)))
        return "\n".join(texts), attachments


class Event(EngramModel):
    """A Memory Bank-style conversation event."""

    model_config = ConfigDict(extra="forbid")

    content: Content
    event_id: str | None = Field(default=None, max_length=MAX_EVENT_ID_CHARS)

    def text(self) -> str:
        """The event's text, with an ``[image N]`` marker line where each image was."""
        return self.content.text_and_attachments()[0]


class ConversationEvent(EngramModel):
    """The normalized form: one turn with its id, role and text.

    ``attachments`` are the turn's images, in order; ``text`` holds the marker ``[image N]`` (its own
    line) where the N-th was. Once described (``engram.logic.multimodal``), the markers are replaced by
    the descriptions and ``attachments`` is empty.
    """

    event_id: str
    role: Role
    text: str
    attachments: list[InlineData] = Field(default_factory=list)


def normalize(
    messages: list[Message] | None, events: list[Event] | None, max_images: int | None = MAX_IMAGES
) -> list[ConversationEvent]:
    """Turn either input shape into ``ConversationEvent``s, assigning positional ids where missing.

    Raises ``ValueError`` when two turns share an event id or there are more than ``max_images`` images
    (10 by default; None: no limit, e.g. for a stored session, whose extra images
    ``engram.logic.multimodal.describe_attachments`` leaves undescribed).
    """
    turns: list[tuple[str | None, Role, str, list[InlineData]]] = []
    for message in messages or []:
        turns.append((message.event_id, message.role, message.text(), []))
    for event in events or []:
        text, attachments = event.content.text_and_attachments()
        turns.append((event.event_id, event.content.role, text, attachments))
    images = sum(len(attachments) for *_, attachments in turns)
    if max_images is not None and images > max_images:
        raise ValueError(f"a conversation has at most {max_images} images; this one has {images}")
    out: list[ConversationEvent] = []
    seen: set[str] = set()
    for position, (event_id, role, text, attachments) in enumerate(turns):
        eid = event_id if event_id else str(position)
        if eid in seen:
            raise ValueError(f"duplicate event_id {eid!r}")
        seen.add(eid)
        out.append(ConversationEvent(event_id=eid, role=role, text=text, attachments=attachments))
    return out
