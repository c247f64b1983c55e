"""One builder per route of ``docs/openapi.json``: the ``Call`` to send. The sync and async resources
share them, so both send exactly the same requests. Fields left as None are not sent (server defaults)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from engram_client._http import DEFAULT_TIMEOUT, Call, returns, returns_nothing, returns_optional
from engram_client.models import (
    ArchiveResponse,
    BatchCreateResponse,
    CountResponse,
    ForgetReceipt,
    Memory,
    Operation,
    PurgeResponse,
    RetrieveResponse,
    RevisionsResponse,
    SessionEventsResponse,
    Stats,
    TenantConfig,
    TruncateSessionResponse,
    iso_time,
    to_json,
)


class NotGiven:
    """The type of ``NOT_GIVEN``: "leave this field as it is" where None has a meaning of its own."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()


def path(*segments: str) -> str:
    """``/v1/<segments>``, each segment percent-encoded (ids cannot break out of their place)."""
    return "/v1/" + "/".join(quote(segment, safe="") for segment in segments)


def compact(**fields: Any) -> dict[str, Any]:
    """The JSON body of the fields that are not None (nor NOT_GIVEN)."""
    return {name: to_json(value) for name, value in fields.items() if value is not None and value is not NOT_GIVEN}


def generate(
    scope: Mapping[str, str], source: Mapping[str, Any], options: Mapping[str, Any], idempotency_key: str | None
) -> Call[Operation]:
    """``POST /v1/memories/generate``; ``source`` holds exactly one of messages/events/session/facts."""
    wait = float(options.get("wait_seconds") or 0)
    body = compact(scope=scope, **source, **options)
    return Call(
        "POST",
        path("memories", "generate"),
        returns(Operation),
        body=body,
        mutating=True,
        idempotency_key=idempotency_key,
        timeout=DEFAULT_TIMEOUT + wait if wait else None,
    )


