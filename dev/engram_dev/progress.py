"""Progress on stderr for the ``engram`` command's long work (rich), off when stderr is not a terminal or
the command was given ``--quiet`` (or ``--json``).

- ``configure(quiet=...)``: the command's choice, once, before its work starts (``engram_dev.cli``).
- ``steps(description, total)``: a context manager giving ``advance(n=1, note=None)``; a bar when
  ``total`` is known, else a spinner with the count and the elapsed time.
- ``iterate(items, description)``: the items, advancing a bar as each is done.
- ``status(description)``: a spinner with the elapsed time while one long call runs (``with status(...):``).

When progress is off, both still work and show nothing, so callers need no ``if``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_quiet = False


def configure(quiet: bool) -> None:
    """Whether the command asked for no progress (``--quiet``/``--json``)."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    """Progress is shown: not ``--quiet``/``--json``, and stderr is a terminal."""
    return not _quiet and sys.stderr.isatty()


_active: Any = None  # the one rich Progress on screen (rich shows one live display at a time)


@contextmanager
def _task(description: str, total: int | None) -> Iterator[tuple[Any, Any]]:
    """A task line on the active display, which is opened here when none is."""
    global _active
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    opened = _active is None
    if opened:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=30))
        more = (TextColumn("{task.fields[count]}"), TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
        _active = Progress(*columns, *more, console=Console(stderr=True), transient=True)
        _active.start()
    bar = _active
    task = bar.add_task(description, total=total, count="", note="")
    try:
        yield bar, task
    finally:
        bar.remove_task(task)
        if opened:
            bar.stop()
            _active = None


@contextmanager
def steps(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """``advance(n=1, note=None)`` for each step done (``note``: a short text shown after the bar)."""
    if not enabled():
        yield lambda n=1, note=None: None
        return
    with _task(description, total) as (bar, task):
        done = 0

        def advance(n: int = 1, note: str | None = None) -> None:
            nonlocal done
            done += n
            count = f"{done}/{total}" if total is not None else str(done)
            bar.update(task, advance=n, count=count, **({"note": note} if note is not None else {}))

        advance(0)
        yield advance


def iterate(items: Sequence[T], description: str) -> Iterator[T]:
    """``items``, one by one, advancing a bar as each is done."""
    with steps(description, total=len(items)) as advance:
        for item in items:
            yield item
            advance()


@contextmanager
def status(description: str) -> Iterator[None]:
    """A spinner with the elapsed time while the block runs."""
    if not enabled():
        yield
        return
    with _task(description, None):
        yield
