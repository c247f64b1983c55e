"""Meters for ``engram bench generation``: which Lambda function ran, for how long, and what DynamoDB
requests it made, with the request units AWS would bill for them.

``LambdaMeter`` wraps the local stack's ``LambdaRuntime.invoke``: every handler run (API, authorizer,
workflow Tasks, index sync) is timed and labelled, and the label is kept in a thread-local while the
handler runs. ``DynamoMeter`` observes every DynamoDB request of boto3 and PynamoDB through botocore
event hooks (``engram_dev.patches.observe_dynamodb_requests``): each successful request is recorded under
the label of the function making it (requests made outside any handler, e.g. by the benchmark
itself, are not recorded), with its read and write request units estimated by DynamoDB's on-demand
rules from the actual item sizes:

- item size: attribute name lengths plus value sizes (strings UTF-8, binary bytes, numbers about
  half their digits + 1, 3 bytes + 1 per element for maps and lists);
- reads: ``ceil(size / 4 KB)`` per item, halved for eventually consistent reads (``GetItem``,
  ``BatchGetItem`` per item, ``Query`` over the summed size of the items returned), doubled in
  transactions; a key that finds nothing still costs the minimum;
- writes: ``ceil(size / 1 KB)`` of the larger of the item before and after, doubled in
  transactions, plus one write per global secondary index that holds the item (sized by the index's
  projection, from ``template.yaml``); ``ConditionCheck`` items in a transaction cost 2 read units.

The item sizes of updates and deletes are read from the emulator around the request (those reads
are not counted). Stream reads are not counted: Lambda's DynamoDB stream trigger reads for free.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

_current = threading.local()


def current_label() -> str | None:
    return getattr(_current, "label", None)


@contextmanager
def labelled(label: str) -> Iterator[None]:
    previous = current_label()
    _current.label = label
    try:
        yield
    finally:
        _current.label = previous


# --- item sizes -----------------------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value in wire form (``{"S": ...}``, ``{"M": ...}``...)."""
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        digits = len(raw.strip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in raw)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in raw)
    if kind == "BS":
        return sum(value_size({"B": b}) for b in raw)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in raw.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


