"""A 204 from the API function has no body: API Gateway passes the function's body through, and a
``null`` body on a 204 breaks the next request of a keep-alive connection in HTTP clients."""

import json
import uuid
from pathlib import Path

import pytest

EVENT = Path(__file__).resolve().parents[2] / "events" / "api" / "delete_memory.json"


def _delete_event(tenant: str, memory_id: str, idempotency_key: str | None) -> dict:
    event = json.loads(EVENT.read_text())
    event["path"] = f"/v1/memories/{memory_id}"
    event["pathParameters"] = {"id": memory_id}
    event["requestContext"]["authorizer"] = {"principalId": tenant, "tenant_id": tenant}
    if idempotency_key:
        event["headers"]["Idempotency-Key"] = idempotency_key
        event["multiValueHeaders"]["Idempotency-Key"] = [idempotency_key]
    return event


@pytest.mark.parametrize("idempotency_key", [None, "delete-once"])
def test_a_delete_answers_204_without_a_body(local_stack, api, idempotency_key):
    # Given a memory of the dev tenant
    memory = api.create({"user_id": f"no-content-{uuid.uuid4().hex[:8]}"}, "The user likes tea.")
    key = f"{idempotency_key}-{memory['id']}" if idempotency_key else None
    # When the API function deletes it (with and without an Idempotency-Key, whose replay is stored)
    for _ in range(2 if key else 1):
        response = local_stack.runtime.invoke("ApiFunction", _delete_event("dev", memory["id"], key))
        # Then the answer is a 204 with no body and no JSON content type
        assert response["statusCode"] == 204
        assert not response.get("body")
        headers = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
        headers |= {k.lower(): [v] for k, v in (response.get("headers") or {}).items()}
        assert "content-type" not in headers
