"""Polls the table's DynamoDB stream in the emulator and invokes the ``IndexSyncFunction`` handler with
Lambda-shaped batches, the way Lambda's event source mapping does:

- it follows the stream's shards as they change: a new shard is read from its oldest record (after its
  parent shard, when it has one, is read to its end); a closed shard (``GetRecords`` gives no next
  iterator) is dropped once read to its end; a shard that leaves the stream's description is dropped;
- it keeps a checkpoint per shard (the last sequence number delivered) and takes a fresh iterator after it
  whenever an iterator fails (expired, unknown, or the emulator answered an error) and every
  ``refresh_seconds`` (iterators expire after 15 minutes on AWS), so no record is skipped or repeated;
- it applies the function's ``FilterCriteria`` from ``template.yaml`` before invoking: records that do not
  match are dropped, as Lambda drops them;
- batches hold at most ``BATCH_SIZE`` records (the template's ``BatchSize``) and are delivered as soon as
  they are read (locally there is no point in ``MaximumBatchingWindowInSeconds``);
- it honours the partial-batch-failure response: the batch is retried from the first failed record, with
  capped exponential backoff, until it succeeds (DynamoDB holds the truth, so a down index delays
  indexing but loses nothing).

It reads the stream through ``StreamsApi``: the DynamoDB Streams JSON API as documents, without a
client library's parsing, so the records reach the function as they come (DynamoDB JSON, binary values
in base64, times in epoch seconds), as Lambda passes them on.

``notify()`` wakes the poller at once (the local stack calls it on every emulated write, so an idle
poller does not wait ``idle_seconds``); ``on_delivered(shard_id, sequence_number)`` is called after each
delivered batch (the local stack uses it to let the emulator forget delivered records).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engram.observability import logger

from engram_dev.lambda_runtime import FunctionError
from engram_dev.project import functions

BATCH_SIZE = 100
#: The DynamoDB Streams JSON API's target prefix (``X-Amz-Target: DynamoDBStreams_20120810.GetRecords``).
STREAMS_TARGET = "DynamoDBStreams_20120810"


class Invoker(Protocol):
    """Runs a function of the template (``engram_dev.lambda_runtime.LambdaRuntime``); raises
    ``FunctionError`` when it fails."""

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any: ...


class StreamsApiError(Exception):
    """The streams endpoint answered an error: ``code`` (e.g. ``ExpiredIteratorException``), ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


class StreamsApi:
    """The three DynamoDB Streams calls the poller makes, as JSON documents in and out:
    ``describe_stream``, ``get_shard_iterator`` and ``get_records`` take the API's parameters as keyword
    arguments (``StreamArn=...``) and return its answer as decoded JSON.

    ``send(headers, body) -> (status, body)`` sends one request to the endpoint (the local stack answers
    it in process, ``engram_dev.patches.emulator_request``). Errors: ``StreamsApiError``."""

    def __init__(self, send: Callable[[dict[str, str], bytes], tuple[int, bytes]], region: str = "us-east-1") -> None:
        self._send = send
        self._authorization = (
            f"AWS4-HMAC-SHA256 Credential=local/20200101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-target, Signature=0"  # the emulator routes by it; it checks no signature
        )

    def describe_stream(self, **parameters: Any) -> dict[str, Any]:
        return self._call("DescribeStream", parameters)

    def get_shard_iterator(self, **parameters: Any) -> dict[str, Any]:
        return self._call("GetShardIterator", parameters)

    def get_records(self, **parameters: Any) -> dict[str, Any]:
        return self._call("GetRecords", parameters)

    def _call(self, action: str, parameters: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"{STREAMS_TARGET}.{action}",
            "Authorization": self._authorization,
        }
        status, body = self._send(headers, json.dumps(parameters).encode())
        answer = json.loads(body or b"{}")
        if status >= 300:
            code = str(answer.get("__type", "")).rsplit("#", 1)[-1] or "Error"
            raise StreamsApiError(status, code, str(answer.get("message") or answer.get("Message") or ""))
        return dict(answer)


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    checkpoint: str | None = None  # the last sequence number delivered (or filtered out)
    closed: bool = False  # read to its end: no next iterator


