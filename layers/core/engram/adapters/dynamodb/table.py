"""One DynamoDB table: the item classes bound to it, and its connection (for transactions and for
Powertools idempotency, which share the table's client and settings)."""

from __future__ import annotations

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
    RevisionItem,
    SessionEventItem,
    TableItem,
)

#: Changes per transaction: each writes a memory and its revision, and one more item may record the
#: operation's result, within DynamoDB's 100 items per transaction.
MAX_TRANSACTION_CHANGES = 49

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
        self.memory = bind(MemoryItem, name, region, host)
        self.revision = bind(RevisionItem, name, region, host)
        self.operation = bind(OperationItem, name, region, host)
        self.blob = bind(BlobItem, name, region, host)
        self.session_event = bind(SessionEventItem, name, region, host)
        self.lease = bind(LeaseItem, name, region, host)
        self.config = bind(ConfigItem, name, region, host)
        self.api_key = bind(ApiKeyItem, name, region, host)

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
