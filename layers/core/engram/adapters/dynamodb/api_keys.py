"""``ApiKeyRepository`` on DynamoDB: one item per key hash."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from engram.adapters.dynamodb.items import ApiKeyItem
from engram.adapters.dynamodb.table import Table, is_conditional_failure
from engram.errors import Conflict
from engram.ports import ApiKeyRecord


class DynamoApiKeys:
    """See ``engram.ports.ApiKeyRepository``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, key_hash: str, tenant_id: str, name: str, now: datetime) -> None:
        item_class = self._table.api_key
        item = item_class(*ApiKeyItem.key(key_hash), tenant_id=tenant_id, name=name, create_time=now)
        try:
            item.save(condition=item_class.pk.does_not_exist())
        except PutError as error:
            if is_conditional_failure(error):
                raise Conflict("this API key already exists") from error
            raise

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        try:
            item = self._table.api_key.get(*ApiKeyItem.key(key_hash), consistent_read=False)
        except DoesNotExist:
            return None
        return ApiKeyRecord(item.tenant_id, bool(item.revoked))

    def revoke(self, key_hash: str) -> bool:
        item_class = self._table.api_key
        try:
            item_class(*ApiKeyItem.key(key_hash)).update(
                actions=[item_class.revoked.set(True)], condition=item_class.pk.exists()
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True