def write_units(size: int, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return 2.0 * units if transactional else float(units)


@dataclass(frozen=True)
class SecondaryIndex:
    name: str
    hash_key: str
    keys: tuple[str, ...]  # its key attributes and the table's
    projection: str  # ALL, KEYS_ONLY or INCLUDE

    def write_units(self, item: dict[str, Any] | None) -> float:
        if not item or self.hash_key not in item:
            return 0.0
        size = (
            item_size(item)
            if self.projection != "KEYS_ONLY"
            else item_size({k: item[k] for k in self.keys if k in item})
        )
        return write_units(size)


def secondary_indexes_from_template() -> list[SecondaryIndex]:
    """The table's global secondary indexes, from ``template.yaml``."""
    from engram_dev.project import load_template

    table = next(r["Properties"] for r in load_template()["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")
    table_keys = tuple(k["AttributeName"] for k in table["KeySchema"])
    indexes = []
    for gsi in table.get("GlobalSecondaryIndexes", []):
        keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
        hash_key = next(k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "HASH")
        indexes.append(
            SecondaryIndex(
                gsi["IndexName"], hash_key, keys + table_keys, gsi.get("Projection", {}).get("ProjectionType", "ALL")
            )
        )
    return indexes


# --- meters ---------------------------------------------------------------------------------------


@dataclass
class DynamoUsage:
    requests: Counter[str] = field(default_factory=Counter)  # operation name -> count
    read_units: float = 0.0
    write_units: float = 0.0  # table writes
    index_write_units: float = 0.0  # global secondary index writes
    items_read: int = 0
    items_written: int = 0

    def add(self, other: DynamoUsage) -> None:
        self.requests.update(other.requests)
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.index_write_units += other.index_write_units
        self.items_read += other.items_read
        self.items_written += other.items_written


class DynamoMeter:
    """Records DynamoDB requests per function label while ``active()`` (see the module docstring)."""

    def __init__(self, indexes: list[SecondaryIndex] | None = None) -> None:
        self.indexes = indexes if indexes is not None else secondary_indexes_from_template()
        self.usage: dict[str, DynamoUsage] = defaultdict(DynamoUsage)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.usage = defaultdict(DynamoUsage)

    def total(self, exclude: tuple[str, ...] = ()) -> DynamoUsage:
        out = DynamoUsage()
        with self._lock:
            for label, usage in self.usage.items():
                if label not in exclude:
                    out.add(usage)
        return out

    @contextmanager
    def active(self) -> Iterator[DynamoMeter]:
        from engram_dev.patches import observe_dynamodb_requests

        with observe_dynamodb_requests(self):
            yield self

    # -- accounting (``engram_dev.patches.DynamoDBObserver``) --

    def _write(self, usage: DynamoUsage, before: dict[str, Any] | None, after: dict[str, Any] | None, tx: bool) -> None:
        usage.write_units += write_units(max(item_size(before), item_size(after)), tx)
        usage.items_written += 1
        for index in self.indexes:
            usage.index_write_units += max(index.write_units(before), index.write_units(after))

    def before(self, operation: str, params: dict[str, Any], read: Callable[..., Any]) -> Any:
        """Before a request is sent: None outside any handler (not recorded), else the state ``after``
        needs, with the items an update or delete is about to change."""
        label = current_label()
        if label is None:
            return None
        befores: list[dict[str, Any] | None] = []
        if operation in ("UpdateItem", "DeleteItem"):
            befores = [read(params["TableName"], params["Key"])]
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                (kind, body), *_ = entry.items()
                befores.append(read(body["TableName"], body["Key"]) if kind in ("Update", "Delete") else None)
        return label, operation, params, befores

    def after(self, state: Any, response: dict[str, Any], read: Callable[..., Any]) -> None:
        """After a successful request: its request units, under its function's label."""
        label, operation, params, befores = state
        usage = DynamoUsage()
        usage.requests[operation] += 1
        consistent = bool(params.get("ConsistentRead"))
        if operation == "GetItem":
            usage.read_units += read_units(item_size(response.get("Item")), consistent)
            usage.items_read += 1 if response.get("Item") else 0
        elif operation == "BatchGetItem":
            for table, found in response.get("Responses", {}).items():
                table_consistent = bool(params["RequestItems"].get(table, {}).get("ConsistentRead"))
                asked = len(params["RequestItems"].get(table, {}).get("Keys", []))
                usage.read_units += sum(read_units(item_size(i), table_consistent) for i in found)
                usage.read_units += max(0, asked - len(found)) * read_units(0, table_consistent)
                usage.items_read += len(found)
        elif operation in ("Query", "Scan"):
            items = response.get("Items", [])
            usage.read_units += read_units(sum(item_size(i) for i in items), consistent)
            usage.items_read += len(items)
        elif operation == "TransactGetItems":
            for found in response.get("Responses", []):
                usage.read_units += read_units(item_size(found.get("Item")), True, transactional=True)
                usage.items_read += 1
        elif operation == "PutItem":
            self._write(usage, None, params["Item"], tx=False)
        elif operation == "UpdateItem":
            after = read(params["TableName"], params["Key"])
            self._write(usage, befores[0], after, tx=False)
        elif operation == "DeleteItem":
            self._write(usage, befores[0], None, tx=False)
        elif operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    if "PutRequest" in request:
                        self._write(usage, None, request["PutRequest"]["Item"], tx=False)
                    else:
                        usage.write_units += 1.0
                        usage.items_written += 1
        elif operation == "TransactWriteItems":
            for entry, before in zip(params.get("TransactItems", []), befores, strict=True):
                (kind, body), *_ = entry.items()
                if kind == "Put":
                    self._write(usage, before, body["Item"], tx=True)
                elif kind == "Update":
                    after = read(body["TableName"], body["Key"])
                    self._write(usage, before, after, tx=True)
                elif kind == "Delete":
                    self._write(usage, before, None, tx=True)
                else:  # ConditionCheck
                    usage.read_units += read_units(0, True, transactional=True)
        with self._lock:
            self.usage[label].add(usage)


@dataclass
class Invocations:
    count: int = 0
    seconds: float = 0.0
    billed_ms: int = 0  # each invocation rounded up to the millisecond, as Lambda bills


class LambdaMeter:
    """Times every handler run of a ``LambdaRuntime`` and labels its thread while it runs.

    The label is the function's logical id; API requests are labelled ``ApiFunction <METHOD> <path>``
    and authorizer runs ``AuthorizerFunction <METHOD> <path>`` (from the method ARN), so polling
    can be told apart from the request it polls."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.calls: dict[str, Invocations] = defaultdict(Invocations)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.calls = defaultdict(Invocations)

    @staticmethod
    def label(logical_id: str, event: dict[str, Any]) -> str:
        if "httpMethod" in event:
            return f"{logical_id} {event['httpMethod']} {event.get('resource') or event.get('path')}"
        if "methodArn" in event:
            parts = str(event["methodArn"]).split("/", 3)
            if len(parts) == 4:
                return f"{logical_id} {parts[2]} /{parts[3]}"
        return logical_id

    @contextmanager
    def active(self) -> Iterator[LambdaMeter]:
        original = self.runtime.invoke

        def invoke(logical_id: str, event: dict[str, Any]) -> Any:
            name = self.label(logical_id, event)
            started = time.perf_counter()
            try:
                with labelled(name):
                    return original(logical_id, event)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    calls = self.calls[name]
                    calls.count += 1
                    calls.seconds += elapsed
                    calls.billed_ms += math.ceil(elapsed * 1000)

        self.runtime.invoke = invoke
        try:
            yield self
        finally:
            self.runtime.invoke = original


#: The generation workflow's Task functions, in the order the state machine runs them.
WORKFLOW_STEPS = ("LoadSourceFunction", "ExtractFunction", "ConsolidateFunction", "FinalizeFunction")


@dataclass(frozen=True)
class StepRun:
    """One handler run of a workflow step: when it started and ended (``time.perf_counter``) and the
    error type it raised (None when it returned)."""

    function: str
    started: float
    ended: float
    error: str | None


class StepTimeline:
    """Records, per operation id, every run of the workflow's step handlers of a ``LambdaRuntime``
    (``WORKFLOW_STEPS`` and ``RecordFailureFunction``), so a generation's time can be split into its
    steps and the waits between them (``breakdown``)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.runs: dict[str, list[StepRun]] = defaultdict(list)
        self._lock = threading.Lock()

    @contextmanager
    def active(self) -> Iterator[StepTimeline]:
        original = self.runtime.invoke

        def invoke(logical_id: str, event: dict[str, Any]) -> Any:
            operation_id = event.get("operation_id") if isinstance(event, dict) else None
            if logical_id not in (*WORKFLOW_STEPS, "RecordFailureFunction") or not operation_id:
                return original(logical_id, event)
            started, error = time.perf_counter(), None
            try:
                return original(logical_id, event)
            except Exception as raised:  # recorded, then raised again unchanged
                error = getattr(raised, "error_type", type(raised).__name__)
                raise
            finally:
                with self._lock:
                    self.runs[str(operation_id)].append(StepRun(logical_id, started, time.perf_counter(), error))

        self.runtime.invoke = invoke
        try:
            yield self
        finally:
            self.runtime.invoke = original

    def wait_finished(self, operation_id: str, timeout: float = 10.0) -> None:
        """Wait until the operation's last step run is recorded (a Finalize that returned, or
        RecordFailure): a client can see the operation done before that step's handler has returned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                runs = list(self.runs.get(operation_id, []))
            if any(
                (r.function == "FinalizeFunction" and r.error is None) or r.function == "RecordFailureFunction"
                for r in runs
            ):
                return
            time.sleep(0.005)

    def breakdown(self, operation_id: str, posted: float, accepted: float, seen_done: float) -> dict[str, float]:
        """Milliseconds of one generation, by segment: ``api`` (the POST), ``to_first_step`` (Step
        Functions starting the execution), each step's handler time (``LoadSource``, ``Extract``,
        ``Consolidate``, ``Finalize``: every attempt), ``transitions`` (between one step's end and the next
        step's start, retry waits of other errors included), ``finalize_waits`` (between Finalize attempts:
        its ``IndexNotReady`` retries), ``to_seen`` (the last step's end to the client seeing the operation
        done; negative when the client saw it before the handler returned), ``total`` (POST to done seen) and
        ``finalize_attempts`` (a count). Call it after ``wait_finished``."""
        runs = sorted(self.runs.get(operation_id, []), key=lambda r: r.started)
        out: dict[str, float] = {"api": (accepted - posted) * 1000, "total": (seen_done - posted) * 1000}
        for step in WORKFLOW_STEPS:
            out[step.removesuffix("Function")] = sum((r.ended - r.started) * 1000 for r in runs if r.function == step)
        out["finalize_attempts"] = float(sum(r.function == "FinalizeFunction" for r in runs))
        out["to_first_step"] = (runs[0].started - accepted) * 1000 if runs else 0.0
        out["transitions"] = out["finalize_waits"] = 0.0
        for before, after in zip(runs, runs[1:], strict=False):
            gap = (after.started - before.ended) * 1000
            both_finalize = before.function == after.function == "FinalizeFunction"
            out["finalize_waits" if both_finalize else "transitions"] += gap
        out["to_seen"] = (seen_done - runs[-1].ended) * 1000 if runs else 0.0
        return out
