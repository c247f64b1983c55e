"""One DynamoDB table: the item classes bound to it, and its connection (for transactions and for
Powertools idempotency, which share the table's client and settings)."""

from __future__ import annotations

import base64
from typing import Any, TypeVar, cast

from pynamodb.connection import Connection

from engram.adapters.dynamodb.items import (
    ApiKeyItem,
    BlobItem,
    ConfigItem,
    ExpiringItem,
    LeaseItem,
    MemoryItem,
    OperationItem,
    PartItem,
    ReceiptItem,
    RevisionItem,
    SessionEventItem,
    StatsItem,
    TableItem,
)

#: Changes per transaction: each writes a memory and its revision, one more item may record the
#: operation's result, and the usage counters take 2 items per scope touched and 2 for the tenant
#: (``engram.adapters.dynamodb.counters``), within DynamoDB's 100 items per transaction: 46 changes of
#: one or two scopes fit; changes of more scopes fit fewer (``counters.transaction_items``).
MAX_TRANSACTION_CHANGES = 46
#: DynamoDB's limits: an item holds 400 KB as stored (``stored_size``); one transaction writes at most
#: 100 items and 4 MB.
MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
#: Bytes an item may gain when it is written (PynamoDB adds ``version`` to a versioned item).
WRITE_ALLOWANCE = 32

ItemT = TypeVar("ItemT", bound=TableItem)

_CONDITION_CODES = ("ConditionalCheckFailed", "TransactionConflict")


def bind(item_class: type[ItemT], name: str, region: str, host: str | None) -> type[ItemT]:
    """A subclass of ``item_class`` that reads and writes table ``name`` (at ``host``: an emulator, or
    None for AWS). The unbound classes are never changed, so several tables can live in one process."""
    meta = type("Meta", (item_class.Meta,), {"table_name": name, "region": region, "host": host})
    namespace = {
        "Meta": meta,
        "_connection": None,  # never the unbound class's
        "__module__": item_class.__module__,
        "__qualname__": item_class.__qualname__,
    }
    return cast(type[ItemT], type(item_class.__name__, (item_class,), namespace))


class Table:
    """The item classes bound to table ``name`` in ``region`` (``host``: an emulator endpoint, or None).

    Building one does no I/O; the first request opens the connection.
    """

    def __init__(self, name: str, region: str, host: str | None = None) -> None:
        self.name = name
        self.region = region
        self.host = host
        self.connection = Connection(region=region, host=host)
        self.item = bind(TableItem, name, region, host)
        self.expiring = bind(ExpiringItem, name, region, host)
        self.part = bind(PartItem, name, region, host)
        self.receipt = bind(ReceiptItem, name, region, host)
        self.memory = bind(MemoryItem, name, region, host)
        self.revision = bind(RevisionItem, name, region, host)
        self.operation = bind(OperationItem, name, region, host)
        self.blob = bind(BlobItem, name, region, host)
        self.session_event = bind(SessionEventItem, name, region, host)
        self.lease = bind(LeaseItem, name, region, host)
        self.config = bind(ConfigItem, name, region, host)
        self.api_key = bind(ApiKeyItem, name, region, host)
        self.stats = bind(StatsItem, name, region, host)

    @property
    def client(self) -> Any:
        """The table's botocore DynamoDB client (what PynamoDB itself sends requests with)."""
        return self.connection.client


def is_conditional_failure(error: Exception) -> bool:
    """Whether a PynamoDB error means a condition (or a concurrent transaction) failed, as opposed to an
    outage or a bad request."""
    cause = getattr(error, "cause_response_code", None)
    if cause in ("ConditionalCheckFailedException", "TransactionConflictException"):
        return True
    if cause == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return any(r is not None and r.code in _CONDITION_CODES for r in reasons)
    return False


def stored_size(item: TableItem, keep: bool = False) -> int:
    """The bytes DynamoDB counts for ``item`` (the 400 KB item limit, the 4 MB transaction limit): each
    attribute's name (UTF-8) plus its value, plus ``WRITE_ALLOWANCE`` for what the write adds. Values as
    DynamoDB sizes them: a string its UTF-8 bytes; a number one byte per two significant digits plus one;
    binary its bytes; a boolean or null 1; a list or map 3, plus per element 1 and its size (and a map
    key's UTF-8 bytes); a set the sum of its members. ``keep``: the item's serialization is kept for its
    write, which must follow without a change to the item (``TableItem.keep_serialization``)."""
    serialized = item.serialize()
    if keep:
        item.keep_serialization(serialized)
    return WRITE_ALLOWANCE + sum(len(name.encode()) + _value_size(value) for name, value in serialized.items())


def _value_size(value: dict[str, Any]) -> int:
    [(kind, data)] = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(data) if isinstance(data, bytes | bytearray) else len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(key.encode()) + _value_size(element) for key, element in data.items())
    if kind == "SS":
        return sum(len(member.encode()) for member in data)
    if kind == "NS":
        return sum(_number_size(member) for member in data)
    if kind == "BS":
        return sum(len(member) for member in data)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def _number_size(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "")
    significant = mantissa.strip("0") or "0"
    return (len(significant) + 1) // 2 + 1