def stream_filter_patterns(function: str = "IndexSyncFunction") -> list[dict[str, Any]]:
    """The ``FilterCriteria`` patterns of ``function``'s DynamoDB event in ``template.yaml`` (``[]`` = all)."""
    for event in functions()[function].get("Events", {}).values():
        if event.get("Type") == "DynamoDB":
            filters = event.get("Properties", {}).get("FilterCriteria", {}).get("Filters", [])
            return [json.loads(f["Pattern"]) for f in filters]
    return []


def matches_pattern(record: Any, pattern: Any) -> bool:
    """Whether ``record`` matches a Lambda event filter ``pattern`` of exact values: a dict pattern
    matches a dict whose every named key matches; a list pattern matches a value equal to one of its
    items. Raises ``ValueError`` for the pattern operators this emulation does not know (``prefix``,
    ``numeric``, ``exists``, ...), so a template that uses them fails loudly here."""
    if isinstance(pattern, dict):
        return isinstance(record, dict) and all(
            key in record and matches_pattern(record[key], value) for key, value in pattern.items()
        )
    if isinstance(pattern, list):
        if any(isinstance(option, dict | list) for option in pattern):
            raise ValueError(f"unsupported event filter pattern {pattern!r}: only exact values are emulated")
        return record in pattern
    raise ValueError(f"an event filter pattern must be a dict or a list, not {pattern!r}")


