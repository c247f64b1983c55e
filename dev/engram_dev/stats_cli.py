"""``engram stats``: the usage analytics of a scope or of the tenant (``GET /v1/stats``), as a table or, with
``--json``, as the API's JSON. Against a running API: ``--url`` (default ``$ENGRAM_URL``, else the local
stack at http://127.0.0.1:8080) and ``--api-key`` (default ``$ENGRAM_API_KEY``)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import urlencode

DEFAULT_URL = "http://127.0.0.1:8080"


def query(args: argparse.Namespace) -> str:
    """The request path of ``args``: ``/v1/stats?...`` with the scope as compact JSON."""
    params: dict[str, Any] = {"days": args.days}
    if args.scope:
        params["scope"] = json.dumps(json.loads(args.scope), separators=(",", ":"))
    if args.group_by:
        params["group_by"] = args.group_by
    return "/v1/stats?" + urlencode(params)


def table(stats: dict[str, Any]) -> str:
    """The stats as plain-text tables: totals and groups, then one line per day with its writes and usage."""
    scope = json.dumps(stats["scope"], separators=(",", ":")) if stats.get("scope") else "(whole tenant)"
    lines = [f"scope: {scope}", f"memories: {stats['total']}"]
    for title, groups in (("by topic", stats["by_topic"]), (f"by {stats.get('group_by')}", stats["by_group"])):
        if groups:
            lines.append(f"{title}:")
            lines += [f"  {name:<40} {count:>8}" for name, count in groups.items()]
    if not stats.get("by_group_complete", True):
        lines.append("  (groups counted over the newest memories only)")
    header = ("date", "created", "updated", "deleted", "ops", "llm", "in tok", "out tok", "embed", "cost $")
    lines.append(" ".join(f"{h:>10}" for h in header))
    total_cost = 0.0
    for day, usage in zip(stats["per_day"], stats["usage_per_day"], strict=True):
        values = [day["date"], day["created"], day["updated"], day["deleted"], usage["operations"]]
        values += [usage["llm_calls"], usage["input_tokens"], usage["output_tokens"], usage["embedding_calls"]]
        lines.append(" ".join(f"{v:>10}" for v in values) + f" {usage['estimated_cost_usd']:>10.4f}")
        total_cost += usage["estimated_cost_usd"]
    lines.append(f"estimated cost over {stats['days']} days: ${total_cost:.4f}")
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace) -> int:
    from engram_dev.client import EngramClient

    try:
        path = query(args)
    except ValueError:
        print('--scope: give a JSON object, e.g. \'{"user_id":"u-1"}\'')
        return 2
    client = EngramClient(args.url, args.api_key or os.environ.get("ENGRAM_API_KEY", ""))
    try:
        status, payload = client.request("GET", path)
    except OSError as error:  # URLError included: nothing listens there
        print(f"cannot reach {args.url}: {error}; start it with `engram local` or pass --url")
        return 2
    if status != 200:
        print(json.dumps(payload, indent=2))
        return 1
    print(json.dumps(payload, indent=2) if args.json else table(payload))
    return 0


def register(commands: Any) -> None:
    text = "usage analytics of a scope or the tenant: memories, topics, writes and cost per day"
    parser = commands.add_parser("stats", help=text, description=text)
    parser.add_argument("--scope", help='the scope as JSON, e.g. \'{"user_id":"u-1"}\' (default: the whole tenant)')
    parser.add_argument("--days", type=int, default=30, help="UTC days, today included (1-366, default 30)")
    parser.add_argument("--group-by", help="'topic' or 'metadata.<key>' (needs --scope)")
    parser.add_argument("--url", default=os.environ.get("ENGRAM_URL", DEFAULT_URL), help="the API (default local)")
    parser.add_argument("--api-key", help="its API key (default $ENGRAM_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.set_defaults(func=cmd_stats)
