"""``engram keys``: create and revoke API keys of a deployed stack or of the local stack.

- ``engram keys create --tenant T [--name N]``: a new random key for tenant ``T``; the key is printed
  once (only its SHA-256 is stored) with its key id (that hash), which ``revoke`` also accepts.
- ``engram keys revoke KEY`` or ``engram keys revoke --key-id HASH``: the authorizer then answers 403.
- ``engram keys plan --tenant T --stack-name S [--usage-plan-id P]``: put tenant ``T`` on a usage plan
  (``engram_dev.usage_plans``): its own throttle and quota on the deployed API. ``keys create`` does it
  too, against a deployed stack: on ``--usage-plan-id``, else on the stack's ``DefaultUsagePlanId``
  output (``--no-usage-plan`` skips it). With ``--table-name`` it happens only when ``--usage-plan-id``
  is given, so the local stack, which has no API Gateway, needs nothing.

Where the table is: ``--stack-name S`` (a deployed stack: its ``TableName`` output, read through
CloudFormation with the usual AWS credentials and ``--region``), or ``--table-name T`` with
``--endpoint-url URL`` for the local stack (both printed by ``engram local``), or ``--table-name`` alone
for a table in AWS.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="create or revoke API keys (deployed or local stack)")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", help="create a key for a tenant and print it once")
    create.add_argument(
        "--tenant",
        required=True,
        type=_tenant_id,
        help="tenant id the key authenticates as: 1-64 letters, digits, '.', '_', '-' (no '#', ':' or spaces)",
    )
    create.add_argument("--name", default="", help="a label for the key (who or what uses it)")
    _target_arguments(create)
    plan_choice = create.add_mutually_exclusive_group()
    plan_choice.add_argument(
        "--usage-plan-id",
        help="put the tenant on this usage plan (default with --stack-name: its DefaultUsagePlanId output)",
    )
    plan_choice.add_argument(
        "--no-usage-plan", action="store_true", help="leave the tenant's usage plan as it is (deployed stack)"
    )
    create.set_defaults(func=cmd_create)

    plan = actions.add_parser(
        "plan",
        help="put a tenant on a usage plan of a deployed stack (its own throttle and quota)",
        description="Put a tenant on a usage plan of a deployed stack: its requests then count against that "
        "plan's throttle and quota (a tenant on no plan gets 403). Idempotent.",
    )
    plan.add_argument("--tenant", required=True, type=_tenant_id, help="the tenant id")
    plan.add_argument("--stack-name", help="a deployed Engram stack (reads its ApiId and DefaultUsagePlanId outputs)")
    plan.add_argument("--usage-plan-id", help="the plan (default: the stack's DefaultUsagePlanId output)")
    plan.add_argument("--endpoint-url", help="an emulator endpoint")
    plan.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, else us-east-1)")
    plan.set_defaults(func=cmd_plan)

    revoke = actions.add_parser("revoke", help="revoke a key (the authorizer then answers 403)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("key", nargs="?", help="the API key itself")
    which.add_argument("--key-id", help="the key id printed by `keys create` (SHA-256 of the key)")
    _target_arguments(revoke)
    revoke.set_defaults(func=cmd_revoke)


def _tenant_id(value: str) -> str:
    """``--tenant``: a tenant id by ``engram.models.identifiers`` (argparse reports a bad one and exits 2)."""
    from engram.errors import InvalidIdentifier
    from engram.models.identifiers import check_tenant_id

    try:
        return check_tenant_id(value)
    except InvalidIdentifier as error:
        raise argparse.ArgumentTypeError(error.message) from error


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack-name", help="a deployed Engram stack (reads its TableName output)")
    target.add_argument("--table-name", help="the table itself (with --endpoint-url for the local stack)")
    parser.add_argument("--endpoint-url", help="an emulator endpoint, e.g. the one `engram local` prints")
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, else us-east-1)")


def _region(args: argparse.Namespace) -> str:
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """``{output key: value}`` of ``stack_name``."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: str(o["OutputValue"]) for o in (stacks[0].get("Outputs", []) if stacks else [])}


