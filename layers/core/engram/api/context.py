"""Per-request facts the routes need: the tenant, which comes only from the authorizer context."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from engram.errors import Unauthorized


def tenant_of(router: APIGatewayRouter) -> str:
    """The tenant id the Lambda authorizer put in ``requestContext.authorizer.tenant_id`` of the request
    ``router`` is handling.

    Never read from the request body or headers. Raises ``Unauthorized`` when absent (a misconfigured
    API without the authorizer must fail closed).
    """
    authorizer = router.current_event.request_context.authorizer
    tenant_id = authorizer.get("tenant_id") if authorizer else None
    if not tenant_id:
        raise Unauthorized("no tenant in the authorizer context")
    return str(tenant_id)
