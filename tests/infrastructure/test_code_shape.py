"""The deployed code stays in small pieces: no function under ``layers/`` or ``functions/`` is longer than
60 lines (``def`` line to last line, decorators excluded) unless its docstring says why, on a line that
starts with ``Long because:`` (for what reads best whole, such as a declarative table)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from engram_dev.project import project_root

MAX_FUNCTION_LINES = 60
REASON_MARKER = "Long because:"
DEPLOYED = ("layers", "functions")


def long_functions(source: str, filename: str = "<source>") -> list[str]:
    """``"<file>:<line> <name> (<n> lines)"`` for every function of ``source`` longer than the limit whose
    docstring gives no reason."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assert node.end_lineno is not None
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_FUNCTION_LINES and not _gives_reason(ast.get_docstring(node)):
            found.append(f"{filename}:{node.lineno} {node.name} ({lines} lines)")
    return found


def _gives_reason(docstring: str | None) -> bool:
    return any(line.strip().startswith(REASON_MARKER) for line in (docstring or "").splitlines())


def _deployed_sources() -> list[Path]:
    root = project_root()
    return sorted(path for folder in DEPLOYED for path in (root / folder).rglob("*.py"))


def _function(lines: int, docstring: str = "") -> str:
    """The source of a function ``lines`` lines long (its ``def`` line included)."""
    body = [f'    """{docstring}"""'] if docstring else []
    body += [f"    x{i} = {i}" for i in range(lines - 1 - len(body))]
    return "\n".join(["def f():", *body]) + "\n"


def test_the_deployed_code_is_found() -> None:
    # Given the layer and the function folders, Then the check below reads their modules
    names = {path.name for path in _deployed_sources()}
    assert {"app.py", "wiring.py", "consolidation.py"} <= names


def test_no_deployed_function_is_longer_than_60_lines_without_a_reason() -> None:
    # Given every module of the layer and the functions
    # When their functions are measured
    root = project_root()
    found = [
        problem
        for path in _deployed_sources()
        for problem in long_functions(path.read_text(), str(path.relative_to(root)))
    ]

    # Then none is over the limit without saying why: split it into named steps, or give the reason
    assert found == [], f"functions over {MAX_FUNCTION_LINES} lines; split them or add '{REASON_MARKER} ...'"


@pytest.mark.parametrize(
    ("source", "reported"),
    [
        (_function(60), False),
        (_function(61), True),
        (_function(61, "Does a lot."), True),
        (_function(61, "A route table.\n\n    Long because: one entry per route, read as a list."), False),
        ("class C:\n" + textwrap.indent(_function(61), "    "), True),
        ("class C:\n" + textwrap.indent("async " + _function(61), "    "), True),
    ],
    ids=["at-the-limit", "one-over", "docstring-without-reason", "reason-given", "method", "async-method"],
)
def test_the_check_measures_from_def_to_last_line_and_accepts_only_a_stated_reason(source: str, reported: bool) -> None:
    # Given a function (or method) at or over the limit, with or without a stated reason
    # When it is checked
    # Then it is reported exactly when it is over the limit and gives no reason
    assert bool(long_functions(source)) is reported
