"""Which scopes a stored ``Idempotency-Key`` record holds something of (``scopes_named``): what its tags
list it under, so a forget of the scope finds it."""

from __future__ import annotations

from engram.adapters.dynamodb.idempotency import scopes_named
from engram.models.scope import scope_hash

ALICE = {"user_id": "alice", "app": "notes"}
BOB = {"user_id": "bob"}


def test_every_scope_object_of_a_request_and_a_response_is_named():
    # Given a batch request of two scopes and a response holding the memories it created
    request = {"memories": [{"scope": ALICE, "fact": "Likes tea."}, {"scope": BOB, "fact": "Likes jazz."}]}
    response = {"status": 201, "body": {"memories": [{"id": "m1", "scope": ALICE, "fact": "Likes tea."}]}}

    # Then both scopes are named, once each
    assert scopes_named(request, response) == {scope_hash(ALICE), scope_hash(BOB)}


def test_mem0_entities_name_the_scope_they_form():
    # Given a mem0 add request and its response (entities at the top level, null when absent)
    request = {"messages": [{"role": "user", "content": "I love jazz"}], "user_id": "bob", "infer": False}
    memory = {"id": "m1", "memory": "I love jazz", "user_id": "bob", "agent_id": None, "run_id": None}
    response = {"status": 200, "body": {"results": [{"event": "ADD", **memory}]}}

    # Then the scope {"user_id": "bob"} is named, as Engram stores it
    assert scopes_named(request, response) == {scope_hash(BOB)}


def test_what_holds_no_scope_names_none():
    # A deletion's empty response, a count, a patch body, and objects that only look like scopes
    documents = [None, {"status": 204, "body": None}, {"deleted_count": 3}, {"fact": "Likes tea."}]
    documents += [{"scope": {}}, {"scope": {"user_id": 1}}, {"scope": "alice"}, {"user_id": ""}]
    assert scopes_named(*documents) == set()
