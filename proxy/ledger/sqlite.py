"""SQLite sharing ledger, the embedded default: one file, written by one thread.

An open SQLite connection keeps writing into its file after the file (or its directory) was
deleted or replaced, and commits succeed - into an inode nobody will ever read. So the ledger
remembers the device and inode of the database file when it opens it, and every batch and probe
checks, before and after the commit, that the path still names that file; a batch that fails the
check stays queued. The health check then reopens the path (never creating a
missing directory: that may be an unmounted volume) and writes the queue there. A file that can
only be opened read-only fails the probe's insert, and is reopened too once it is writable again.
Commits are `synchronous=FULL`: a record counted as written survives a power cut, not only a crash.

Timestamps are stored as the ISO text the pipeline writes (UTC, `+00:00`), so comparisons are
textual. A record's text and a bound's may spell one instant differently (`05.120` and
`05.12`), so bounds are written in the spelling that makes the text comparison agree with time:
the shortest one for `>=` and `<` (any equal instant sorts at or after it), the longest (six
fraction digits) for `<=` and `>` (any equal instant sorts at or before it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.sharing import SharingRecord
from proxy.ledger.base import (
    COLUMNS,
    DEFAULT_MAX_QUEUED,
    DEFAULT_PROBE_INTERVAL_S,
    Aggregates,
    BatchingLedger,
    CustomerKey,
    LedgerProbeError,
    parse_ts,
    probe_record,
    record_from_row,
    record_values,
)
from proxy.metrics import Metrics

if TYPE_CHECKING:
    from proxy.ledger.retention import RetentionPolicy

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
CREATE INDEX IF NOT EXISTS sharing_records_ts ON sharing_records (ts);
CREATE TABLE IF NOT EXISTS ledger_erasures (
    customer_key TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
);
"""

# First write wins: a sharing record states what happened and is never rewritten, and a batch
# retried after an unclear failure must not duplicate or alter what already landed.
INSERT = (
    f"INSERT INTO sharing_records ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (request_id) DO NOTHING"
)

FileId = tuple[int, int]
# Host parameters per statement stay far below SQLite's limit (999 in older builds).
KEYS_PER_QUERY = 500
NOT_PROBE = "decision <> 'probe'"


def ts_low(value: datetime) -> str:
    """The shortest spelling of an instant: the bound for `ts >= ?` and `ts < ?`."""
    text = value.astimezone(UTC).isoformat(timespec="microseconds")
    moment, offset = text[:-6], text[-6:]
    return moment.rstrip("0").rstrip(".") + offset


