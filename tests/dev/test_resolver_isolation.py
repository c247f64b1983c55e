"""Concurrent in-process invocations of one API function keep their own request (``per_thread_api_resolver_state``)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.router import Router
from engram_dev import patches


def _event(path: str, tenant: str) -> dict:
    return {
        "resource": "/items/{name}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"X-Tenant": tenant},
        "multiValueHeaders": {"X-Tenant": [tenant]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"name": path.rsplit("/", 1)[1]},
        "requestContext": {"httpMethod": "GET", "path": path, "resourcePath": "/items/{name}", "stage": "test"},
        "body": None,
        "isBase64Encoded": False,
    }


def test_two_concurrent_requests_each_read_their_own_event_and_route_arguments() -> None:
    # Given a resolver whose route (on an included router, as Engram's) reads the request after both
    # requests have started
    patches.per_thread_api_resolver_state()
    app, router = APIGatewayRestResolver(), Router()
    both_started = threading.Barrier(2, timeout=10)

    @router.get("/items/<name>")
    def item(name: str) -> dict:
        both_started.wait()
        return {"name": name, "path": router.current_event.path, "tenant": router.current_event.headers["X-Tenant"]}

    app.include_router(router)

    # When two requests are resolved at once on two threads
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda e: app.resolve(e, None), [_event("/items/a", "t-a"), _event("/items/b", "t-b")]))

    # Then each answer is built from its own request only
    bodies = [json.loads(answer["body"]) for answer in answers]
    assert [answer["statusCode"] for answer in answers] == [200, 200]
    assert bodies == [
        {"name": "a", "path": "/items/a", "tenant": "t-a"},
        {"name": "b", "path": "/items/b", "tenant": "t-b"},
    ]
