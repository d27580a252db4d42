"""Consent records in SQLite, the embedded default: the ledger's database file, own connection.

Several processes may share the file (the proxy, and `consentry consent ...` from a shell), so
the proxy polls the generation number to see changes written by another process; its own writes
apply at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from models.consent_record import AuditEvent, ConsentChange, StoredConsent
from proxy.consents.records import (
    HISTORY_COLUMNS,
    Change,
    ConsentRecords,
    Erased,
    StoredRow,
    Update,
    history_from_row,
    history_values,
    iso,
    row_values,
)
from proxy.consents.sealing import IdentifierSealer

SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_records (
    customer_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    identifier_counts TEXT NOT NULL,
    sealed_identifiers TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_history (
    customer_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (customer_id, version)
);
CREATE TABLE IF NOT EXISTS consent_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO consent_meta (id, generation) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    customer_ref TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_at ON audit_events (at);
"""

ROW_COLUMNS = "customer_id, version, document, identifier_counts, sealed_identifiers, updated_at, updated_by"


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _row(raw: sqlite3.Row) -> StoredRow:
    return StoredRow(*(raw[i] for i in range(7)))


class SqliteConsentRecords(ConsentRecords):
    def __init__(self, path: str | Path, sealer: IdentifierSealer) -> None:
        super().__init__(sealer)
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consents")
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the consent store is not started")
        return self._conn

    def _connect(self, create_dir: bool = True) -> None:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if create_dir:
                parent.mkdir(parents=True, exist_ok=True)
            elif not parent.is_dir():
                raise FileNotFoundError("the consent store's directory is missing")
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            # An erased consent is overwritten, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            conn.executescript(SCHEMA)
        except BaseException:
            conn.close()
            raise
        old, self._conn = self._conn, conn
        if old is not None:
            with contextlib.suppress(sqlite3.Error):
                old.close()
        self._file = None if self.path == ":memory:" else _file_id(self.path)

    async def start(self) -> None:
        await self._run(self._connect)

    async def close(self) -> None:
        def disconnect() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

        await self._run(disconnect)
        self._executor.shutdown(wait=True)

    def _select_one(self, conn: sqlite3.Connection, customer_id: str) -> StoredConsent | None:
        found = conn.execute(
            f"SELECT {ROW_COLUMNS} FROM consent_records WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        return self.from_row(_row(found)) if found else None

    async def get(self, customer_id: str) -> StoredConsent | None:
        return await self._run(lambda: self._select_one(self._connection(), customer_id))

    async def load_all(self) -> dict[str, StoredConsent]:
        def load() -> dict[str, StoredConsent]:
            rows = self._connection().execute(f"SELECT {ROW_COLUMNS} FROM consent_records").fetchall()
            return {r["customer_id"]: self.from_row(_row(r)) for r in rows}

        return await self._run(load)

    async def generation(self) -> str:
        def read() -> str:
            # A file deleted or replaced under the open connection would go on answering from the
            # old inode: the path is opened again (never creating a missing directory, which may
            # be an unmounted volume), and the token names the file, so a replaced file reloads.
            if self._file is not None and _file_id(self.path) != self._file:
                self._connect(create_dir=False)
            found = self._connection().execute("SELECT generation FROM consent_meta WHERE id = 1").fetchone()
            return f"{self._file}:{found[0] if found else 0}"

        return await self._run(read)

    async def update(
        self,
        customer_id: str,
        change: Change,
        *,
        actor: str,
        action: str,
        expected_version: int | None = None,
    ) -> Update:
        def write() -> Update:
            conn = self._connection()
            # IMMEDIATE: the write lock is taken before the read, so two writers cannot both base
            # their change on the same version.
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = self._select_one(conn, customer_id)
                planned = self.plan_update(
                    customer_id,
                    current,
                    change,
                    actor=actor,
                    action=action,
                    expected_version=expected_version,
                )
                if planned.row is not None and planned.change is not None:
                    row, entry = planned.row, planned.change
                    conn.execute(
                        f"INSERT INTO consent_records ({ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (customer_id) DO UPDATE SET version = excluded.version, "
                        "document = excluded.document, identifier_counts = excluded.identifier_counts, "
                        "sealed_identifiers = excluded.sealed_identifiers, "
                        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        row_values(row),
                    )
                    conn.execute(
                        f"INSERT INTO consent_history ({HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        history_values(entry),
                    )
                    conn.execute("UPDATE consent_meta SET generation = generation + 1 WHERE id = 1")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return planned

        return await self._run(write)

    async def history(self, customer_id: str) -> list[ConsentChange]:
        def read() -> list[ConsentChange]:
            rows = self._connection().execute(
                f"SELECT {HISTORY_COLUMNS} FROM consent_history "
                "WHERE customer_id = ? ORDER BY version DESC",
                (customer_id,),
            )
            return [history_from_row(r) for r in rows.fetchall()]

        return await self._run(read)

    async def erase(self, customer_id: str) -> Erased:
        def erase() -> Erased:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute(
                    "SELECT identifier_counts FROM consent_records WHERE customer_id = ?", (customer_id,)
                ).fetchone()
                identifiers = sum(orjson.loads(found[0]).values()) if found else 0
                conn.execute("DELETE FROM consent_records WHERE customer_id = ?", (customer_id,))
                history = conn.execute(
                    "DELETE FROM consent_history WHERE customer_id = ?", (customer_id,)
                ).rowcount
                conn.execute("UPDATE consent_meta SET generation = generation + 1 WHERE id = 1")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            # The write-ahead log still holds the rows as they were until checkpointed and cut.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return Erased(found is not None, history, identifiers)

        return await self._run(erase)

    async def append_audit(self, event: AuditEvent) -> None:
        def write() -> None:
            self._connection().execute(
                "INSERT INTO audit_events (at, actor, role, action, outcome, customer_ref, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.at,
                    event.actor,
                    event.role,
                    event.action,
                    event.outcome,
                    event.customer_ref,
                    orjson.dumps(event.detail).decode(),
                ),
            )

        await self._run(write)

    async def iter_audit(
        self, since: datetime | None = None, until: datetime | None = None, page_size: int = 1000
    ) -> AsyncIterator[AuditEvent]:
        last_id = 0
        while True:

            def page(after: int = last_id) -> list[sqlite3.Row]:
                clauses, args = ["id > ?"], [after]
                if since is not None:
                    clauses.append("at >= ?")
                    args.append(iso(since))
                if until is not None:
                    clauses.append("at < ?")
                    args.append(iso(until))
                return (
                    self._connection()
                    .execute(
                        "SELECT id, at, actor, role, action, outcome, customer_ref, detail FROM audit_events "
                        f"WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?",
                        (*args, page_size),
                    )
                    .fetchall()
                )

            rows = await self._run(page)
            for r in rows:
                yield AuditEvent(r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]))
            if len(rows) < page_size:
                return
            last_id = rows[-1][0]
