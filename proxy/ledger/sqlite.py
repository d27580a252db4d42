"""SQLite sharing ledger, the embedded default: one file, written by one thread.

An open SQLite connection keeps writing into its file after the file (or its directory) was
deleted or replaced, and commits succeed - into an inode nobody will ever read. So the ledger
remembers the device and inode of the database file when it opens it, and every batch and probe
checks, before and after the commit, that the path still names that file; a batch that fails the
check stays queued. The health check then reopens the path (never creating a
missing directory: that may be an unmounted volume) and writes the queue there. A file that can
only be opened read-only fails the probe's insert, and is reopened too once it is writable again.
Commits are `synchronous=FULL`: a record counted as written survives a power cut, not only a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from models.sharing import SharingRecord
from proxy.ledger.base import (
    COLUMNS,
    DEFAULT_MAX_QUEUED,
    DEFAULT_PROBE_INTERVAL_S,
    BatchingLedger,
    LedgerProbeError,
    probe_record,
    record_from_row,
    record_values,
)
from proxy.metrics import Metrics

SCHEMA = """
CREATE TABLE IF NOT EXISTS sharing_records (
    request_id TEXT PRIMARY KEY,
    ts TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    app TEXT NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    model TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    entities TEXT NOT NULL,
    streamed INTEGER NOT NULL,
    request_bytes INTEGER NOT NULL,
    response_bytes INTEGER NOT NULL,
    upstream_status INTEGER,
    upstream_latency_ms REAL,
    total_latency_ms REAL NOT NULL,
    consent_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sharing_records_customer ON sharing_records (customer_id, ts);
"""

# First write wins: a sharing record states what happened and is never rewritten, and a batch
# retried after an unclear failure must not duplicate or alter what already landed.
INSERT = (
    f"INSERT INTO sharing_records ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (request_id) DO NOTHING"
)

FileId = tuple[int, int]


class LedgerFileChanged(OSError):
    """The ledger's path no longer names the file the connection writes (deleted or replaced)."""


def _file_id(path: str) -> FileId | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


class SqliteLedger(BatchingLedger):
    def __init__(
        self,
        path: str | Path,
        metrics: Metrics,
        batch_size: int = 200,
        flush_interval_s: float = 0.2,
        max_queued: int = DEFAULT_MAX_QUEUED,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
    ):
        super().__init__(metrics, batch_size, flush_interval_s, max_queued, probe_interval_s)
        self.path = str(path)
        # One thread owns the connection: sqlite3 connections must not hop between threads.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._conn: sqlite3.Connection | None = None
        # (device, inode) of the database file as opened; None for ":memory:".
        self._file: FileId | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connect(self, create_dir: bool) -> None:
        self._disconnect()
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if create_dir:
                parent.mkdir(parents=True, exist_ok=True)
            elif not parent.is_dir():
                raise LedgerFileChanged("the ledger directory is missing")
        conn = sqlite3.connect(self.path, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(SCHEMA)
            conn.commit()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._file = None if self.path == ":memory:" else _file_id(self.path)

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # The file may be gone or read-only; closing must not fail the reopen.
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _check_file(self) -> None:
        """Raises LedgerFileChanged unless the path still names the file the connection writes."""
        if self._file is not None and _file_id(self.path) != self._file:
            raise LedgerFileChanged("the ledger file was deleted or replaced")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerFileChanged("the ledger file is not open")
        return self._conn

    async def _open(self) -> None:
        await self._run(self._connect, True)

    async def _recover(self) -> None:
        if self.path != ":memory:":
            await self._run(self._connect, False)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connection()
        self._check_file()
        try:
            conn.executemany(INSERT, rows)
            conn.commit()
        except BaseException:
            # A half-done batch must not be committed by the next one's commit.
            conn.rollback()
            raise
        # Deleted while the batch was written: it went nowhere, so it stays queued.
        self._check_file()

    async def _write(self, records: list[SharingRecord]) -> None:
        await self._run(self._insert, [record_values(r) for r in records])

    async def _close(self) -> None:
        await self._run(self._disconnect)
        self._executor.shutdown(wait=True)

    def _probe_write(self, row: tuple[Any, ...]) -> None:
        conn = self._connection()
        self._check_file()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(INSERT, row)
            found = conn.execute("SELECT 1 FROM sharing_records WHERE request_id = ?", (row[0],)).fetchone()
            conn.execute("DELETE FROM sharing_records WHERE request_id = ?", (row[0],))
            # Committed, not rolled back: the commit is what reaches the disk (and fails on a full
            # or read-only one); inserted and deleted in one transaction, no reader ever sees it.
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        if found is None:
            raise LedgerProbeError("the probe row was not read back")
        self._check_file()

    async def _probe(self) -> None:
        await self._run(self._probe_write, record_values(probe_record()))

    def _select(self, where: str, args: tuple[Any, ...]) -> list[SharingRecord]:
        rows = (
            self._connection()
            .execute(f"SELECT * FROM sharing_records {where} ORDER BY ts, request_id", args)
            .fetchall()
        )
        return [record_from_row(r) for r in rows]

    async def get(self, request_id: str) -> SharingRecord | None:
        found = await self._run(self._select, "WHERE request_id = ?", (request_id,))
        return found[0] if found else None

    async def for_customer(self, customer_id: str) -> list[SharingRecord]:
        return await self._run(self._select, "WHERE customer_id = ?", (customer_id,))
