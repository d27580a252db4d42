"""SQLite sharing ledger: records are queued by the request path and written in batches by one
background task, so a request never waits on the disk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from models.sharing import EntityTally, SharingRecord
from proxy.metrics import Metrics

log = logging.getLogger("consentry.ledger")

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

COLUMNS = (
    "request_id",
    "ts",
    "customer_id",
    "app",
    "provider",
    "operation",
    "model",
    "decision",
    "reason",
    "entities",
    "streamed",
    "request_bytes",
    "response_bytes",
    "upstream_status",
    "upstream_latency_ms",
    "total_latency_ms",
    "consent_version",
)


def _row(record: SharingRecord) -> tuple[Any, ...]:
    entities = {k: asdict(v) for k, v in sorted(record.entities.items())}
    return (
        record.request_id,
        record.timestamp,
        record.customer_id,
        record.app,
        record.provider,
        record.operation,
        record.model,
        record.decision,
        record.reason,
        orjson.dumps(entities).decode(),
        int(record.streamed),
        record.request_bytes,
        record.response_bytes,
        record.upstream_status,
        record.upstream_latency_ms,
        record.total_latency_ms,
        record.consent_version,
    )


def _record(row: sqlite3.Row) -> SharingRecord:
    entities = {k: EntityTally(**v) for k, v in orjson.loads(row["entities"]).items()}
    return SharingRecord(
        request_id=row["request_id"],
        timestamp=row["ts"],
        customer_id=row["customer_id"],
        app=row["app"],
        provider=row["provider"],
        operation=row["operation"],
        model=row["model"],
        decision=row["decision"],
        reason=row["reason"],
        entities=entities,
        streamed=bool(row["streamed"]),
        request_bytes=row["request_bytes"],
        response_bytes=row["response_bytes"],
        upstream_status=row["upstream_status"],
        upstream_latency_ms=row["upstream_latency_ms"],
        total_latency_ms=row["total_latency_ms"],
        consent_version=row["consent_version"],
    )


class SqliteLedger:
    def __init__(
        self, path: str | Path, metrics: Metrics, batch_size: int = 200, flush_interval_s: float = 0.2
    ):
        self.path = str(path)
        self._metrics = metrics
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._queue: asyncio.Queue[SharingRecord] = asyncio.Queue()
        # One thread owns the connection: sqlite3 connections must not hop between threads.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        conn.commit()
        self._conn = conn

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        await self._run(self._open)
        self._task = asyncio.create_task(self._writer(), name="ledger-writer")

    def submit(self, record: SharingRecord) -> None:
        self._queue.put_nowait(record)
        self._metrics.ledger_queue.set(self._queue.qsize())
        self._wake.set()

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        assert self._conn is not None
        placeholders = ",".join("?" * len(COLUMNS))
        self._conn.executemany(
            f"INSERT OR REPLACE INTO sharing_records ({','.join(COLUMNS)}) VALUES ({placeholders})", rows
        )
        self._conn.commit()

    async def _drain_once(self) -> bool:
        """Write one batch; False when the write failed (the batch is kept for the next try)."""
        batch: list[SharingRecord] = []
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if not batch:
            return True
        try:
            await self._run(self._write, [_row(r) for r in batch])
            self._metrics.ledger_written.inc(len(batch))
            return True
        except Exception:
            self._metrics.ledger_errors.inc()
            log.exception("ledger batch of %d records failed; kept for retry", len(batch))
            for record in batch:
                self._queue.put_nowait(record)
            return False
        finally:
            self._metrics.ledger_queue.set(self._queue.qsize())

    async def flush(self) -> bool:
        """Write everything queued so far; the lock makes a caller wait for a batch in flight."""
        async with self._lock:
            while not self._queue.empty():
                if not await self._drain_once():
                    return False
            return True

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            # A short pause lets a burst of requests share one transaction.
            await asyncio.sleep(self._interval)
            self._wake.clear()
            if not await self.flush():
                self._wake.set()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
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
        rows = self._conn.execute(f"SELECT * FROM sharing_records {where} ORDER BY ts", args).fetchall()
        return [_record(r) for r in rows]

    async def get(self, request_id: str) -> SharingRecord | None:
        found = await self._run(self._select, "WHERE request_id = ?", (request_id,))
        return found[0] if found else None

    async def for_customer(self, customer_id: str) -> list[SharingRecord]:
        return await self._run(self._select, "WHERE customer_id = ?", (customer_id,))
