"""The API's JSON body parser (the resolver's ``json_body_deserializer``): stricter than ``json.loads``,
so that what parses can be validated, stored and indexed.

- Syntax errors: ``json.JSONDecodeError`` (Powertools answers 400 ``INVALID_JSON``).
- ``NaN``, ``Infinity``, ``-Infinity`` (not JSON, though Python reads them), a lone surrogate escape
  (``"\\ud800"``: not Unicode) and nesting deeper than ``MAX_DEPTH``: ``MalformedJson`` (400), naming
  where in the body.
- A number literal that cannot be stored (an integer of more than 38 digits, or a float that overflows
  to infinity, such as ``1e400``): ``InvalidInput`` (422), naming where.

Where is given as the field path, e.g. ``metadata.score`` or ``memories.3.fact`` (``body`` for the root).
"""

from __future__ import annotations

import json
import math
from typing import Any

from engram.errors import InvalidInput, MalformedJson
from engram.models.limits import MAX_NUMBER_DIGITS

MAX_DEPTH = 64


class _Refused:
    """A literal ``json.loads`` parsed but the API refuses; reported with its path by ``_check``."""

    def __init__(self, literal: str, malformed: bool, reason: str) -> None:
        self.literal = literal
        self.malformed = malformed
        self.reason = reason


def _constant(literal: str) -> _Refused:
    return _Refused(literal, True, "NaN and Infinity are not JSON numbers")


def _float(literal: str) -> float | _Refused:
    value = float(literal)
    return value if math.isfinite(value) else _Refused(literal[:40], False, "the number is out of range")


def _int(literal: str) -> int | _Refused:
    if len(literal.lstrip("-")) > MAX_NUMBER_DIGITS:
        return _Refused(literal[:40] + "…", False, f"integers have at most {MAX_NUMBER_DIGITS} digits")
    return int(literal)


def loads(body: str) -> Any:
    """Parse a request body; raises ``json.JSONDecodeError``, ``MalformedJson`` or ``InvalidInput`` (see
    the module docstring)."""
    try:
        document = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError as error:
        raise MalformedJson(f"body: JSON nested deeper than {MAX_DEPTH} levels") from error
    _check(document)
    return document


def _where(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path) or "body"


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MalformedJson(f"{_where(path)}: not valid Unicode (a lone surrogate escape)") from error


def _check(document: Any) -> None:
    """Walk the parsed document (iteratively: its depth is what is being checked)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise MalformedJson(f"{_where(path[:MAX_DEPTH])}: JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, _Refused):
            message = f"{_where(path)}: {value.reason} ({value.literal})"
            raise MalformedJson(message) if value.malformed else InvalidInput(message)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, (*path, key))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, position)) for position, item in enumerate(value))
