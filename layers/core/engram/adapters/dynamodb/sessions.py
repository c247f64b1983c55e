"""``SessionRepository`` on DynamoDB: one item per session event, in the session's partition, listed by
time in ``GSI4`` (``E#<timestamp>#<seq>``), which pages hold with the event attributes projected."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition

from engram.adapters.dynamodb.items import SessionEventItem
from engram.adapters.dynamodb.table import Table, is_conditional_failure
from engram.adapters.page_tokens import INVALID as INVALID_TOKEN
from engram.adapters.page_tokens import Listing, PageTokens, digest
from engram.clock import new_id
from engram.errors import InvalidPageToken
from engram.models.conversation import Content
from engram.models.limits import wire_size
from engram.models.session import SessionEvent
from engram.ports import EventWindow

#: Items per DynamoDB request while paging (a page may need more requests; each reads at most 1 MB).
READ_PAGE = 100
_POSITION = ("PK", "SK", "GSI4PK", "GSI4SK")
#: What a page token of a session's listing is bound to (the route ``GET /v1/sessions/{id}/events``).
PAGE_TOKEN_PURPOSE = "session-events"


class DynamoSessions:
    """See ``engram.ports.SessionRepository``."""

    def __init__(self, table: Table, tokens: PageTokens) -> None:
        self._table = table
        self._tokens = tokens

    def append(self, tenant_id: str, session_id: str, events: Sequence[SessionEvent]) -> list[bool]:
        """One conditional put per event (a re-sent ``event_id`` fails its condition and is skipped)."""
        return [self._put(tenant_id, session_id, event) for event in events]

    def _put(self, tenant_id: str, session_id: str, event: SessionEvent) -> bool:
        item_class = self._table.session_event
        pk, sk = SessionEventItem.key(tenant_id, session_id, event.event_id)
        seq = new_id()
        item = item_class(
            pk,
            sk,
            gsi4pk=pk,
            gsi4sk=SessionEventItem.order(event.timestamp, seq),
            event_id=event.event_id,
            seq=seq,
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

    def truncate(self, tenant_id: str, session_id: str, keep_last: int, now: datetime) -> tuple[int, int]:
        """One query of the partition reading only keys, times and arrival order (no content), then
        batch deletes (25 per request) of what is not kept; a concurrent append is not read, so kept."""
        item_class = self._table.session_event
        partition = SessionEventItem.partition(tenant_id, session_id)
        items = list(
            item_class.query(
                partition,
                item_class.sk.startswith(SessionEventItem.SK_PREFIX),
                attributes_to_get=["PK", "SK", "timestamp", "seq", "expire_time"],
            )
        )
        items.sort(key=lambda i: (i.timestamp, i.seq))
        live = [i.sk for i in items if i.expire_time is None or i.expire_time > now]
        kept = set(live[-keep_last:] if keep_last else [])
        doomed = [i for i in items if i.sk not in kept]
        with item_class.batch_write() as batch:
            for item in doomed:
                batch.delete(item)
        return len(kept), len(doomed)

    def page(
        self,
        tenant_id: str,
        session_id: str,
        window: EventWindow,
        page_size: int,
        page_token: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[SessionEvent], str | None]:
        """A ``GSI4`` query from the token's position (or, for ``window.last``, from just before the last
        ``last`` events, found by a keys-only query backwards), ``role`` and liveness as its filter; it
        reads one event past the page to know whether a next page exists. The token is signed and bound
        to the tenant, the session and the window's role and time range (``engram.adapters.page_tokens``);
        it carries the page's last event's ``GSI4`` sort key and event id. Any other token raises
        ``InvalidPageToken``."""
        item_class = self._table.session_event
        partition = SessionEventItem.partition(tenant_id, session_id)
        listing = Listing(PAGE_TOKEN_PURPOSE, tenant_id, f"{session_id}:{_window_digest(window)}")
        if window.start_time and window.end_time and window.start_time >= window.end_time:
            return [], None  # an empty range (DynamoDB refuses a BETWEEN whose bounds are reversed)
        start: dict[str, Any] | None = None
        if page_token:
            start = _start_of(partition, self._tokens.open(listing, page_token))
        elif window.last:
            start = self._start_of_last(partition, window)
        found = item_class.by_parent.query(
            partition,
            _time_range(item_class, window),
            filter_condition=_event_filter(item_class, window),
            last_evaluated_key=start,
            page_size=min(page_size + 1, READ_PAGE),
        )
        events: list[SessionEvent] = []
        last: SessionEventItem | None = None
        size = 0
        for item in cast(Iterable[SessionEventItem], found):  # GSI4 holds only session events here
            event = _event(item)
            cost = wire_size(event.model_dump(mode="json"))
            if last is not None and (len(events) >= page_size or (max_bytes is not None and size + cost > max_bytes)):
                return events, self._tokens.seal(listing, [last.gsi4sk or "", last.sk])
            events.append(event)
            size, last = size + cost, item
        return events, None

    def _start_of_last(self, partition: str, window: EventWindow) -> dict[str, Any] | None:
        """The position just before the window's last ``window.last`` events (None: they are all of them)."""
        item_class = self._table.session_event
        backwards = item_class.by_parent.query(
            partition,
            _time_range(item_class, window),
            filter_condition=_event_filter(item_class, window),
            scan_index_forward=False,
            attributes_to_get=list(_POSITION),
            page_size=READ_PAGE,
        )
        for seen, item in enumerate(cast(Iterable[SessionEventItem], backwards), start=1):
            if seen > (window.last or 0):
                return _position(item)
        return None

    def delete(self, tenant_id: str, session_id: str) -> int:
        """Everything in the session's partition, in batches of 25."""
        item_class = self._table.item
        keys = [(i.pk, i.sk) for i in item_class.query(SessionEventItem.partition(tenant_id, session_id))]
        with item_class.batch_write() as batch:
            for pk, sk in keys:
                batch.delete(item_class(pk, sk))
        return len(keys)


