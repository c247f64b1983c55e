"""``engram keys``: create and revoke API keys of a deployed stack or of the local stack.

- ``engram keys create --tenant T [--name N]``: a new random key for tenant ``T``; the key is printed
  once (only its SHA-256 is stored) with its key id (that hash), which ``revoke`` also accepts.
- ``engram keys revoke KEY`` or ``engram keys revoke --key-id HASH``: the authorizer then answers 403.

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
    create.add_argument("--tenant", required=True, help="tenant id the key authenticates as")
    create.add_argument("--name", default="", help="a label for the key (who or what uses it)")
    _target_arguments(create)
    create.set_defaults(func=cmd_create)

    revoke = actions.add_parser("revoke", help="revoke a key (the authorizer then answers 403)")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("key", nargs="?", help="the API key itself")
    which.add_argument("--key-id", help="the key id printed by `keys create` (SHA-256 of the key)")
    _target_arguments(revoke)
    revoke.set_defaults(func=cmd_revoke)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack-name", help="a deployed Engram stack (reads its TableName output)")
    target.add_argument("--table-name", help="the table itself (with --endpoint-url for the local stack)")
    parser.add_argument("--endpoint-url", help="an emulator endpoint, e.g. the one `engram local` prints")
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, else us-east-1)")


def _region(args: argparse.Namespace) -> str:
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def stack_output(cloudformation: Any, stack_name: str, key: str) -> str:
    """The value of output ``key`` of ``stack_name``; ``SystemExit`` with a clear message if absent."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name!r} has no {key} output; is it an Engram stack?")


def _api_keys(args: argparse.Namespace) -> Any:
    from engram.adapters.dynamodb.api_keys import DynamoApiKeys
    from engram.adapters.dynamodb.table import Table

    region = _region(args)
    if args.endpoint_url:  # an emulator accepts any credentials; a second terminal may have none
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    table_name = args.table_name
    if args.stack_name:
        import boto3

        cloudformation = boto3.client("cloudformation", region_name=region, endpoint_url=args.endpoint_url)
        table_name = stack_output(cloudformation, args.stack_name, "TableName")
    return DynamoApiKeys(Table(table_name, region, args.endpoint_url))


def cmd_create(args: argparse.Namespace) -> int:
    from engram.clock import SystemClock
    from engram.logic.auth import create_api_key, hash_key

    key = create_api_key(_api_keys(args), SystemClock(), args.tenant, args.name)
    print(
        f"API key for tenant {args.tenant} (shown once; only its hash is stored):\n  {key}\n"
        f"Key id (to revoke it without the key): {hash_key(key)}"
    )
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from engram.logic.auth import hash_key

    key_id = args.key_id or hash_key(args.key)
    if not _api_keys(args).revoke(key_id):
        print(f"no such key: {key_id}", file=sys.stderr)
        return 1
    print(f"revoked key {key_id}")
    return 0
