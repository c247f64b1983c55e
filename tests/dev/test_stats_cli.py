"""``engram stats`` against the local stack: a table by default, the API's JSON with ``--json``."""

from __future__ import annotations

import json

from engram_dev.cli import main


def _target(local_stack) -> list[str]:
    return ["--url", local_stack.api_url, "--api-key", local_stack.api_key]


def test_stats_print_a_table_of_the_scope(local_stack, api, scope, capsys):
    # Given two memories of a scope
    api.create(scope, "The user likes tea.", topics=["USER_PREFERENCES"])
    api.create(scope, "The user likes jazz.")

    # When `engram stats --scope ... --days 2` runs, then it prints the totals, topics and one line per day
    assert (
        main(["stats", "--scope", json.dumps(scope), "--days", "2", "--group-by", "topic", *_target(local_stack)]) == 0
    )
    out = capsys.readouterr().out
    assert "memories: 2" in out and "USER_PREFERENCES" in out
    assert len([line for line in out.splitlines() if line.strip().startswith("20")]) == 2
    assert "estimated cost over 2 days: $" in out


def test_stats_json_is_the_api_answer(local_stack, api, scope, capsys):
    api.create(scope, "The user likes tea.")
    assert main(["stats", "--scope", json.dumps(scope), "--days", "1", "--json", *_target(local_stack)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 1 and stats["per_day"][0]["created"] == 1


def test_bad_input_fails_with_the_api_message(local_stack, capsys):
    assert main(["stats", "--days", "0", *_target(local_stack)]) == 1
    assert "days" in capsys.readouterr().out
    assert main(["stats", "--scope", "not json", *_target(local_stack)]) == 2
