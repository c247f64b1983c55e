"""``ConfigRepository`` on DynamoDB: one item per tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from engram.adapters.dynamodb.items import ConfigItem
from engram.adapters.dynamodb.table import Table


class DynamoConfigs:
    """See ``engram.ports.ConfigRepository``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._table.config.get(*ConfigItem.key(tenant_id), consistent_read=True).body)
        except DoesNotExist:
            return None

    def put(self, tenant_id: str, config: dict[str, Any], now: datetime) -> None:
        self._table.config(*ConfigItem.key(tenant_id), body=config, update_time=now).save()
