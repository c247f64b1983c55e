"""What a request may carry, so that everything accepted fits in a DynamoDB item and in the index, and
every response fits in a Lambda response. The API checks these in the request models (422 naming the
field; 413 where a whole item would be too large); README "Limits" lists them.

- **Numbers** (metadata values, filter values): integers of at most 38 digits; other numbers finite,
  0 or with a magnitude between 1e-125 and 1e125 (what a DynamoDB number holds). NaN and Infinity are
  not JSON: the API refuses them with 400 (``engram.api.json_body``).
- **Metadata**: at most 20 keys; a key is 1-128 characters without control characters, ``[`` or ``]``,
  and does not start with ``$`` (so a filter can name every key); a string value is at most 2,048
  characters; a list value at most 100 strings of at most 256 characters each; the whole map at most 16,384 bytes as JSON.
- **Topics**: 1-128 characters each. **Revision labels**: at most 10, keys 1-63 and values 0-63 characters.
- **Responses**: a list stops adding items before ``MAX_RESPONSE_BYTES`` and returns a page token for
  the rest (``wire_size`` measures an item as Lambda's response payload carries it).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import Field, Strict

MAX_NUMBER_DIGITS = 38
MAX_NUMBER_MAGNITUDE = 1e125
MIN_NUMBER_MAGNITUDE = 1e-125

MAX_METADATA_KEYS = 20
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_STRING_CHARS = 2048
MAX_METADATA_LIST_ITEMS = 100
MAX_METADATA_BYTES = 16_384
METADATA_KEY_PATTERN = r"^[^\[\]$\x00-\x1f\x7f][^\[\]\x00-\x1f\x7f]{0,127}$"
METADATA_KEY_RULE = "1-128 characters, no control characters, '[' or ']', not starting with '$'"

MAX_TOPIC_CHARS = 128
MAX_REVISION_LABELS = 10
MAX_LABEL_CHARS = 63

#: Bytes of JSON a response's items may take: below Lambda's 6 MB synchronous response limit, with room
#: for the envelope and the escaping of the body inside the proxy response.
MAX_RESPONSE_BYTES = 5_000_000

_METADATA_KEY = re.compile(METADATA_KEY_PATTERN)

StrictInt = Annotated[int, Strict()]
"""An integer on the wire: ``5``, never ``"5"``, ``5.0`` or ``true``."""
StrictBool = Annotated[bool, Strict()]
"""A boolean on the wire: ``true``/``false``, never ``1`` or ``"true"``."""
StrictFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A number on the wire (an integer is fine): never a string or a boolean."""

Topic = Annotated[str, Field(min_length=1, max_length=MAX_TOPIC_CHARS)]
RevisionLabels = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)],
        Annotated[str, Field(max_length=MAX_LABEL_CHARS)],
    ],
    Field(
        max_length=MAX_REVISION_LABELS,
        description="Up to 10 labels (keys 1-63, values 0-63 characters) recorded on the revisions this "
        "request writes.",
    ),
]


def check_number(value: int | float, where: str) -> int | float:
    """``value`` if DynamoDB can store it as a number; else ``ValueError`` naming ``where``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_NUMBER_DIGITS:
            raise ValueError(f"{where}: integers have at most {MAX_NUMBER_DIGITS} digits")
        return value
    if not math.isfinite(value):
        raise ValueError(f"{where}: numbers must be finite")
    if value != 0 and not MIN_NUMBER_MAGNITUDE <= abs(value) <= MAX_NUMBER_MAGNITUDE:
        raise ValueError(f"{where}: {value!r} is out of range (0, or a magnitude from 1e-125 to 1e125)")
    return value


def check_text(value: str, where: str) -> str:
    """``value`` if it is valid Unicode (no lone surrogate, so it can be stored as UTF-8); else ``ValueError``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{where}: not valid Unicode (a lone surrogate at position {error.start})") from error
    return value


