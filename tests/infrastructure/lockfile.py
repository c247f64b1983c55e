"""Reading the Lambda layer's lock (``layers/core/requirements.txt``, written by ``make lock``)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """``{canonical name: (version, number of sha256 hashes)}`` of every pinned requirement in ``path``."""
    entries: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            entries[current] = (match.group(2), 0)
        if current and HASH.search(line):
            version, hashes = entries[current]
            entries[current] = (version, hashes + len(HASH.findall(line)))
        if not line.rstrip().endswith("\\"):
            current = None
    return entries


def excluded(path: Path) -> set[str]:
    """The canonical names listed in the lock's excludes file (one a line, ``#`` comments)."""
    names = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {canonicalize_name(name) for name in names if name}
