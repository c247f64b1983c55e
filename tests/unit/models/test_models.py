"""The pydantic models' rules (``engram.models``): scopes, request bounds, new memories and conversations."""

from __future__ import annotations

import pytest
from engram.models.api import GenerateRequest, RetrieveRequest
from engram.models.conversation import Event, Message, normalize
from engram.models.memory import NewMemory
from engram.models.scope import Scope, canonical_scope, scope_hash
from pydantic import BaseModel, ValidationError

SCOPE = {"user_id": "u-1"}
MESSAGES = [{"role": "user", "content": "I live in Lisbon"}]
PNG = "iVBORw0KGgoAAAAAAAAAAA=="  # the PNG signature and some zero bytes


class Scoped(BaseModel):
    scope: Scope


# --- scope ---------------------------------------------------------------------------------------------


def test_equal_scopes_in_any_key_order_have_one_canonical_form_and_hash() -> None:
    # Given the same scope with its keys in two orders
    one = {"user_id": "u-1", "agent": "travel", "app": "x"}
    other = {"app": "x", "user_id": "u-1", "agent": "travel"}

    # When they are made canonical and hashed
    # Then both give the same sorted, compact JSON and the same 32-hex-digit hash
    assert canonical_scope(one) == canonical_scope(other) == '{"agent":"travel","app":"x","user_id":"u-1"}'
    assert scope_hash(one) == scope_hash(other)
    assert len(scope_hash(one)) == 32 and int(scope_hash(one), 16) >= 0


def test_different_scopes_have_different_hashes() -> None:
    # Given scopes that differ in a value or by an extra key
    # Then their hashes differ (matching is exact, never by prefix)
    hashes = {scope_hash(SCOPE), scope_hash({"user_id": "u-2"}), scope_hash({**SCOPE, "app": "x"})}
    assert len(hashes) == 3


def test_a_validated_scope_is_stored_with_sorted_keys() -> None:
    # Given a scope with unsorted keys
    # When it is validated
    scope = Scoped(scope={"b": "2", "a": "1"}).scope

    # Then its keys are sorted
    assert list(scope) == ["a", "b"]


@pytest.mark.parametrize(
    "scope",
    [
        {},
        {f"k{i}": "v" for i in range(9)},
        {"": "v"},
        {"k" * 65: "v"},
        {"user_id": ""},
        {"user_id": "v" * 257},
    ],
    ids=["empty", "nine-keys", "empty-key", "long-key", "empty-value", "long-value"],
)
def test_a_scope_out_of_bounds_is_rejected(scope: dict[str, str]) -> None:
    # Given a scope breaking a bound
    # When it is validated, Then it is rejected
    with pytest.raises(ValidationError):
        Scoped(scope=scope)


def test_a_scope_at_its_bounds_is_accepted() -> None:
    # Given a scope of 8 keys of 64 characters with values of 256
    scope = {f"{i}".ljust(64, "k"): "v" * 256 for i in range(8)}

    # When it is validated, Then it is kept
    assert Scoped(scope=scope).scope == dict(sorted(scope.items()))


# --- GenerateRequest -------------------------------------------------------------------------------------


def test_a_generate_request_needs_a_source() -> None:
    # Given a request with a scope but no source
    # When it is validated, Then it is rejected
    with pytest.raises(ValidationError, match="exactly one source"):
        GenerateRequest.model_validate({"scope": SCOPE})


def test_a_generate_request_takes_only_one_source() -> None:
    # Given a request with both messages and events
    events = [{"content": {"role": "user", "parts": [{"text": "hi"}]}}]

    # When it is validated, Then it is rejected
    with pytest.raises(ValidationError, match="exactly one source"):
        GenerateRequest.model_validate({"scope": SCOPE, "messages": MESSAGES, "events": events})


@pytest.mark.parametrize("wait_seconds", [-1, 25.5, 26])
def test_wait_seconds_outside_0_to_25_is_rejected(wait_seconds: float) -> None:
    # Given a wait outside 0-25 s
    # When the request is validated, Then it is rejected
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate({"scope": SCOPE, "messages": MESSAGES, "wait_seconds": wait_seconds})


@pytest.mark.parametrize("wait_seconds", [0, 12.5, 25])
def test_wait_seconds_within_0_to_25_is_accepted(wait_seconds: float) -> None:
    # Given a wait within bounds
    # When the request is validated, Then it is kept
    request = GenerateRequest.model_validate({"scope": SCOPE, "messages": MESSAGES, "wait_seconds": wait_seconds})
    assert request.wait_seconds == wait_seconds


