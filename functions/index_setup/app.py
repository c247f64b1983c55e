"""CloudFormation custom resource ``Custom::EngramIndex``: at deploy time, create the k-NN index with the
mapping the OpenSearch adapter owns (``OpenSearchIndex.ensure_index``) and, on a domain created by the
stack (fine-grained access control, this function's role is its master user), map the function roles
to least-privilege OpenSearch roles (``grant_index_access``).

Create and Update do the work (both idempotent; an existing index gets the current metadata mapping,
``update_metadata_mapping``, so an upgrade that adds a ``meta`` field takes effect); Delete does nothing (the index is derived data and goes
with its domain or collection). The access policies of a new collection take a little while to apply,
so refused or unreachable requests are retried until shortly before the Lambda timeout. CloudFormation
always gets an answer (else the stack would wait for an hour): SUCCESS, or FAILED with the reason.
"""

import json
import time
import urllib.request

from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.adapters.opensearch import build_client, grant_index_access, update_metadata_mapping
from engram.errors import ConfigurationError, IndexUnavailable
from engram.observability import logger

#: Seconds between attempts, and the margin kept before the Lambda timeout to answer CloudFormation.
RETRY_SECONDS = 15
MARGIN_MS = 30_000


def set_up_index(properties: dict) -> None:
    """Grant access (when ``FineGrainedAccess`` is ``"true"``), create the index, then bring the metadata
    mapping of an existing index up to date."""
    s = wiring.dependencies().settings
    client = build_client(s.opensearch_endpoint or "", s.aws_region, s.opensearch_service, s.opensearch_auth)
    if str(properties.get("FineGrainedAccess", "false")).lower() == "true":
        grant_index_access(
            client, s.index_name, properties.get("ReaderRoleArns", []), properties.get("WriterRoleArns", [])
        )
    wiring.dependencies().index.ensure_index()
    update_metadata_mapping(client, s.index_name)


def send_response(event: dict, status: str, reason: str = "") -> None:
    body = {
        "Status": status,
        "Reason": reason[:1000] or status,
        "PhysicalResourceId": event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-index",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }
    request = urllib.request.Request(
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - CloudFormation's presigned URL
        response.read()


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> None:
    status, reason = "SUCCESS", ""
    if event.get("RequestType") in ("Create", "Update"):
        while True:
            try:
                set_up_index(event.get("ResourceProperties", {}))
                break
            except (IndexUnavailable, ConfigurationError) as error:
                # A new collection's data access policy, or a new domain's security plugin, may refuse
                # or be unreachable for a while: retry while there is time, then report the last error.
                if context.get_remaining_time_in_millis() < MARGIN_MS + RETRY_SECONDS * 1000:
                    status, reason = "FAILED", f"{type(error).__name__}: {error}"
                    break
                logger.info("index not ready yet; retrying", extra={"error": str(error)})
                time.sleep(RETRY_SECONDS)
                wiring.reset()
            except Exception as error:  # noqa: BLE001 - reported to CloudFormation (FAILED), never swallowed
                logger.exception("index setup failed")
                status, reason = "FAILED", f"{type(error).__name__}: {error}"
                break
    send_response(event, status, reason)