def _event(item: SessionEventItem) -> SessionEvent:
    return SessionEvent(
        event_id=item.event_id,
        timestamp=item.timestamp,
        content=Content.model_validate(item.content),
        expire_time=item.expire_time,
    )


def _time_range(item_class: type[SessionEventItem], window: EventWindow) -> Condition:
    """``GSI4SK`` in ``[start_time, end_time)``: an event's key is ``E#<timestamp>#<seq>``, and a bound
    ``E#<timestamp>`` sorts just before every event at that timestamp."""
    sort_key = item_class.gsi4sk
    low = SessionEventItem.time_bound(window.start_time) if window.start_time else None
    high = SessionEventItem.time_bound(window.end_time) if window.end_time else None
    if low and high:
        return sort_key.between(low, high)
    if low:
        return sort_key >= low
    if high:
        return sort_key < high
    return sort_key.startswith(SessionEventItem.SK_PREFIX)


def _event_filter(item_class: type[SessionEventItem], window: EventWindow) -> Condition | None:
    conditions = []
    if window.role is not None:
        conditions.append(item_class.role == window.role)
    if window.now is not None:
        conditions.append(item_class.expire_time.does_not_exist() | (item_class.expire_time > window.now))
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]


def _position(item: SessionEventItem) -> dict[str, Any]:
    """The ``GSI4`` position (``ExclusiveStartKey``) just after ``item``."""
    return _position_key(item.pk, item.gsi4sk or "", item.sk)


def _position_key(partition: str, order: str, sort_key: str) -> dict[str, Any]:
    return {"PK": {"S": partition}, "SK": {"S": sort_key}, "GSI4PK": {"S": partition}, "GSI4SK": {"S": order}}


def _start_of(partition: str, position: list[str] | None) -> dict[str, Any] | None:
    """The ``ExclusiveStartKey`` of a token's position ``[GSI4 sort key, sort key]`` (a signed token has
    only positions this adapter made; the shape is checked anyway)."""
    if position is None:
        return None
    if len(position) != 2 or not position[0].startswith(SessionEventItem.SK_PREFIX):
        raise InvalidPageToken(INVALID_TOKEN)
    return _position_key(partition, *position)


def _window_digest(window: EventWindow) -> str:
    """What of a window the listing's position depends on: its role and time range (``last`` only chooses
    where the first page starts; ``now`` changes with every request)."""
    return digest((window.role, window.start_time, window.end_time))
