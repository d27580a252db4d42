"""SQLite sharing ledger, the embedded default: one file, written by one thread."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from models.sharing import SharingRecord
from proxy.ledger.base import COLUMNS, DEFAULT_MAX_QUEUED, BatchingLedger, record_from_row, record_values
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


class SqliteLedger(BatchingLedger):
    def __init__(
        self,
        path: str | Path,
        metrics: Metrics,
        batch_size: int = 200,
        flush_interval_s: float = 0.2,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ):
        super().__init__(metrics, batch_size, flush_interval_s, max_queued)
        self.path = str(path)
        # One thread owns the connection: sqlite3 connections must not hop between threads.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        conn.commit()
        self._conn = conn

    async def _open(self) -> None:
        await self._run(self._connect)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        assert self._conn is not None
        try:
            self._conn.executemany(INSERT, rows)
            self._conn.commit()
        except BaseException:
            # A half-done batch must not be committed by the next one's commit.
            self._conn.rollback()
            raise

    async def _write(self, records: list[SharingRecord]) -> None:
        await self._run(self._insert, [record_values(r) for r in records])

    async def _close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    def _writable(self) -> bool:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.rollback()
        return True

    async def writable(self) -> bool:
        if self._conn is None:
            return False
        try:
            return bool(await self._run(self._writable))
        except sqlite3.Error:
            return False

    def _select(self, where: str, args: tuple[Any, ...]) -> list[SharingRecord]:
        assert self._conn is not None
        rows = self._conn.execute(
            f"SELECT * FROM sharing_records {where} ORDER BY ts, request_id", args
        ).fetchall()
        return [record_from_row(r) for r in rows]

    async def get(self, request_id: str) -> SharingRecord | None:
        found = await self._run(self._select, "WHERE request_id = ?", (request_id,))
        return found[0] if found else None

    async def for_customer(self, customer_id: str) -> list[SharingRecord]:
        return await self._run(self._select, "WHERE customer_id = ?", (customer_id,))
