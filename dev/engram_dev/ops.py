"""Operator commands: ``engram reindex`` and ``engram retention``.

Against the local stack they call its dev-only routes (``--url``, ``--api-key``); against a deployed
stack they invoke the function (``--function-name`` of ReindexFunction / RetentionFunction, with the
usual AWS credentials and region).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def _run(args: argparse.Namespace, route: str, event: dict[str, Any]) -> int:
    if args.function_name:
        import boto3

        response = boto3.client("lambda").invoke(FunctionName=args.function_name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        print(json.dumps(payload, indent=2))
        return 1 if response.get("FunctionError") else 0
    from engram_dev.client import EngramClient

    client = EngramClient(args.url, args.api_key or os.environ.get("ENGRAM_API_KEY", ""), timeout=900)
    try:
        status, payload = client.request("POST", route, event)
    except OSError as error:  # URLError included: nothing listens there
        print(f"cannot reach {args.url}: {error}; start it with `engram local` or pass --url / --function-name")
        return 2
    print(json.dumps(payload, indent=2))
    return 0 if status == 200 else 1


def cmd_reindex(args: argparse.Namespace) -> int:
    return _run(args, "/_local/reindex", {"tenant_id": args.tenant} if args.tenant else {})


def cmd_retention(args: argparse.Namespace) -> int:
    return _run(args, "/_local/retention", {"max_items": args.max_items})


def register(commands: Any) -> None:
    for name, func, text in (
        ("reindex", cmd_reindex, "rebuild the vector index from DynamoDB (no LLM or embedding calls)"),
        ("retention", cmd_retention, "delete expired memories, revisions and session events now"),
    ):
        parser = commands.add_parser(name, help=text, description=text)
        parser.add_argument("--url", default="http://127.0.0.1:8080", help="a running `engram local` (default)")
        parser.add_argument("--api-key", help="its API key (default $ENGRAM_API_KEY)")
        parser.add_argument("--function-name", help="deployed stack: the function to invoke instead")
        if name == "reindex":
            parser.add_argument("--tenant", help="only this tenant's memories")
        else:
            parser.add_argument("--max-items", type=int, default=5000, help="bound of this run (default 5000)")
        parser.set_defaults(func=func)