def stack_output(cloudformation: Any, stack_name: str, key: str) -> str:
    """The value of output ``key`` of ``stack_name``; ``SystemExit`` with a clear message if absent."""
    value = stack_outputs(cloudformation, stack_name).get(key)
    if value is None:
        raise SystemExit(f"stack {stack_name!r} has no {key} output; is it an Engram stack?")
    return value


def _client(args: argparse.Namespace, service: str) -> Any:
    import boto3

    if args.endpoint_url:  # an emulator accepts any credentials; a second terminal may have none
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    return boto3.client(service, region_name=_region(args), endpoint_url=args.endpoint_url)


def _usage_plan(args: argparse.Namespace) -> tuple[str, str | None] | None:
    """``(usage plan id, API id or None = the plan's)`` to put the tenant on, or None: none asked for
    (``--no-usage-plan``; ``--table-name`` without ``--usage-plan-id``; a stack deployed before usage plans)."""
    if getattr(args, "no_usage_plan", False):
        return None
    if not args.stack_name:
        return (args.usage_plan_id, None) if args.usage_plan_id else None
    outputs = stack_outputs(_client(args, "cloudformation"), args.stack_name)
    plan_id = args.usage_plan_id or outputs.get("DefaultUsagePlanId")
    if not plan_id:
        print(f"stack {args.stack_name!r} has no DefaultUsagePlanId output (no per-tenant usage plans)")
        return None
    return plan_id, outputs.get("ApiId")


def _put_on_plan(args: argparse.Namespace) -> bool:
    """Put ``args.tenant`` on the plan ``_usage_plan`` names and say so; False (after a message on stderr)
    when that failed."""
    from botocore.exceptions import ClientError

    from engram_dev.usage_plans import UsagePlanError, assign_tenant

    target = _usage_plan(args)
    if target is None:
        print(
            f"Usage plan: none for tenant {args.tenant} (the local stack has none; on a deployed stack the "
            "tenant needs one: use --stack-name, or run `engram keys plan`)"
        )
        return True
    try:
        done = assign_tenant(_client(args, "apigateway"), target[0], args.tenant, target[1])
    except (UsagePlanError, ClientError) as error:
        print(f"could not put tenant {args.tenant} on usage plan {target[0]}: {error}", file=sys.stderr)
        return False
    state = "added to it now" if done.added_to_plan else "already on it"
    print(f"Usage plan: {done.usage_plan_id} (tenant {args.tenant}, API Gateway key {done.api_key_id}, {state})")
    if not done.enabled:
        print(f"warning: API Gateway key {done.api_key_id} is disabled: tenant {args.tenant} gets 403", file=sys.stderr)
    return True


def _api_keys(args: argparse.Namespace) -> Any:
    from engram.adapters.dynamodb.api_keys import DynamoApiKeys
    from engram.adapters.dynamodb.table import Table

    table_name = args.table_name
    if args.stack_name:
        table_name = stack_output(_client(args, "cloudformation"), args.stack_name, "TableName")
    elif args.endpoint_url:  # an emulator accepts any credentials; a second terminal may have none
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    return DynamoApiKeys(Table(table_name, _region(args), args.endpoint_url))


def cmd_create(args: argparse.Namespace) -> int:
    from engram.clock import SystemClock
    from engram.logic.auth import create_api_key, hash_key

    if not _put_on_plan(args):  # first: a key the deployed API would refuse (403) is never handed out
        return 1
    key = create_api_key(_api_keys(args), SystemClock(), args.tenant, args.name)
    print(
        f"API key for tenant {args.tenant} (shown once; only its hash is stored):\n  {key}\n"
        f"Key id (to revoke it without the key): {hash_key(key)}"
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    if not (args.stack_name or args.usage_plan_id):
        print("give --stack-name (its default plan) or --usage-plan-id", file=sys.stderr)
        return 2
    return 0 if _put_on_plan(args) else 1


def cmd_revoke(args: argparse.Namespace) -> int:
    from engram.logic.auth import hash_key

    key_id = args.key_id or hash_key(args.key)
    if not _api_keys(args).revoke(key_id):
        print(f"no such key: {key_id}", file=sys.stderr)
        return 1
    print(f"revoked key {key_id}")
    return 0