def ts_high(value: datetime) -> str:
    """The longest spelling of an instant: the bound for `ts <= ?` and `ts > ?`."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _filters(
    customer_id: str | None, since: datetime | None, until: datetime | None
) -> tuple[list[str], list[Any]]:
    where = [NOT_PROBE]
    args: list[Any] = []
    if customer_id is not None:
        where.append("customer_id = ?")
        args.append(customer_id)
    if since is not None:
        where.append("ts >= ?")
        args.append(ts_low(since))
    if until is not None:
        where.append("ts < ?")
        args.append(ts_low(until))
    return where, args


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
        *,
        customer_key: CustomerKey | None = None,
        retention: RetentionPolicy | None = None,
    ):
        super().__init__(
            metrics,
            batch_size,
            flush_interval_s,
            max_queued,
            probe_interval_s,
            customer_key=customer_key,
            retention=retention,
        )
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
            # Deleted rows (erasure, retention) are overwritten, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
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

    def _insert(self, rows: list[tuple[Any, ...]], keys: dict[str, str]) -> None:
        conn = self._connection()
        self._check_file()
        try:
            # The write lock first, then the tombstones: an erasure commits either before this
            # (its tombstone is seen here) or after (its deletes find these rows).
            conn.execute("BEGIN IMMEDIATE")
            erased = self._erased(conn, keys)
            if erased:
                rows = [r for r in rows if r[2] not in erased or parse_ts(r[1]) > erased[r[2]]]
            conn.executemany(INSERT, rows)
            conn.commit()
        except BaseException:
            # A half-done batch must not be committed by the next one's commit.
            conn.rollback()
            raise
        # Deleted while the batch was written: it went nowhere, so it stays queued.
        self._check_file()

    @staticmethod
    def _erased(conn: sqlite3.Connection, keys: dict[str, str]) -> dict[str, datetime]:
        """customer id -> erased_at, for the batch's customers that have a tombstone."""
        by_key = {key: cid for cid, key in keys.items()}
        wanted = list(by_key)
        erased: dict[str, datetime] = {}
        for start in range(0, len(wanted), KEYS_PER_QUERY):
            chunk = wanted[start : start + KEYS_PER_QUERY]
            for key, at in conn.execute(
                "SELECT customer_key, erased_at FROM ledger_erasures "
                f"WHERE customer_key IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                erased[by_key[key]] = parse_ts(at)
        return erased

    async def _write(self, records: list[SharingRecord]) -> None:
        keys = self.customer_keys(r.customer_id for r in records)
        await self._run(self._insert, [record_values(r) for r in records], keys)

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

    # -- export, summary, erasure, retention ----------------------------------------------------

    def _select_page(self, sql: str, args: list[Any]) -> list[sqlite3.Row]:
        return self._connection().execute(sql, args).fetchall()

    async def _page(
        self,
        customer_id: str,
        since: datetime | None,
        until: datetime | None,
        provider: str | None,
        after: Any,
        limit: int,
    ) -> tuple[list[SharingRecord], Any]:
        where, args = _filters(customer_id, since, until)
        if provider is not None:
            where.append("provider = ?")
            args.append(provider)
        if after is not None:
            # The cursor is the stored text itself, so it compares exactly as ORDER BY sorts.
            where.append("(ts, request_id) > (?, ?)")
            args.extend(after)
        sql = f"SELECT * FROM sharing_records WHERE {' AND '.join(where)} ORDER BY ts, request_id LIMIT ?"
        rows = await self._run(self._select_page, sql, [*args, limit])
        cursor = (rows[-1]["ts"], rows[-1]["request_id"]) if rows else after
        return [record_from_row(r) for r in rows], cursor

    def _aggregate_rows(self, where: str, args: list[Any]) -> Aggregates:
        conn = self._connection()
        # One read transaction: the three counts describe the same moment.
        conn.execute("BEGIN")
        try:
            providers = conn.execute(
                "SELECT provider, count(*), sum(decision = 'forwarded'), sum(decision = 'blocked'), "
                f"sum(decision = 'failed') FROM sharing_records WHERE {where} GROUP BY provider",
                args,
            ).fetchall()
            entities = conn.execute(
                "SELECT e.key, sum(json_extract(e.value, '$.count')), count(*) "
                f"FROM sharing_records AS r, json_each(r.entities) AS e WHERE {where} GROUP BY e.key",
                args,
            ).fetchall()
            # Stored timestamps are UTC, so the first seven characters are the UTC month.
            months = conn.execute(
                "SELECT substr(ts, 1, 7), provider, count(*) "
                f"FROM sharing_records WHERE {where} GROUP BY 1, 2",
                args,
            ).fetchall()
        finally:
            conn.rollback()
        return Aggregates(
            providers=[tuple(r) for r in providers],  # type: ignore[misc]
            entities=[tuple(r) for r in entities],  # type: ignore[misc]
            months=[tuple(r) for r in months],  # type: ignore[misc]
        )

    async def _aggregate(
        self, customer_id: str | None, since: datetime | None, until: datetime | None
    ) -> Aggregates:
        where, args = _filters(customer_id, since, until)
        return await self._run(self._aggregate_rows, " AND ".join(where), args)

    def _tombstone_write(self, key: str) -> datetime:
        conn = self._connection()
        self._check_file()
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Taken under the write lock: every batch committed before holds records older than
            # this, every batch after sees the tombstone.
            now = ts_high(datetime.now(UTC))
            conn.execute(
                "INSERT INTO ledger_erasures (customer_key, erased_at) VALUES (?, ?) "
                "ON CONFLICT (customer_key) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
                (key, now),
            )
            (at,) = conn.execute(
                "SELECT erased_at FROM ledger_erasures WHERE customer_key = ?", (key,)
            ).fetchone()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return parse_ts(at)

    async def _tombstone(self, key: str) -> datetime:
        return await self._run(self._tombstone_write, key)

    def _delete(self, sql: str, args: tuple[Any, ...], extra: tuple[str, tuple[Any, ...]] | None) -> int:
        conn = self._connection()
        self._check_file()
        try:
            conn.execute("BEGIN IMMEDIATE")
            deleted = conn.execute(sql, args).rowcount
            if extra is not None:
                conn.execute(*extra)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return int(deleted)

    async def _delete_erased(self, customer_id: str, erased_at: datetime, limit: int) -> int:
        sql = (
            "DELETE FROM sharing_records WHERE rowid IN (SELECT rowid FROM sharing_records "
            "WHERE customer_id = ? AND ts <= ? LIMIT ?)"
        )
        return await self._run(self._delete, sql, (customer_id, ts_high(erased_at), limit), None)

    def _checkpoint(self) -> None:
        self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    async def _scrub(self) -> None:
        # The write-ahead log keeps the pages as they were before the deletes until it is
        # checkpointed and cut back.
        await self._run(self._checkpoint)

    async def purge_before(self, cutoff: datetime, batch_size: int) -> int:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        sql = (
            "DELETE FROM sharing_records WHERE rowid IN (SELECT rowid FROM sharing_records "
            "WHERE ts < ? ORDER BY ts LIMIT ?)"
        )
        # Tombstones are written in the six-digit spelling, so they compare with one as time does.
        tombstones = ("DELETE FROM ledger_erasures WHERE erased_at < ?", (ts_high(cutoff),))
        return await self._run(self._delete, sql, (ts_low(cutoff), batch_size), tombstones)
