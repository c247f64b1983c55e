"""The local stack's stream poller behaves like Lambda's event source mapping: it follows the stream's
shards as they change (a new shard, a closed shard and its child, a shard that goes away), takes a new
iterator after its checkpoint when one fails, applies the function's event filter, and retries a batch
from its first failed record. Against a scripted streams API, one poll at a time."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from engram_dev.stream import StreamPoller, matches_pattern, stream_filter_patterns

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"
MEMORY = {"dynamodb": {"Keys": {"SK": {"S": ["M"]}}}}


def record(sequence: int, sk: str = "M") -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(sequence), "Keys": {"SK": {"S": sk}}}}


class ScriptedStreams:
    """Shards of records; an iterator is a token naming (shard, position). ``expire()`` makes every
    iterator handed out so far unknown, as DynamoDB's expire."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.iterators: dict[str, tuple[str, int]] = {}
        self._tokens = itertools.count()

    def add_shard(self, shard_id: str, parent: str | None = None) -> None:
        self.shards[shard_id] = {"records": [], "closed": False, "parent": parent}

    def write(self, shard_id: str, *records: dict[str, Any]) -> None:
        self.shards[shard_id]["records"].extend(records)

    def expire(self) -> None:
        self.iterators.clear()

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:  # noqa: N803 - the API's parameter names
        shards = [
            {"ShardId": shard_id, **({"ParentShardId": s["parent"]} if s["parent"] else {})}
            for shard_id, s in self.shards.items()
        ]
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(
        self, StreamArn: str, ShardId: str, ShardIteratorType: str, SequenceNumber: str = ""
    ) -> dict[str, Any]:  # noqa: N803
        records = self.shards[ShardId]["records"]
        if ShardIteratorType == "TRIM_HORIZON":
            position = 0
        else:
            assert ShardIteratorType == "AFTER_SEQUENCE_NUMBER"
            position = next(i + 1 for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": self._token(ShardId, position)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        if ShardIterator not in self.iterators:
            raise RuntimeError("ExpiredIteratorException")
        shard_id, position = self.iterators[ShardIterator]
        shard = self.shards[shard_id]
        batch = shard["records"][position : position + Limit]
        answer: dict[str, Any] = {"Records": batch}
        end = position + len(batch)
        if not (shard["closed"] and end == len(shard["records"])):
            answer["NextShardIterator"] = self._token(shard_id, end)
        return answer

    def _token(self, shard_id: str, position: int) -> str:
        token = f"it-{next(self._tokens)}"
        self.iterators[token] = (shard_id, position)
        return token


class RecordingRuntime:
    """Records each invocation's sequence numbers; ``fail_once`` names records reported failed once."""

    def __init__(self, fail_once: set[str] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_once = set(fail_once or ())

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        assert all(r["eventSourceARN"] == ARN for r in event["Records"])
        self.batches.append(sequences)
        failed = [s for s in sequences if s in self.fail_once]
        self.fail_once -= set(failed)
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed[:1]]}

    @property
    def delivered(self) -> list[str]:
        return [s for batch in self.batches for s in batch]


def poller(streams: ScriptedStreams, runtime: RecordingRuntime, **options: Any) -> StreamPoller:
    return StreamPoller(streams, ARN, runtime, filters=[MEMORY], describe_seconds=0, **options)


def test_it_follows_a_closed_shard_into_its_child_in_order():
    # Given a shard with records, closed, and its child shard with more
    streams, runtime = ScriptedStreams(), RecordingRuntime()
    streams.add_shard("A")
    streams.write("A", record(1), record(2))
    subject = poller(streams, runtime)
    subject.poll_once()
    streams.write("A", record(3))
    streams.shards["A"]["closed"] = True
    streams.add_shard("B", parent="A")
    streams.write("B", record(4), record(5))
    # When it polls until nothing is left
    while subject.poll_once():
        pass
    # Then every record was delivered once, the parent's before the child's
    assert runtime.delivered == ["1", "2", "3", "4", "5"]


def test_a_child_shard_waits_for_its_parent():
    streams, runtime = ScriptedStreams(), RecordingRuntime()
    streams.add_shard("A")
    streams.add_shard("B", parent="A")
    streams.write("B", record(10))
    subject = poller(streams, runtime)
    subject.poll_once()
    assert runtime.delivered == []  # A is still open
    streams.write("A", record(1))
    streams.shards["A"]["closed"] = True
    subject.poll_once()
    subject.poll_once()
    assert runtime.delivered == ["1", "10"]


def test_a_new_shard_is_read_from_its_oldest_record_and_a_gone_one_dropped():
    streams, runtime = ScriptedStreams(), RecordingRuntime()
    streams.add_shard("A")
    streams.write("A", record(1))
    subject = poller(streams, runtime)
    subject.poll_once()
    streams.add_shard("C")
    streams.write("C", record(7), record(8))
    del streams.shards["A"]  # e.g. trimmed away after 24 hours
    subject.poll_once()
    subject.poll_once()
    assert runtime.delivered == ["1", "7", "8"]


def test_a_failed_iterator_is_replaced_after_the_checkpoint():
    # Given records delivered, then every iterator expires
    streams, runtime = ScriptedStreams(), RecordingRuntime()
    streams.add_shard("A")
    streams.write("A", record(1), record(2))
    subject = poller(streams, runtime)
    subject.poll_once()
    streams.expire()
    streams.write("A", record(3))
    # When it polls again, then it resumes after what it delivered: nothing lost, nothing twice
    subject.poll_once()
    subject.poll_once()
    assert runtime.delivered == ["1", "2", "3"]


def test_iterators_are_refreshed_from_the_checkpoint_periodically():
    """An iterator can keep reading a shard the stream no longer writes to (moto replaced the table's
    shard object, same id, on a failed transaction); a fresh iterator reads the current one."""
    streams, runtime = ScriptedStreams(), RecordingRuntime()
    streams.add_shard("A")
    streams.write("A", record(1))
    subject = poller(streams, runtime, refresh_seconds=0)
    subject.poll_once()
    # the shard is replaced by another object with the same id, holding the old records and a new one
    streams.shards["A"] = {"records": [record(1), record(2)], "closed": False, "parent": None}
    subject.poll_once()
    subject.poll_once()
    assert runtime.delivered == ["1", "2"]


def test_the_event_filter_drops_other_items_and_a_batch_retries_from_its_first_failure():
    streams, runtime = ScriptedStreams(), RecordingRuntime(fail_once={"3"})
    streams.add_shard("A")
    streams.write("A", record(1), record(2, sk="O"), record(3), record(4))
    subject = poller(streams, runtime)
    subject.poll_once()
    assert runtime.batches == [["1", "3", "4"], ["3", "4"]]
    assert (subject.delivered, subject.filtered, subject.failed_attempts) == (3, 1, 1)


def test_the_template_filter_is_read_and_matched_like_lambda():
    [pattern] = stream_filter_patterns("IndexSyncFunction")
    assert matches_pattern(record(1), pattern)
    assert not matches_pattern(record(1, sk="O"), pattern)
    with pytest.raises(ValueError, match="only exact values"):
        matches_pattern(record(1), {"dynamodb": {"Keys": {"SK": {"S": [{"prefix": "M"}]}}}})
