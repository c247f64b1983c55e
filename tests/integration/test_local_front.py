"""The local API front speaks HTTP/1.1 as API Gateway does: a 204 has no body (so a kept-alive connection
stays usable), and a method a resource does not have is a 405 with an ``Allow`` header."""

from __future__ import annotations

import httpx
import pytest
from engram_dev.front import Resources, api_resources


def _client(local_stack) -> httpx.Client:
    """One connection at most, kept alive: every request after the first reuses it."""
    return httpx.Client(
        base_url=local_stack.api_url,
        headers={"Authorization": f"Bearer {local_stack.api_key}"},
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=30,
    )


def _local_port(response: httpx.Response) -> int:
    """The client-side port of the connection the response came on."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


@pytest.mark.parametrize("kind", ["memory", "session"])
def test_a_204_has_no_body_and_the_next_request_on_the_connection_works(local_stack, scope, kind):
    with _client(local_stack) as client:
        # Given something to delete, created on the client's one connection
        if kind == "memory":
            created = client.post("/v1/memories", json={"scope": scope, "fact": "The user keeps bees."})
            path = f"/v1/memories/{created.json()['id']}"
        else:
            created = client.post(
                "/v1/sessions/s-keepalive/events",
                json={"events": [{"content": {"role": "user", "parts": [{"text": "hi"}]}}]},
            )
            path = "/v1/sessions/s-keepalive"
        assert created.status_code == 201, created.text
        # When deleting it (204), then sending another request on the same connection
        deleted = client.delete(path)
        after = client.get("/v1/config")
        ports = {_local_port(response) for response in (created, deleted, after)}
    # Then the 204 came with no body and no Content-Length
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-length" not in deleted.headers
    # And the next request on that kept-alive connection got its own, whole answer
    assert after.status_code == 200 and isinstance(after.json(), dict), after.text
    assert len(ports) == 1


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/memories/retrieve", "POST"),  # a literal segment, not /v1/memories/{id}
        ("PUT", "/v1/memories/m-1", "DELETE, GET, PATCH"),
        ("DELETE", "/v1/config", "GET, PUT"),
        ("GET", "/v1/memories/batch", "POST"),
        ("TRACE", "/v1/config", "GET, PUT"),  # a method no route has
    ],
)
def test_a_method_the_resource_does_not_have_is_a_405_with_allow(local_stack, method, path, allow):
    # Given a resource of the API and a method it does not have
    with _client(local_stack) as client:
        response = client.request(method, path)
    # Then the answer is 405, saying which methods it has, with the error envelope
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_an_unknown_path_is_still_a_404(local_stack):
    with _client(local_stack) as client:
        response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_resources_come_from_the_template_and_literal_segments_win():
    # Given the API's resources as the template declares them
    resources = Resources(api_resources())
    # Then a literal path segment beats a path parameter, and parameters match one segment
    assert resources.match("/v1/memories/retrieve") == ("/v1/memories/retrieve", {"POST"})
    assert resources.match("/v1/memories/m-1") == ("/v1/memories/{id}", {"GET", "PATCH", "DELETE"})
    assert resources.match("/v1/memories/m-1/revisions") == ("/v1/memories/{id}/revisions", {"GET"})
    assert resources.match("/v1/memories/a/b/c") is None
    assert resources.not_allowed("POST", "/v1/memories/retrieve") is None
    assert resources.not_allowed("GET", "/v1/nothing-here") is None  # no resource: the API answers 404


def test_an_authorizer_that_fails_is_a_503_and_an_unknown_key_a_401(local_stack):
    # Given the authorizer failing as when DynamoDB throttles its key read
    def throttled(function: str, event: dict) -> None:
        if function == "AuthorizerFunction":
            raise RuntimeError("ProvisionedThroughputExceededException")

    scope = {"user_id": "u-authorizer-failure"}
    local_stack.runtime.before_invoke = throttled
    try:
        with httpx.Client(base_url=local_stack.api_url, headers={"Authorization": "Bearer egm_not-checked"}) as client:
            failed = client.post("/v1/memories/retrieve", json={"scope": scope})
    finally:
        local_stack.runtime.before_invoke = None
    # Then API Gateway's AUTHORIZER_FAILURE answer: 503, not "unknown key"
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "UNAVAILABLE"
    # And with the authorizer working, the same unknown key is a 401 (the failure was not cached)
    with httpx.Client(base_url=local_stack.api_url, headers={"Authorization": "Bearer egm_not-checked"}) as client:
        unknown = client.post("/v1/memories/retrieve", json={"scope": scope})
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "UNAUTHENTICATED"
