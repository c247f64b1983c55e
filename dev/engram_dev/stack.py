"""The embedded local stack: emulator + in-process Lambda runtime + stream poller + API front.

``LocalStack`` configures this process's environment (table, state machine, emulator endpoint,
local index under ``data_dir``) so the real handlers find their resources, exactly as they would
read them from their Lambda environment in AWS. One stack per process.

What it keeps in ``data_dir``:

- ``tables.sqlite3``: the emulator's DynamoDB table (memories, revisions, operations, sessions, tenant
  config, API keys), written through as it changes (``engram_dev.table_store``) and loaded at start;
- ``index/``: the local search index (``engram_dev.local_index``), derived again from the table at start;
- ``api-key``: the development key of tenant ``dev`` (when neither ``api_key`` nor ``ENGRAM_API_KEY`` is
  given), so a restarted stack prints the same key.

The front caches the authorizer's policy per key for the template's ``ReauthorizeEvery`` (as API Gateway
does), and the stack clears that cache whenever an API key item of its table is written (by this
process, or by ``engram keys`` through the emulator endpoint): a key revoked locally gets 403 on the next
request, where in AWS it can take until the cached policy expires.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engram import wiring
from engram.logic.auth import create_api_key, hash_key

from engram_dev import patches
from engram_dev.emulator import REGION, EmulatedResources, Emulator
from engram_dev.front import ApiFront, authorizer_ttl
from engram_dev.lambda_runtime import ACCOUNT_ID, LambdaRuntime, install_into_moto
from engram_dev.stream import StreamPoller, StreamsApi
from engram_dev.table_store import FILE_NAME as TABLES_FILE
from engram_dev.table_store import TableStore

DEV_TENANT = "dev"
KEY_FILE = "api-key"
#: Index documents per ``upsert`` while the index is derived again from the table at start.
REBUILD_CHUNK = 500
#: The partition key prefix of an API key item (``engram.adapters.dynamodb.items.ApiKeyItem.key``).
API_KEY_PARTITION_PREFIX = "K#"


#: The garbage collector's thresholds while a local stack runs (Python's default: 700, 10, 10).
GC_THRESHOLD = (10_000, 20, 20)


def tune_garbage_collector() -> tuple[int, int, int]:
    """Make Python's cyclic garbage collector cheaper for the local stack's process; returns the thresholds
    it replaced.

    The emulator keeps every table item as Python objects (an item and its attribute values are about 60
    objects), and each full collection walks all of them: storing 5,000 memories by batch spent 27% of the
    process's CPU in 7 full collections of 300,000-680,000 objects (``engram bench ingest``). So, once the
    stack has started: a collection, then ``gc.freeze()`` (everything loaded so far, modules and the items
    loaded from ``data_dir`` included, is left out of later collections; it is still freed when no longer
    referenced: https://docs.python.org/3/library/gc.html#gc.freeze), and ``GC_THRESHOLD`` (a young
    collection every 10,000 net allocations instead of 700; a full one considered every 4 million instead
    of 70,000, and made, as before, only once a quarter of the old objects are new). With both, the same
    run spent about 7%. ``LocalStack.stop`` restores the thresholds and unfreezes."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return (int(previous[0]), int(previous[1]), int(previous[2]))


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``api_url``, ``api_key`` and ``runtime`` are then set.

    ``data_dir`` keeps the stack's data between runs (see the module docstring): a stack started on it
    finds the memories, revisions, operations, sessions, config and keys written before, including those
    of a process killed with ``kill -9`` up to its last ``flush_seconds`` (default 0.2 s). ``fresh=True``
    deletes them first and starts empty. Workflows running when the process stopped do not resume: their
    operations stay ``RUNNING``. ``api_key`` defaults to ``ENGRAM_API_KEY``, then to the key kept in
    ``data_dir``, then to a new random key for tenant ``dev``.
    """

    def __init__(
        self,
        port: int = 0,
        data_dir: str | Path = ".engram",
        api_key: str | None = None,
        emulator_port: int = 0,
        fresh: bool = False,
        flush_seconds: float = 0.2,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir).resolve()
        self.api_key = api_key or os.environ.get("ENGRAM_API_KEY") or None
        self.fresh = fresh
        self.emulator = Emulator(port=emulator_port)
        self.runtime = LambdaRuntime()
        self.tables = TableStore(self.data_dir / TABLES_FILE, flush_seconds=flush_seconds)
        self.resources: EmulatedResources | None = None
        self.front: ApiFront | None = None
        self.poller: StreamPoller | None = None
        self.loaded_items = 0
        self._table: Any = None
        self._stop_waking: Any = None
        self._stop_key_watch: Any = None
        self._gc_threshold: tuple[int, int, int] | None = None

    def start(self) -> LocalStack:
        patches.install_botocore_hooks()  # before this process's first AWS client (see engram_dev.patches)
        patches.install_emulator_patches()
        self.tables.lock()  # before anything in data_dir is read or deleted
        if self.fresh:
            self._delete_data()
        self.resources = self.emulator.start()
        self._table = patches.emulator_table(self.resources.table_name, ACCOUNT_ID, REGION)
        self.loaded_items = self.tables.open([self._table])
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.resources.endpoint_url,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "ENGRAM_TABLE_NAME": self.resources.table_name,
                "ENGRAM_STATE_MACHINE_ARN": self.resources.state_machine_arn,
                "ENGRAM_INDEX_BACKEND": "local",
                "ENGRAM_DEVELOPMENT": "true",
                "ENGRAM_DATA_DIR": str(self.data_dir),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        wiring.reset()
        install_into_moto(self.runtime, self.emulator.port)
        self._rebuild_index()
        self.api_key = self._dev_key()
        self.poller = StreamPoller(
            StreamsApi(self._send_to_emulator),
            self.resources.stream_arn,
            self.runtime,
            on_delivered=self._forget_delivered,
        )
        poller = self.poller
        self._stop_waking = patches.on_emulator_write(lambda *_: poller.notify())
        self.poller.start()
        patches.wait_emulator_retries_with(self._retry_wait)
        self.front = ApiFront(self.runtime, port=self.port, authorizer_ttl=authorizer_ttl())
        self._stop_key_watch = patches.on_emulator_write(self._key_written)
        self._gc_threshold = tune_garbage_collector()
        self.front.start()
        return self

    @property
    def api_url(self) -> str:
        assert self.front is not None, "start() first"
        return self.front.url

    def stop(self) -> None:
        """Stop serving, write the last changes to ``data_dir`` and stop the emulator."""
        if self.front:
            self.front.stop()
        for stop in (self._stop_waking, self._stop_key_watch):
            if stop is not None:
                stop()
        self._stop_waking = self._stop_key_watch = None
        patches.wait_emulator_retries_with(None)
        if self.poller:
            self.poller.stop()
        self.tables.close()
        self.emulator.stop()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
            self._gc_threshold = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- helpers --

    def _delete_data(self) -> None:
        for name in (TABLES_FILE, f"{TABLES_FILE}-wal", f"{TABLES_FILE}-shm", KEY_FILE):
            (self.data_dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.data_dir / "index", ignore_errors=True)

    def _rebuild_index(self) -> None:
        """Derive the index from the table again: it may lag the table (stream records not yet delivered
        when the process stopped) or lead it (writes after the last flush were lost)."""
        from engram_dev.local_index import LocalIndex

        index = wiring.dependencies().index
        assert isinstance(index, LocalIndex), "ENGRAM_INDEX_BACKEND=local, set in start()"
        index.ensure_index()
        if self.loaded_items == 0 and not len(index):
            return
        index.clear()
        batch = []
        for document in self._documents():
            batch.append(document)
            if len(batch) == REBUILD_CHUNK:
                index.upsert(batch)
                batch = []
        index.upsert(batch)

    def _documents(self) -> Iterator[Any]:
        from engram.adapters.dynamodb.stream import memory_from_stream_image
        from engram.logic.indexing import to_document

        images = list(patches.item_images(self._table))
        for image in images:
            memory = memory_from_stream_image(image)
            if memory is not None and memory.embedding:
                yield to_document(memory)

    def _dev_key(self) -> str:
        """The dev tenant's key: the given one, else the one kept in ``data_dir``, else a new one; stored in
        the table unless it is there already."""
        deps = wiring.dependencies()
        key_file = self.data_dir / KEY_FILE
        key = self.api_key or (key_file.read_text().strip() if key_file.exists() else None)
        if key is None or deps.api_keys.get(hash_key(key)) is None:
            key = create_api_key(deps.api_keys, deps.clock, DEV_TENANT, "local dev key", key)
        if self.api_key is None:
            key_file.write_text(key + "\n")
            key_file.chmod(0o600)
        return key

    def _send_to_emulator(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        url = self.emulator.endpoint_url + "/"
        status, _, content = patches.emulator_request(self.emulator.app, url, "POST", headers, body)
        return status, content

    def _retry_wait(self, seconds: float, errors: tuple[str, ...]) -> None:
        """The wait of a Step Functions retry in the emulator. Finalize retries on ``IndexNotReady`` until
        the index holds the operation's writes; here the index is fed by this process's poller, so the wait
        ends as soon as the poller has delivered everything written before it (or after ``seconds``, as on
        AWS, when it has not: a failing index keeps the workflow's whole patience). Other retries wait
        ``seconds``."""
        if errors == ("IndexNotReady",) and self.poller is not None:
            self.poller.wait_delivered(seconds)
        else:
            time.sleep(seconds)

    def _key_written(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """A write listener (``patches.on_emulator_write``): an API key item changed (created, revoked,
        deleted), so every cached authorizer policy is dropped."""
        front, resources = self.front, self.resources
        if front is None or resources is None or table.name != resources.table_name:
            return
        if str(getattr(hash_key, "value", hash_key)).startswith(API_KEY_PARTITION_PREFIX):
            front.authorizations.clear()

    def _forget_delivered(self, shard_id: str, sequence_number: str) -> None:
        patches.discard_stream_records(self._table, int(sequence_number))
