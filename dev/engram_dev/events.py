"""API Gateway REST proxy events as the API function receives them behind the Lambda authorizer, to call
a handler in-process or with ``sam local invoke -e``. ``events/api/`` holds one per route (made with
``api_event``; ``tests/integration/test_sample_events.py`` runs each through the handler)."""

from __future__ import annotations

import json
import uuid
from typing import Any

ACCOUNT_ID = "123456789012"
API_ID = "abcdef1234"
STAGE = "prod"


def path_parameters(resource: str, path: str) -> dict[str, str] | None:
    """``{name: value}`` of the ``{name}`` segments of ``resource`` (``/v1/memories/{id}``) in ``path``
    (``/v1/memories/m1``), or None when the resource has none. Raises ``ValueError`` when they differ in
    their number of segments."""
    templates, values = resource.split("/"), path.split("/")
    if len(templates) != len(values):
        raise ValueError(f"{path!r} is not a path of {resource!r}")
    found = {t[1:-1]: v for t, v in zip(templates, values, strict=True) if t.startswith("{") and t.endswith("}")}
    return found or None


def api_event(
    method: str,
    path: str,
    *,
    tenant_id: str = "tenant-sample",
    body: Any = None,
    query: dict[str, str] | None = None,
    resource: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The proxy event of ``method path`` (``path`` without the stage: ``/v1/memories``) for ``tenant_id``,
    as the authorizer's context gives it (``requestContext.authorizer.tenant_id``).

    ``body``: a JSON value (sent as JSON text with ``Content-Type: application/json``) or None;
    ``query``: single-valued query parameters; ``resource``: the route's template when the path has
    parameters (``/v1/memories/{id}``: default ``path``); ``headers``: more request headers.
    """
    all_headers = {"Authorization": "Bearer egm_example-key-shown-once", "Host": f"{API_ID}.execute-api.amazonaws.com"}
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    resource = resource or path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters(resource, path),
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "identity": {"sourceIp": "203.0.113.10"},
            "authorizer": {"principalId": tenant_id, "tenant_id": tenant_id},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
