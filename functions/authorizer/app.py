"""Lambda TOKEN authorizer: ``Authorization: Bearer <api key>`` → the key's tenant.

Unknown or missing key → ``Unauthorized`` (API Gateway answers 401); revoked key → a Deny policy (403);
otherwise Allow on every route of the stage (so the cached result serves all routes), with
``tenant_id`` in the context.
"""

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.errors import Forbidden
from engram.logic.auth import resolve_tenant
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
    # Any other failure (Unauthorized) must become API Gateway's 401, which only "Unauthorized" gives.
    except Exception as error:
        logger.info("rejected API key", extra={"reason": str(error)})
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the exact message API Gateway maps to 401
    policy = APIGatewayAuthorizerResponse(
        principal_id=tenant_id,
        context={"tenant_id": tenant_id},
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
    )
    policy.allow_all_routes()
    return policy.asdict()