def test_a_generate_request_with_duplicate_event_ids_is_rejected() -> None:
    # Given two messages with the same event id
    messages = [{"role": "user", "content": "a", "event_id": "m1"}, {"role": "user", "content": "b", "event_id": "m1"}]

    # When the request is validated, Then it is rejected naming the id
    with pytest.raises(ValidationError, match="m1"):
        GenerateRequest.model_validate({"scope": SCOPE, "messages": messages})


def test_a_generate_request_rejects_unknown_fields() -> None:
    # Given a request with a misspelt field
    # When it is validated, Then it is rejected rather than silently ignored
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate({"scope": SCOPE, "messages": MESSAGES, "wait_second": 3})


# --- RetrieveRequest -------------------------------------------------------------------------------------


@pytest.mark.parametrize("top_k", [0, -1, 101])
def test_top_k_outside_1_to_100_is_rejected(top_k: int) -> None:
    # Given a top_k out of bounds
    # When the request is validated, Then it is rejected
    with pytest.raises(ValidationError):
        RetrieveRequest.model_validate({"scope": SCOPE, "query": "where", "top_k": top_k})


def test_top_k_defaults_to_10_and_accepts_1_and_100() -> None:
    # Given requests without and with a top_k at the bounds
    # Then the default is 10 and the bounds are accepted
    assert RetrieveRequest.model_validate({"scope": SCOPE, "query": "q"}).top_k == 10
    assert RetrieveRequest.model_validate({"scope": SCOPE, "query": "q", "top_k": 1}).top_k == 1
    assert RetrieveRequest.model_validate({"scope": SCOPE, "query": "q", "top_k": 100}).top_k == 100


# --- NewMemory -------------------------------------------------------------------------------------------


def test_a_new_memory_fact_is_stripped() -> None:
    # Given a fact with surrounding whitespace
    # When it is validated, Then the whitespace is gone
    assert NewMemory(scope=SCOPE, fact="  The user likes jazz.\n").fact == "The user likes jazz."


@pytest.mark.parametrize("fact", ["", "   ", "\n\t"], ids=["empty", "spaces", "newline-tab"])
def test_a_blank_fact_is_rejected(fact: str) -> None:
    # Given a blank fact
    # When it is validated, Then it is rejected
    with pytest.raises(ValidationError):
        NewMemory(scope=SCOPE, fact=fact)


def test_metadata_has_at_most_20_keys() -> None:
    # Given metadata of 20 and of 21 keys
    twenty = {f"k{i}": i for i in range(20)}
    twenty_one = {**twenty, "k20": 20}

    # When they are validated
    # Then 20 are accepted and 21 rejected
    assert NewMemory(scope=SCOPE, fact="f", metadata=twenty).metadata == twenty
    with pytest.raises(ValidationError, match="at most 20"):
        NewMemory(scope=SCOPE, fact="f", metadata=twenty_one)


# --- conversations ---------------------------------------------------------------------------------------


def test_normalize_rejects_duplicate_event_ids() -> None:
    # Given an explicit id that repeats the position of a message without one
    messages = [Message(role="user", content="a", event_id="1"), Message(role="user", content="b")]

    # When they are normalized, Then the duplicate id is refused
    with pytest.raises(ValueError, match="duplicate event_id '1'"):
        normalize(messages, None)


def test_normalize_assigns_positions_and_reads_model_as_assistant() -> None:
    # Given events without ids, one from role "model"
    events = [
        Event.model_validate({"content": {"role": "user", "parts": [{"text": "hi"}]}}),
        Event.model_validate({"content": {"role": "model", "parts": [{"text": "hello"}, {"text": "there"}]}}),
    ]

    # When they are normalized
    out = normalize(None, events)

    # Then each gets its position as id, the model role becomes assistant and parts join by newline
    assert [(e.event_id, e.role, e.text) for e in out] == [("0", "user", "hi"), ("1", "assistant", "hello\nthere")]


def test_an_inline_image_is_replaced_by_a_placeholder_line_in_the_event_text() -> None:
    # Given an event with text and an image
    event = Event.model_validate(
        {
            "content": {
                "role": "user",
                "parts": [{"text": "my cat"}, {"inline_data": {"mime_type": "image/png", "data": PNG}}],
            }
        }
    )

    # When its text is read
    # Then the image stands as a placeholder line, never as its base64 data
    assert event.text() == "my cat\n[image 1]"
    assert PNG not in event.text()