def check_metadata_key(key: str, where: str = "metadata") -> str:
    """``key`` if it is a metadata key (``METADATA_KEY_PATTERN``); else ``ValueError``."""
    if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
        raise ValueError(f"{where}: {str(key)[:80]!r} is not a valid metadata key ({METADATA_KEY_RULE})")
    return check_text(key, where)


def _check_metadata_value(value: Any, where: str, in_list: bool = False) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int | float):
        check_number(value, where)
    elif isinstance(value, str):
        if len(value) > MAX_METADATA_STRING_CHARS:
            raise ValueError(f"{where}: strings are at most {MAX_METADATA_STRING_CHARS} characters")
        check_text(value, where)
    elif isinstance(value, list) and not in_list:
        if len(value) > MAX_METADATA_LIST_ITEMS:
            raise ValueError(f"{where}: lists have at most {MAX_METADATA_LIST_ITEMS} items")
        for position, item in enumerate(value):
            _check_metadata_value(item, f"{where}[{position}]", in_list=True)
    else:
        raise ValueError(f"{where}: unsupported metadata value of type {type(value).__name__}")


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` if it keeps every metadata limit (see the module docstring); else ``ValueError``
    naming the key. Values may be strings, numbers, booleans, null or lists of them."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed")
    for key, value in metadata.items():
        check_metadata_key(key)
        _check_metadata_value(value, f"metadata[{key!r}]")
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size:,} bytes as JSON; at most {MAX_METADATA_BYTES:,} are allowed")
    return metadata


def wire_size(document: Any) -> int:
    """Bytes ``document`` (JSON data) takes in a Lambda proxy response: its JSON text (ASCII-escaped, as
    the API serializes it), escaped once more as the response's ``body`` string."""
    return len(json.dumps(json.dumps(document, separators=(",", ":"))))


def fitting(documents: list[Any], max_bytes: int = MAX_RESPONSE_BYTES) -> int:
    """How many of ``documents`` (JSON data), from the first, fit in ``max_bytes`` by ``wire_size``; at
    least one when there is one (a single item is far below the limit)."""
    total = 0
    for count, document in enumerate(documents):
        total += wire_size(document)
        if total > max_bytes and count > 0:
            return count
    return len(documents)


#: The limits as Markdown, for the OpenAPI document's description (README "Limits" says the same).
LIMITS_MARKDOWN = f"""
## Limits

Each is answered with 400 (not JSON), 413 (too large) or 422 (a rule broken), the message naming the field.

- **JSON**: `NaN`, `Infinity`, a lone surrogate escape and nesting deeper than 64 levels → 400.
- **Numbers** (metadata and filter values): integers of at most {MAX_NUMBER_DIGITS} digits; other numbers \
finite, 0 or with a magnitude from 1e-125 to 1e125. Integer, number and boolean fields take only JSON \
integers, numbers and booleans (`"5"` or `true` for an integer → 422; an integer is fine for a number).
- **Metadata**: at most {MAX_METADATA_KEYS} keys of 1-{MAX_METADATA_KEY_CHARS} characters without control \
characters, `[` or `]`, not starting with `$` (filter fields follow the same rule); string values at most \
{MAX_METADATA_STRING_CHARS:,} characters; lists at most 100 strings of at most 256 characters; the whole \
map at most {MAX_METADATA_BYTES:,} bytes as JSON.
- **Text**: topics 1-{MAX_TOPIC_CHARS} characters; at most {MAX_REVISION_LABELS} revision labels (keys \
1-{MAX_LABEL_CHARS}, values at most {MAX_LABEL_CHARS} characters); a message's or session event's text at \
most 32,000 characters; a session event at most 400,000 bytes stored and the tenant configuration at most \
350,000 (413).
- **Times** in requests carry a time zone (`Z`, `+01:00`).
- **Identifiers** that become part of a key: tenant `^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$`; session and \
session event `^[A-Za-z0-9][A-Za-z0-9._:-]{{0,127}}$`; memory, operation, revision and forget receipt \
`^[A-Za-z0-9][A-Za-z0-9_-]{{0,63}}$`.
- **Responses**: a list stops before about 5 MB and returns `next_page_token` for the rest; a search \
returns the best hits that fit.
"""
