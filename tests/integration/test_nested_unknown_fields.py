"""Unknown fields inside messages and events are refused like unknown top-level fields: a 422 naming the
field, not a silent drop (``"timestamp": "yesterday"`` inside a generate message was ignored)."""

from __future__ import annotations

from typing import Any

import pytest
from engram_dev.client import EngramClient

S = {"user_id": "nested-unknown"}
TEXT = {"role": "user", "content": "I moved to Lisbon."}
EVENT = {"content": {"role": "user", "parts": [{"text": "I moved to Lisbon."}]}}


def _generate(**item: Any) -> dict[str, Any]:
    return {"scope": S, "messages": [{**TEXT, **item}]}


# (id, path, body, the unknown field the message must name)
CASES = [
    ("generate-message-timestamp", "/v1/memories/generate", _generate(timestamp="yesterday"), "timestamp"),
    (
        "generate-message-part",
        "/v1/memories/generate",
        {"scope": S, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "lang": "en"}]}]},
        "lang",
    ),
    ("generate-event", "/v1/memories/generate", {"scope": S, "events": [{**EVENT, "speaker": "me"}]}, "speaker"),
    (
        "generate-event-content",
        "/v1/memories/generate",
        {"scope": S, "events": [{"content": {**EVENT["content"], "author": "me"}}]},
        "author",
    ),
    (
        "generate-event-part",
        "/v1/memories/generate",
        {"scope": S, "events": [{"content": {"role": "user", "parts": [{"text": "hi", "txt": "x"}]}}]},
        "txt",
    ),
    ("session-message", "/v1/sessions/nested-1/events", {"events": [{**TEXT, "evnt_id": "e1"}]}, "evnt_id"),
    (
        "session-event-content",
        "/v1/sessions/nested-1/events",
        {"events": [{"content": {**EVENT["content"], "timestamp": "yesterday"}}]},
        "timestamp",
    ),
]


@pytest.mark.parametrize(("case", "path", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_an_unknown_nested_field_is_a_422_naming_it(local_stack, case, path, body, field):
    # Given the local stack
    api = EngramClient(local_stack.api_url, local_stack.api_key)

    # When a request carries an unknown field inside a message, an event, its content or a part
    status, answer = api.request("POST", path, body)

    # Then it is refused with a 422 whose message names the field
    assert status == 422, answer
    assert field in answer["error"]["message"], answer


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/memories/generate", _generate(name="alice", event_id="m1")),
        (
            "/v1/memories/generate",
            {"scope": S, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        ),
        ("/v1/memories/generate", {"scope": S, "events": [{**EVENT, "event_id": "e1"}]}),
        ("/v1/sessions/nested-2/events", {"events": [{**TEXT, "event_id": "m1", "timestamp": "2025-01-02T03:04:05Z"}]}),
        (
            "/v1/sessions/nested-2/events",
            {"events": [{**EVENT, "event_id": "e2", "timestamp": "2025-01-02T03:04:05Z"}]},
        ),
    ],
)
def test_the_documented_shapes_are_still_accepted(local_stack, path, body):
    # Given the OpenAI shape {role, content, name?, event_id?} and the Memory Bank shape {content: {role, parts}}
    api = EngramClient(local_stack.api_url, local_stack.api_key)

    # When each is sent
    status, answer = api.request("POST", path, body)

    # Then it is accepted
    assert status in (200, 201, 202), answer
