"""Lambda TOKEN authorizer: ``Authorization: Bearer <api key>`` (or mem0's ``Token <api key>``) → the key's tenant.

Unknown or missing key → ``Unauthorized`` (API Gateway answers 401); revoked key → a Deny policy (403);
otherwise Allow on every route of the stage (so the cached result serves all routes) — for the Token
scheme only on the mem0-compatible routes (``/mem0/...``, ``engram.logic.auth.allowed_routes``), with
``tenant_id`` in the context and the tenant's usage-plan key as ``usageIdentifierKey`` (its own throttle
and quota). Any other failure — the table throttling or unreachable — is raised as it is: API Gateway
answers 5xx (``AUTHORIZER_FAILURE``), never 401, so a client retries instead of dropping a good key.
"""

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.errors import Forbidden, Unauthorized
from engram.logic.auth import allowed_routes, is_mem0_route, resolve_tenant, usage_identifier_key
from engram.observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    token_event = APIGatewayAuthorizerTokenEvent(event)
    arn = token_event.parsed_arn
    try:
        tenant_id = resolve_tenant(wiring.dependencies().api_keys, token_event.authorization_token)
    except Forbidden:
        policy = APIGatewayAuthorizerResponse(
            principal_id="revoked",
            region=arn.region,
            aws_account_id=arn.aws_account_id,
            api_id=arn.api_id,
            stage=arn.stage,
        )
        policy.deny_all_routes()
        return policy.asdict()
    except Unauthorized as error:
        logger.info("rejected API key", extra={"reason": error.message})
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the exact message API Gateway maps to 401
    except Exception:
        logger.exception("could not check the API key; API Gateway answers 5xx")
        raise
    policy = APIGatewayAuthorizerResponse(
        principal_id=tenant_id,
        context={"tenant_id": tenant_id},
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        usage_identifier_key=usage_identifier_key(arn.api_id, tenant_id),
    )
    routes = allowed_routes(token_event.authorization_token)
    if routes == "*":
        policy.allow_all_routes()
    else:
        # Token outside /mem0 is refused by the policy itself (API Gateway answers 403), never by a 401 here:
        # the policy is cached per header value for every route, so it must be right for all of them.
        if not is_mem0_route(arn.resource):
            logger.info("Token scheme outside /mem0: denied by the policy", extra={"resource": arn.resource})
        policy.allow_route("*", routes)
    return policy.asdict()