def generate_source(
    messages: Sequence[Any] | None,
    events: Sequence[Any] | None,
    session: str | Mapping[str, Any] | None,
    facts: Sequence[str | Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The source fields of a generate body; a session id alone and plain fact strings are expanded."""
    given = [
        name
        for name, value in (("messages", messages), ("events", events), ("session", session), ("facts", facts))
        if value is not None
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of messages, events, session, facts (got {given or 'none'})")
    if isinstance(session, str):
        session = {"session_id": session}
    if facts is not None:
        facts = [{"fact": fact} if isinstance(fact, str) else fact for fact in facts]
    return compact(messages=messages, events=events, session=session, facts=facts)


def create_memory(body: dict[str, Any], idempotency_key: str | None) -> Call[Memory]:
    return Call("POST", path("memories"), returns(Memory), body=body, mutating=True, idempotency_key=idempotency_key)


def new_memory(
    scope: Mapping[str, str],
    fact: str,
    topics: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    ttl_seconds: int | None = None,
    source_event_ids: Sequence[str] | None = None,
    revision_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The body of one new memory (``POST /v1/memories``, an item of a batch)."""
    source = {"event_ids": list(source_event_ids)} if source_event_ids is not None else None
    return compact(
        scope=scope,
        fact=fact,
        topics=topics,
        metadata=metadata,
        ttl_seconds=ttl_seconds,
        source=source,
        revision_labels=revision_labels,
    )


def batch(memories: Sequence[Mapping[str, Any]], idempotency_key: str | None) -> Call[BatchCreateResponse]:
    return Call(
        "POST",
        path("memories", "batch"),
        returns(BatchCreateResponse),
        body={"memories": to_json(list(memories))},
        mutating=True,
        idempotency_key=idempotency_key,
    )


def get_memory(memory_id: str) -> Call[Memory]:
    return Call("GET", path("memories", memory_id), returns(Memory))


def update_memory(memory_id: str, body: dict[str, Any], idempotency_key: str | None) -> Call[Memory]:
    return Call(
        "PATCH", path("memories", memory_id), returns(Memory), body=body, mutating=True, idempotency_key=idempotency_key
    )


def update_body(
    fact: str | None,
    topics: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    ttl_seconds: int | None | NotGiven,
    revision_labels: Mapping[str, str] | None,
    metadata_merge_strategy: str | None = None,
) -> dict[str, Any]:
    """A PATCH body; ``ttl_seconds=None`` is sent (it removes the expiry), NOT_GIVEN is not."""
    body = compact(
        fact=fact,
        topics=topics,
        metadata=metadata,
        metadata_merge_strategy=metadata_merge_strategy,
        revision_labels=revision_labels,
    )
    if ttl_seconds is not NOT_GIVEN:
        body["ttl_seconds"] = ttl_seconds
    return body


def delete_memory(memory_id: str, idempotency_key: str | None) -> Call[None]:
    return Call(
        "DELETE",
        path("memories", memory_id),
        returns_nothing,
        mutating=True,
        idempotency_key=idempotency_key,
    )


def retrieve(body: dict[str, Any]) -> Call[RetrieveResponse]:
    """``POST /v1/memories/retrieve`` (search with ``query``, a list page without). Not mutating: no key."""
    return Call("POST", path("memories", "retrieve"), returns(RetrieveResponse), body=body)


def purge(body: dict[str, Any], idempotency_key: str | None) -> Call[PurgeResponse]:
    return Call(
        "POST",
        path("memories", "purge"),
        returns(PurgeResponse),
        body=body,
        mutating=True,
        idempotency_key=idempotency_key,
    )


def archive(body: dict[str, Any], idempotency_key: str | None) -> Call[ArchiveResponse]:
    """``POST /v1/memories/archive``: 200 when done, 202 when more remain (same request again goes on)."""
    return Call(
        "POST",
        path("memories", "archive"),
        returns(ArchiveResponse),
        body=body,
        mutating=True,
        idempotency_key=idempotency_key,
    )


def compress(body: dict[str, Any], idempotency_key: str | None) -> Call[Operation]:
    """``POST /v1/memories/compress``: an operation (202, or 200 when it finished within ``wait_seconds``)."""
    wait = float(body.get("wait_seconds") or 0)
    return Call(
        "POST",
        path("memories", "compress"),
        returns(Operation),
        body=body,
        mutating=True,
        idempotency_key=idempotency_key,
        timeout=DEFAULT_TIMEOUT + wait if wait else None,
    )


def count(body: dict[str, Any]) -> Call[CountResponse]:
    """``POST /v1/memories/count``: a read, so not mutating (no key)."""
    return Call("POST", path("memories", "count"), returns(CountResponse), body=body)


def revisions(memory_id: str, page_size: int | None = None, page_token: str | None = None) -> Call[RevisionsResponse]:
    """One page of ``GET /v1/memories/{id}/revisions``."""
    given = (("page_size", page_size), ("page_token", page_token))
    params = {name: str(value) for name, value in given if value is not None}
    return Call("GET", path("memories", memory_id, "revisions"), returns(RevisionsResponse), params=params or None)


def rollback(
    memory_id: str, revision_id: str, revision_labels: Mapping[str, str] | None, idempotency_key: str | None
) -> Call[Memory | None]:
    return Call(
        "POST",
        path("memories", memory_id, "rollback"),
        returns_optional(Memory),
        body=compact(revision_id=revision_id, revision_labels=revision_labels),
        mutating=True,
        idempotency_key=idempotency_key,
    )


def get_operation(operation_id: str) -> Call[Operation]:
    return Call("GET", path("operations", operation_id), returns(Operation))


def append_events(session_id: str, events: Sequence[Any], idempotency_key: str | None) -> Call[SessionEventsResponse]:
    return Call(
        "POST",
        path("sessions", session_id, "events"),
        returns(SessionEventsResponse),
        body={"events": to_json(list(events))},
        mutating=True,
        idempotency_key=idempotency_key,
    )


def list_events(
    session_id: str,
    limit: int | None,
    role: str | None,
    start_time: datetime | str | None,
    end_time: datetime | str | None,
    page_size: int | None = None,
    page_token: str | None = None,
) -> Call[SessionEventsResponse]:
    """One page of ``GET /v1/sessions/{id}/events``."""
    params = {
        name: str(value)
        for name, value in (
            ("limit", limit),
            ("role", role),
            ("start_time", iso_time(start_time) if start_time is not None else None),
            ("end_time", iso_time(end_time) if end_time is not None else None),
            ("page_size", page_size),
            ("page_token", page_token),
        )
        if value is not None
    }
    return Call("GET", path("sessions", session_id, "events"), returns(SessionEventsResponse), params=params or None)


def forget(scope: Mapping[str, str], session_ids: Sequence[str], idempotency_key: str | None) -> Call[ForgetReceipt]:
    """``POST /v1/forget``: 200 with the completed receipt, 202 with one in progress."""
    return Call(
        "POST",
        path("forget"),
        returns(ForgetReceipt),
        body=compact(scope=scope, session_ids=list(session_ids)),
        mutating=True,
        idempotency_key=idempotency_key,
    )


def stats(scope: Mapping[str, str] | None, days: int | None, group_by: str | None) -> Call[Stats]:
    """``GET /v1/stats``: the scope travels as compact JSON in the query string."""
    params = {"scope": to_query_json(scope) if scope is not None else None, "days": days, "group_by": group_by}
    return Call("GET", path("stats"), returns(Stats), params={k: str(v) for k, v in params.items() if v is not None})


def to_query_json(scope: Mapping[str, str]) -> str:
    return json.dumps(dict(scope), separators=(",", ":"), ensure_ascii=False)


def forget_receipt(receipt_id: str) -> Call[ForgetReceipt]:
    return Call("GET", path("forget", receipt_id), returns(ForgetReceipt))


def delete_session(session_id: str, idempotency_key: str | None) -> Call[None]:
    return Call(
        "DELETE",
        path("sessions", session_id),
        returns_nothing,
        mutating=True,
        idempotency_key=idempotency_key,
    )


def truncate_session(session_id: str, keep_last: int, idempotency_key: str | None) -> Call[TruncateSessionResponse]:
    return Call(
        "POST",
        path("sessions", session_id, "truncate"),
        returns(TruncateSessionResponse),
        body={"keep_last": keep_last},
        mutating=True,
        idempotency_key=idempotency_key,
    )


def get_config() -> Call[TenantConfig]:
    return Call("GET", path("config"), returns(TenantConfig))


def put_config(config: TenantConfig | Mapping[str, Any], idempotency_key: str | None) -> Call[TenantConfig]:
    return Call(
        "PUT",
        path("config"),
        returns(TenantConfig),
        body=to_json(config),
        mutating=True,
        idempotency_key=idempotency_key,
    )
