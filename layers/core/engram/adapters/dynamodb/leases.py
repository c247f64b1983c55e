"""``LeaseRepository`` on DynamoDB: one item per scope, taken and given back with conditional writes."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import DeleteError, PutError

from engram.adapters.dynamodb.items import LeaseItem
from engram.adapters.dynamodb.table import Table, is_conditional_failure

#: Seconds a lease item outlives its expiry before DynamoDB TTL removes it.
TTL_MARGIN_SECONDS = 3600


class DynamoLeases:
    """See ``engram.ports.LeaseRepository``. Expiry is compared in whole epoch milliseconds."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def acquire(self, tenant_id: str, scope_key: str, holder: str, now: datetime, seconds: float) -> bool:
        """A put conditioned on: no lease, or this holder's, or one that expired before ``now``."""
        item_class = self._table.lease
        now_ms = int(now.timestamp() * 1000)
        item = item_class(
            *LeaseItem.key(tenant_id, scope_key),
            holder=holder,
            expires_at=now_ms + int(seconds * 1000),
            ttl=datetime.fromtimestamp(now_ms / 1000 + seconds + TTL_MARGIN_SECONDS, tz=UTC),
        )
        condition = item_class.pk.does_not_exist() | (item_class.holder == holder) | (item_class.expires_at < now_ms)
        try:
            item.save(condition=condition)
        except PutError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def release(self, tenant_id: str, scope_key: str, holder: str) -> None:
        item_class = self._table.lease
        try:
            item_class(*LeaseItem.key(tenant_id, scope_key)).delete(condition=item_class.holder == holder)
        except DeleteError as error:
            if not is_conditional_failure(error):
                raise
