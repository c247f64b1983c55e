"""The ``engram`` command as a user meets it: ``--version``, a description on every ``--help``, one-line
errors instead of tracebacks, ``engram local`` stopped by SIGTERM and its ``--access-log``.

The subprocess tests run the installed ``engram`` script of this environment, loopback only, each bounded
in time."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from engram_dev import cli

ENGRAM = str(Path(sys.executable).with_name("engram"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENGRAM, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _parser_tree(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand parser of ``engram``, as ``cli.main`` builds it."""
    captured: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> argparse.Namespace:
        captured.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    monkeypatch.undo()
    found: list[tuple[str, argparse.ArgumentParser]] = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    found.append((child.prog, child))
                    walk(child)

    walk(captured[0])
    return found


def test_version_prints_the_package_version(capsys):
    # When `engram --version` runs
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])

    # Then it prints the installed version and exits 0
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"engram {cli._version()}"
    assert cli._version()[0].isdigit()


def test_every_subcommand_has_a_description_and_every_command_takes_quiet(monkeypatch):
    # Given every subcommand of `engram`
    parsers = _parser_tree(monkeypatch)
    assert {"engram local", "engram demo", "engram keys create"} <= {prog for prog, _ in parsers}

    # Then each has a description in its --help, and each command that runs takes --quiet
    for prog, parser in parsers:
        assert parser.description, prog
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            assert "--quiet" in parser._option_string_actions, prog


def test_a_busy_port_is_one_error_line_suggesting_port():
    # Given a port something already listens on
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        # When `engram local` is asked for it
        done = _run("local", "--port", str(port), timeout=60)

    # Then it exits 2 with one error line naming the port and suggesting --port, no traceback
    assert done.returncode == 2, done.stderr
    assert f"port {port} is already in use" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr


def test_keys_create_against_an_unreachable_endpoint_is_one_error_line():
    # When `engram keys create` is pointed at an endpoint where nothing listens
    done = _run(
        "keys", "create", "--tenant", "t1", "--table-name", "x", "--endpoint-url", f"http://127.0.0.1:{_free_port()}"
    )

    # Then it exits 2 saying it cannot reach the endpoint, no traceback
    assert done.returncode == 2, done.stderr
    assert "cannot reach the endpoint" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_benchmark_data_folder_says_where_to_get_locomo(tmp_path):
    # When a benchmark is given a folder without LOCOMO conversations
    done = _run("bench", "retrieval", "--data", str(tmp_path / "nowhere"))

    # Then it exits 2 naming the folder and where the data comes from, no traceback
    assert done.returncode == 2, done.stderr
    assert str(tmp_path / "nowhere") in done.stderr
    assert "../shared/eval/locomo" in done.stderr and "--data" in done.stderr
    assert "Traceback" not in done.stderr


def _wait_ready(process: subprocess.Popen[str], seconds: float) -> list[str]:
    """The lines ``engram local`` printed up to its 'Ctrl-C to stop.' line."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C to stop"):
            return lines
    process.kill()
    raise AssertionError(f"engram local not ready in {seconds} s: {''.join(lines)}")


def test_local_logs_each_request_and_sigterm_stops_it_cleanly(tmp_path):
    # Given `engram local --access-log` on a free port, ready
    port = _free_port()
    process = subprocess.Popen(
        [ENGRAM, "local", "--port", str(port), "--data-dir", str(tmp_path / "data"), "--access-log"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ENGRAM_API_KEY": ""},
    )
    try:
        lines = _wait_ready(process, 90)
        key = next(line.split()[2] for line in lines if "API key:" in line)
        assert f"API:     http://127.0.0.1:{port}  (routes under /v1)" in "".join(lines)

        # When a request is made (with a query string) and then SIGTERM is sent
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/config?secret=1", headers={"Authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback URL of the test
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/config", timeout=30)  # noqa: S310 - loopback
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # Then it stopped within a few seconds with code 0
    assert process.returncode == 0, err
    assert took < 8, took
    assert "stopping" in out
    # and logged one line per request: method, path (no query), status, ms; never the key
    log = [line for line in err.splitlines() if " /v1/config " in line]
    assert len(log) == 2, err
    # (in either order: each is written by its connection's thread once the response is sent)
    assert sorted(line.split()[1:4] for line in log) == [["GET", "/v1/config", "200"], ["GET", "/v1/config", "401"]]
    assert all(line.endswith(" ms") for line in log)
    assert key not in err and "secret" not in err
