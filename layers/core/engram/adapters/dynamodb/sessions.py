"""``SessionRepository`` on DynamoDB: one item per session event, in the session's partition."""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import PutError

from engram.adapters.dynamodb.items import SessionEventItem
from engram.adapters.dynamodb.table import Table, is_conditional_failure
from engram.clock import new_id
from engram.models.conversation import Content
from engram.models.session import SessionEvent


class DynamoSessions:
    """See ``engram.ports.SessionRepository``."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def append(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        """One conditional put per event (a re-sent ``event_id`` fails its condition and is skipped)."""
        return [self._put(tenant_id, session_id, event) for event in events]

    def _put(self, tenant_id: str, session_id: str, event: SessionEvent) -> bool:
        item_class = self._table.session_event
        pk, sk = SessionEventItem.key(tenant_id, session_id, event.event_id)
        item = item_class(
            pk,
            sk,
            event_id=event.event_id,
            seq=new_id(),
            role=event.content.role,
            timestamp=event.timestamp,
            content=event.content.model_dump(mode="json", exclude_none=True),
            expire_time=event.expire_time,
            ttl=event.expire_time,
            **SessionEventItem.expiry_keys(pk, sk, event.expire_time),
        )
        try:
            item.save(condition=item_class.pk.does_not_exist())
        except PutError as error:
            if not is_conditional_failure(error):
                raise
            return False
        return True

    def events(self, tenant_id: str, session_id: str) -> list[SessionEvent]:
        item_class = self._table.session_event
        partition = SessionEventItem.partition(tenant_id, session_id)
        items = list(item_class.query(partition, item_class.sk.startswith(SessionEventItem.SK_PREFIX)))
        items.sort(key=lambda i: (i.timestamp, i.seq))
        return [
            SessionEvent(
                event_id=i.event_id,
                timestamp=i.timestamp,
                content=Content.model_validate(i.content),
                expire_time=i.expire_time,
            )
            for i in items
        ]

    def delete(self, tenant_id: str, session_id: str) -> int:
        """Everything in the session's partition, in batches of 25."""
        item_class = self._table.item
        keys = [(i.pk, i.sk) for i in item_class.query(SessionEventItem.partition(tenant_id, session_id))]
        with item_class.batch_write() as batch:
            for pk, sk in keys:
                batch.delete(item_class(pk, sk))
        return len(keys)