class StreamPoller:
    """Delivers the stream at ``stream_arn`` (read with ``streams``, a ``StreamsApi`` or anything with its
    three methods) to ``function`` of ``runtime``, on a thread of its own between ``start()`` and ``stop()``.

    ``filters``: Lambda event filter patterns (default: the template's for ``function``); a record is
    delivered when it matches one of them, or always when there is none. ``idle_seconds`` (default 0.5):
    the wait when nothing was read; ``notify()`` ends it at once, so with a notifying writer records are
    read as soon as they are written. ``describe_seconds`` (default 1): how often the stream's shards are
    listed again (and at once after a shard closed); ``refresh_seconds`` (default 60): how often every
    iterator is taken afresh; ``window_seconds`` (default 0.01): after a wake-up, how long to let writes
    gather before reading (Lambda's batching window, made short). ``delivered`` counts records handed to the function successfully,
    ``filtered`` records dropped by the filters, ``failed_attempts`` batches that failed."""

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        runtime: Invoker,
        function: str = "IndexSyncFunction",
        idle_seconds: float = 0.5,
        refresh_seconds: float = 60.0,
        describe_seconds: float = 1.0,
        window_seconds: float = 0.01,
        filters: list[dict[str, Any]] | None = None,
        on_delivered: Callable[[str, str], None] | None = None,
    ) -> None:
        self._client = streams
        self._stream_arn = stream_arn
        self._runtime = runtime
        self._function = function
        self._idle = idle_seconds
        self._refresh = refresh_seconds
        self._describe = describe_seconds
        self._window = window_seconds
        self._described = 0.0
        self._filters = stream_filter_patterns(function) if filters is None else filters
        self._on_delivered = on_delivered
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engram-stream-poller", daemon=True)
        self._shards: dict[str, _Shard] = {}
        self._passes = threading.Condition()
        self._passes_started = 0
        self._last_empty_pass = -1  # the number of the last pass that found nothing to read
        self._refreshed = time.monotonic()
        self.delivered = 0
        self.filtered = 0
        self.failed_attempts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def notify(self) -> None:
        """Wake the poller now (something was written). Called on every emulated write: an event already set
        is left alone (setting it takes its condition's lock and notifies)."""
        if not self._wake.is_set():
            self._wake.set()

    def wait_delivered(self, timeout: float) -> bool:
        """Wait until everything written before this call is delivered, that is until a pass over the
        stream begun after this call finds nothing to read, or ``timeout`` seconds; returns whether it was.
        (A batch the function keeps failing is not delivered: this then waits the whole ``timeout``.)"""
        with self._passes:
            target = self._passes_started + 1
        self.notify()
        with self._passes:
            return self._passes.wait_for(lambda: self._last_empty_pass >= target, timeout)

    def poll_once(self) -> bool:
        """One pass over the stream's shards: read and deliver what is there. Returns whether any record
        was read. (The thread calls it in a loop; tests call it directly.)"""
        if time.monotonic() - self._described >= self._describe or not self._shards:
            self._follow_shards()
        if time.monotonic() - self._refreshed > self._refresh:
            for shard in self._shards.values():
                shard.iterator = None  # a fresh one after the checkpoint, below
            self._refreshed = time.monotonic()
        busy = False
        for shard in list(self._shards.values()):
            if self._stop.is_set():
                break
            if shard.closed or not self._parent_done(shard):
                continue
            busy = self._read(shard) or busy
        return busy

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._passes:
                self._passes_started += 1
                number = self._passes_started
            try:
                busy = self.poll_once()
            except Exception:  # keep polling: a transient emulator error must not stop indexing
                logger.exception("stream poller error")
                busy = True  # not an empty pass
                self._stop.wait(0.5)
            if not busy:
                with self._passes:
                    self._last_empty_pass = number
                    self._passes.notify_all()
                if self._wake.wait(self._idle):
                    self._stop.wait(self._window)  # let the writer finish its burst: fewer, fuller batches
                self._wake.clear()

    def _follow_shards(self) -> None:
        """Add the shards the stream now has; drop those it no longer lists once nothing depends on them."""
        description = self._client.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        listed = set()
        for shard in description.get("Shards", []):
            listed.add(shard["ShardId"])
            if shard["ShardId"] not in self._shards:
                self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], shard.get("ParentShardId"))
        for shard_id in [s for s in self._shards if s not in listed]:
            del self._shards[shard_id]
        self._described = time.monotonic()

    def _parent_done(self, shard: _Shard) -> bool:
        parent = self._shards.get(shard.parent_id) if shard.parent_id else None
        return parent is None or parent.closed

    def _read(self, shard: _Shard) -> bool:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        try:
            response = self._client.get_records(ShardIterator=shard.iterator, Limit=BATCH_SIZE)
        except Exception as error:  # expired, trimmed or unknown iterator, or an emulator error
            logger.warning(
                "stream iterator failed; taking a new one", extra={"shard": shard.shard_id, "error": str(error)}
            )
            shard.iterator = None
            return True  # not read to its end: poll again
        records = response.get("Records", [])
        if records:
            self._deliver(shard, records)
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
            self._described = 0.0  # its children may be listed now
        return bool(records)

    def _iterator(self, shard: _Shard) -> str:
        """An iterator after the shard's checkpoint, or at its oldest record when none."""
        if shard.checkpoint is None:
            extra: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            extra = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.checkpoint}
        answer = self._client.get_shard_iterator(StreamArn=self._stream_arn, ShardId=shard.shard_id, **extra)
        return str(answer["ShardIterator"])

    def _wanted(self, record: dict[str, Any]) -> bool:
        return not self._filters or any(matches_pattern(record, pattern) for pattern in self._filters)

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        wanted = [r for r in records if self._wanted(r)]
        self.filtered += len(records) - len(wanted)
        last = records[-1]["dynamodb"]["SequenceNumber"]
        if wanted:
            self._invoke_until_done(wanted)
        if self._stop.is_set():
            return  # not delivered: the checkpoint stays
        shard.checkpoint = last
        if self._on_delivered is not None:
            self._on_delivered(shard.shard_id, last)

    def _invoke_until_done(self, records: list[dict[str, Any]]) -> None:
        pending = [{**r, "eventSourceARN": self._stream_arn} for r in records]
        delay = 0.1
        while pending and not self._stop.is_set():
            event = {"Records": pending}
            try:
                response = self._runtime.invoke(self._function, event) or {}
                failures = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            except FunctionError:
                logger.exception("index sync batch failed; retrying")
                failures = {pending[0]["dynamodb"]["SequenceNumber"]}
            if not failures:
                self.delivered += len(pending)
                return
            self.failed_attempts += 1
            first = min(i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in failures)
            self.delivered += first
            pending = pending[first:]
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)
