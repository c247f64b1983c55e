"""Images in a conversation (Memory Bank ``inline_data`` parts), described into text before extraction.

``engram.models.conversation.normalize`` leaves an ``[image N]`` marker line in an event's text where its
N-th image was, and the image in ``attachments``. ``describe_attachments`` asks the model to describe
each image (one vision call per image: images are rare, and one call each keeps every description tied
to its image) and puts ``[Image: <description>]`` in place of its marker. Extraction then reads the
description as part of that event, so a fact drawn from an image names that event in its provenance.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from engram.models.conversation import IMAGE_MARKER, MAX_IMAGES, ConversationEvent, described_image
from engram.models.operation import Usage

if TYPE_CHECKING:
    from engram.ports import LLM

MAX_DESCRIPTION_CHARS = 2000
NOT_DESCRIBED = "not described: over the limit of images described per generation"


def describe_attachments(
    llm: LLM, events: list[ConversationEvent], max_images: int = MAX_IMAGES
) -> tuple[list[ConversationEvent], Usage]:
    """Describe every image of ``events`` and return the events with the descriptions in their text.

    One ``llm.describe_image`` call per image, in order, for the first ``max_images`` (10) images; later
    ones (possible only in a stored session, requests are limited) get ``NOT_DESCRIBED`` instead, with
    no call. In each event with attachments, the marker line ``[image N]`` becomes
    ``[Image: <description of its N-th image>]`` (whitespace collapsed, at most 2,000 characters); a
    description whose marker is missing is appended as a last line. The returned events have no
    attachments; events without images are returned as they are. Also returns the usage: one LLM call
    per described image and the tokens the model reported (0 for the offline model).

    Errors: those of ``LLM.describe_image`` (``LLMUnavailable``, ``LLMOutputInvalid``,
    ``ConfigurationError``), raised as they come; nothing is returned for a partial run.
    """
    usage = Usage()
    budget = max_images
    out: list[ConversationEvent] = []
    for event in events:
        if not event.attachments:
            out.append(event)
            continue
        lines: list[str] = []
        for image in event.attachments:
            if budget <= 0:
                lines.append(described_image(NOT_DESCRIBED))
                continue
            budget -= 1
            result = llm.describe_image(image)
            usage += Usage(llm_calls=1, input_tokens=result.input_tokens, output_tokens=result.output_tokens)
            lines.append(described_image(_clip(result.output.text)))
        placed: set[int] = set()

        def replace(match: re.Match[str], lines: list[str] = lines, placed: set[int] = placed) -> str:
            number = int(match[1])
            if not 1 <= number <= len(lines):
                return match[0]
            placed.add(number)
            return lines[number - 1]

        text = IMAGE_MARKER.sub(replace, event.text)
        missing = [line for number, line in enumerate(lines, start=1) if number not in placed]
        if missing:
            text = "\n".join(line for line in (text, *missing) if line)
        out.append(event.model_copy(update={"text": text, "attachments": []}))
    return out, usage


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 1] + "…"
