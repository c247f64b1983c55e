"""The local stack's DynamoDB tables on disk, so its data survives a restart.

The emulator (moto) holds tables in memory. ``TableStore`` loads a saved copy into them at start and then
writes every changed item through to one SQLite file (``<data_dir>/tables.sqlite3``): each emulated write
marks its item changed (``engram_dev.patches.on_emulator_write``), and a background thread writes the
current state of the changed items every ``flush_seconds`` (default 0.2 s) in one SQLite transaction. So
disk writes are proportional to what changes (an item written ten times between flushes is written
once), and a process killed with ``kill -9`` loses at most the writes of the last ``flush_seconds`` plus
one flush (SQLite in WAL mode keeps every committed transaction; ``synchronous=NORMAL`` gives up only the
last ones on a power cut, not on a crash of this process).

File format (``FORMAT_VERSION`` 1)::

    items(table_name, hash_key, range_key, image)   -- one row per item, primary key the first three
    meta(key, value)                                  -- format

``hash_key`` and ``range_key`` are the key values as DynamoDB JSON (``{"S": "..."}``; ``""`` for a table
without a range key), ``image`` the whole item as DynamoDB JSON (binary values in base64, as moto holds
them). Stream records, Step Functions executions and everything else moto holds are not kept: the local
stack derives its index again from the table at start.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError
from engram.observability import logger

from engram_dev import patches

try:  # POSIX only: one process at a time per data directory
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # the module is absent there: locking is skipped

FORMAT_VERSION = 1
FILE_NAME = "tables.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS items (table_name TEXT NOT NULL, hash_key TEXT NOT NULL,"
    " range_key TEXT NOT NULL, image TEXT NOT NULL, PRIMARY KEY (table_name, hash_key, range_key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _key_of(value: Any) -> tuple[str, Any] | None:
    """A key value (a moto ``DynamoType`` of type S, N or B, or None) as a hashable pair."""
    return None if value is None else (value.type, value.value)


def _key_text(value: Any) -> str:
    return "" if value is None else _json(value.to_json(), sort_keys=True)


def _json(value: Any, sort_keys: bool = False) -> str:
    """Compact JSON of DynamoDB JSON as moto gives it: binary values (raw ``bytes`` inside sets, lists and
    maps) become base64 text, the wire form, which moto accepts back."""
    return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), default=_base64)


def _base64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not DynamoDB JSON")


class TableStore:
    """Saves the emulator's tables named in ``open`` to ``path`` (SQLite) and loads them back.

    ``open(tables)`` loads the saved items into ``tables`` (moto ``Table`` objects, empty) and starts
    recording their changes; ``flush()`` writes the changes recorded so far (the flusher thread calls it
    every ``flush_seconds``); ``close()`` flushes a last time and closes the file. One process at a time
    may hold a store (a lock on ``<path>.lock``). Errors: ``ConfigurationError`` when the file is not a
    table store of this format, or another process holds it."""

    def __init__(self, path: str | Path, flush_seconds: float = 0.2) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self._tables: dict[str, Any] = {}
        self._changed: dict[tuple[str, Any, Any], tuple[Any, Any, Any]] = {}  # guarded by EMULATOR_LOCK
        self._db: sqlite3.Connection | None = None
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._remove_listener: Any = None
        self._lock_file: Any = None
        self.rows_written = 0

    def open(self, tables: Sequence[Any]) -> int:
        """Load the saved items of ``tables`` into them and start saving their changes; returns the number
        of items loaded."""
        self.lock()
        self._db = self._connect()
        self._tables = {table.name: table for table in tables}
        loaded = 0
        for name, table in self._tables.items():
            rows = self._db.execute("SELECT image FROM items WHERE table_name = ?", (name,))
            loaded += patches.put_items_quietly(table, (json.loads(image) for (image,) in rows))
        self._remove_listener = patches.on_emulator_write(self._record)
        self._thread = threading.Thread(target=self._run, name="engram-table-store", daemon=True)
        self._thread.start()
        return loaded

    def flush(self) -> int:
        """Write the current state of every item changed since the last flush; returns the rows written."""
        with self._flush_lock:
            if self._db is None:
                return 0
            with patches.EMULATOR_LOCK:
                changed, self._changed = self._changed, {}
                rows = [
                    (name, _key_text(hash_key), _key_text(range_key), patches.item_image(table, hash_key, range_key))
                    for (name, _, _), (table, hash_key, range_key) in changed.items()
                ]
            if not rows:
                return 0
            puts = [(n, h, r, _json(image)) for n, h, r, image in rows if image is not None]
            deletes = [(n, h, r) for n, h, r, image in rows if image is None]
            try:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)", puts)
                self._db.executemany(
                    "DELETE FROM items WHERE table_name = ? AND hash_key = ? AND range_key = ?", deletes
                )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                with patches.EMULATOR_LOCK:  # not written: keep them for the next flush (newer marks win)
                    self._changed = {**changed, **self._changed}
                raise
            self.rows_written += len(rows)
            return len(rows)

    def close(self) -> None:
        """Stop recording, write what is left and close the file (idempotent)."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
        with self._flush_lock:
            if self._db is not None:
                self._db.close()
                self._db = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    def lock(self) -> None:
        """Take the store's lock (idempotent; ``open`` takes it too); raises ``ConfigurationError`` when
        another process holds it. Take it before deleting the files."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None or self._lock_file is not None:  # not POSIX, or held already
            return
        handle = open(f"{self.path}.lock", "a")  # noqa: SIM115 - held open until close() releases the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigurationError(
                f"{self.path.parent} is in use by another running local stack; stop it or use another --data-dir"
            ) from None
        self._lock_file = handle

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("BEGIN")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
            db.execute("COMMIT")
            (found,) = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as error:
            raise ConfigurationError(f"cannot open the local table store {self.path}: {error}") from error
        if found != str(FORMAT_VERSION):
            raise ConfigurationError(f"the local table store {self.path} has format {found}; expected {FORMAT_VERSION}")
        return db

    def _record(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """A write listener (``EMULATOR_LOCK`` held): remember which item changed (by its key's type and
        value, as it is: the key's text is made once per flush, not at every write)."""
        name = table.name
        if name in self._tables:
            self._changed[(name, _key_of(hash_key), _key_of(range_key))] = (table, hash_key, range_key)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except sqlite3.Error:
                logger.exception("local table store: flush failed; retrying")
