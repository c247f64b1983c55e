"""Polls the table's DynamoDB stream in the emulator and invokes the ``IndexSyncFunction`` handler
with Lambda-shaped batches, honouring its partial-batch-failure response the way Lambda does: the
batch is retried from the first failed record, with capped exponential backoff, until it succeeds
(DynamoDB holds the truth, so a down index delays indexing but loses nothing)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from engram.observability import logger

from engram_dev.lambda_runtime import FunctionError, LambdaRuntime, _to_json

BATCH_SIZE = 100


class StreamPoller:
    def __init__(
        self,
        streams_client: Any,
        stream_arn: str,
        runtime: LambdaRuntime,
        function: str = "IndexSyncFunction",
        idle_seconds: float = 0.05,
    ) -> None:
        self._client = streams_client
        self._stream_arn = stream_arn
        self._runtime = runtime
        self._function = function
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engram-stream-poller", daemon=True)
        self._iterators: dict[str, str | None] = {}
        self.delivered = 0
        self.failed_attempts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _shards(self) -> None:
        description = self._client.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._client.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._shards()
                busy = False
                for shard_id, iterator in list(self._iterators.items()):
                    if iterator is None:
                        continue
                    response = self._client.get_records(ShardIterator=iterator, Limit=BATCH_SIZE)
                    self._iterators[shard_id] = response.get("NextShardIterator")
                    records = response.get("Records", [])
                    if records:
                        busy = True
                        self._deliver(records)
                if not busy:
                    self._stop.wait(self._idle)
            except Exception:  # keep polling: a transient emulator error must not stop indexing
                logger.exception("stream poller error")
                self._stop.wait(0.5)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending = [{**r, "eventSourceARN": self._stream_arn} for r in records]
        delay = 0.1
        while pending and not self._stop.is_set():
            event = json.loads(_to_json({"Records": pending}))
            try:
                response = self._runtime.invoke(self._function, event) or {}
                failures = [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
            except FunctionError:
                logger.exception("index sync batch failed; retrying")
                failures = [pending[0]["dynamodb"]["SequenceNumber"]]
            if not failures:
                self.delivered += len(pending)
                return
            self.failed_attempts += 1
            first = min(i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in set(failures))
            self.delivered += first
            pending = pending[first:]
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
