"""Consent records in PostgreSQL, shared by every replica.

Every change commits with a NOTIFY on the store's channel carrying the customer id, so each
replica's listener refreshes that customer before it serves them again (`live.LiveConsents`);
the generation number tells a replica that reconnects whether it missed anything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import asyncpg
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
from proxy.pg import CHANNEL_PREFIX, close_pool, quote_schema

ROW_COLUMNS = "customer_id, version, document, identifier_counts, sealed_identifiers, updated_at, updated_by"


def _row(raw: asyncpg.Record) -> StoredRow:
    return StoredRow(
        raw["customer_id"],
        raw["version"],
        raw["document"],
        raw["identifier_counts"],
        raw["sealed_identifiers"],
        raw["updated_at"],
        raw["updated_by"],
    )


class PostgresConsentRecords(ConsentRecords):
    def __init__(
        self,
        dsn: str,
        sealer: IdentifierSealer,
        *,
        schema: str | None = None,
        pool_size: int = 4,
        timeout_s: float = 5.0,
    ) -> None:
        super().__init__(sealer)
        self._dsn = dsn
        self._schema = schema
        self._prefix = f"{quote_schema(schema)}." if schema else ""
        # One channel per schema: test schemas (or tenants) sharing a server do not hear each other.
        self.channel = f"{CHANNEL_PREFIX}{schema}" if schema else CHANNEL_PREFIX.rstrip("_")
        self._pool_size = pool_size
        self._timeout = timeout_s
        self._pool: asyncpg.Pool | None = None
        self._schema_ready = False

    def _t(self, table: str) -> str:
        return f"{self._prefix}{table}"

    def _schema_sql(self) -> str:
        create_schema = f"CREATE SCHEMA IF NOT EXISTS {quote_schema(self._schema)};\n" if self._schema else ""
        return f"""{create_schema}
CREATE TABLE IF NOT EXISTS {self._t("consent_records")} (
    customer_id text PRIMARY KEY,
    version integer NOT NULL,
    document text NOT NULL,
    identifier_counts text NOT NULL,
    sealed_identifiers text,
    updated_at text NOT NULL,
    updated_by text NOT NULL
);
CREATE TABLE IF NOT EXISTS {self._t("consent_history")} (
    customer_id text NOT NULL,
    version integer NOT NULL,
    at text NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    changes text NOT NULL,
    document text NOT NULL,
    PRIMARY KEY (customer_id, version)
);
CREATE TABLE IF NOT EXISTS {self._t("consent_meta")} (
    id integer PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL
);
INSERT INTO {self._t("consent_meta")} (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS {self._t("audit_events")} (
    id bigserial PRIMARY KEY,
    at text NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,
    outcome text NOT NULL,
    customer_ref text NOT NULL,
    detail text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_at ON {self._t("audit_events")} (at);
"""

    async def start(self) -> None:
        # min_size=0: a database that is down at start-up does not stop the proxy from starting.
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=0, max_size=self._pool_size, timeout=self._timeout, command_timeout=30.0
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool, self._timeout)

    async def _conn(self) -> Any:
        if self._pool is None:
            raise RuntimeError("the consent store is not started")
        return self._pool.acquire(timeout=self._timeout)

    async def _ensure_schema(self, conn: asyncpg.Connection) -> None:
        if self._schema_ready:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('consentry.consents.schema'))")
            await conn.execute(self._schema_sql())
        self._schema_ready = True

    async def get(self, customer_id: str) -> StoredConsent | None:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            found = await conn.fetchrow(
                f"SELECT {ROW_COLUMNS} FROM {self._t('consent_records')} WHERE customer_id = $1", customer_id
            )
        return self.from_row(_row(found)) if found else None

    async def load_all(self) -> dict[str, StoredConsent]:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            rows = await conn.fetch(f"SELECT {ROW_COLUMNS} FROM {self._t('consent_records')}")
        return {r["customer_id"]: self.from_row(_row(r)) for r in rows}

    async def generation(self) -> str:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            return str(await conn.fetchval(f"SELECT generation FROM {self._t('consent_meta')} WHERE id = 1"))

    async def _bump(self, conn: asyncpg.Connection, customer_id: str) -> None:
        await conn.execute(f"UPDATE {self._t('consent_meta')} SET generation = generation + 1 WHERE id = 1")
        # Delivered to every listener when the transaction commits, never before.
        await conn.execute("SELECT pg_notify($1, $2)", self.channel, customer_id)

    async def update(
        self,
        customer_id: str,
        change: Change,
        *,
        actor: str,
        action: str,
        expected_version: int | None = None,
    ) -> Update:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            async with conn.transaction():
                # Serialises writers of one customer, including the first write of a new customer.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "consent:" + customer_id)
                found = await conn.fetchrow(
                    f"SELECT {ROW_COLUMNS} FROM {self._t('consent_records')} WHERE customer_id = $1",
                    customer_id,
                )
                current = self.from_row(_row(found)) if found else None
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
                    await conn.execute(
                        f"INSERT INTO {self._t('consent_records')} ({ROW_COLUMNS}) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id) DO UPDATE SET "
                        "version = excluded.version, document = excluded.document, "
                        "identifier_counts = excluded.identifier_counts, "
                        "sealed_identifiers = excluded.sealed_identifiers, "
                        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        *row_values(row),
                    )
                    await conn.execute(
                        f"INSERT INTO {self._t('consent_history')} ({HISTORY_COLUMNS}) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        *history_values(entry),
                    )
                    await self._bump(conn, customer_id)
        return planned

    async def history(self, customer_id: str) -> list[ConsentChange]:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            rows = await conn.fetch(
                f"SELECT {HISTORY_COLUMNS} FROM {self._t('consent_history')} "
                "WHERE customer_id = $1 ORDER BY version DESC",
                customer_id,
            )
        return [history_from_row(r) for r in rows]

    async def erase(self, customer_id: str) -> Erased:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "consent:" + customer_id)
                counts = await conn.fetchval(
                    f"DELETE FROM {self._t('consent_records')} WHERE customer_id = $1 "
                    "RETURNING identifier_counts",
                    customer_id,
                )
                history = await conn.execute(
                    f"DELETE FROM {self._t('consent_history')} WHERE customer_id = $1", customer_id
                )
                await self._bump(conn, customer_id)
        identifiers = sum(orjson.loads(counts).values()) if counts else 0
        return Erased(counts is not None, int(history.split()[-1]), identifiers)

    async def append_audit(self, event: AuditEvent) -> None:
        async with await self._conn() as conn:
            await self._ensure_schema(conn)
            await conn.execute(
                f"INSERT INTO {self._t('audit_events')} "
                "(at, actor, role, action, outcome, customer_ref, detail) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                event.at,
                event.actor,
                event.role,
                event.action,
                event.outcome,
                event.customer_ref,
                orjson.dumps(event.detail).decode(),
            )

    async def iter_audit(
        self, since: datetime | None = None, until: datetime | None = None, page_size: int = 1000
    ) -> AsyncIterator[AuditEvent]:
        last_id = 0
        while True:
            clauses, args = ["id > $1"], [last_id]
            if since is not None:
                args.append(iso(since))
                clauses.append(f"at >= ${len(args)}")
            if until is not None:
                args.append(iso(until))
                clauses.append(f"at < ${len(args)}")
            args.append(page_size)
            async with await self._conn() as conn:
                await self._ensure_schema(conn)
                rows = await conn.fetch(
                    "SELECT id, at, actor, role, action, outcome, customer_ref, detail "
                    f"FROM {self._t('audit_events')} WHERE {' AND '.join(clauses)} "
                    f"ORDER BY id LIMIT ${len(args)}",
                    *args,
                )
            for r in rows:
                yield AuditEvent(r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]))
            if len(rows) < page_size:
                return
            last_id = rows[-1][0]

    async def listen(self, on_change: Callable[[str], None]) -> asyncpg.Connection:
        """A connection of its own that LISTENs on the channel and calls `on_change(customer_id)`
        for every change committed by any replica. The caller watches and closes it."""
        conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
        try:
            await self._ensure_schema(conn)
            await conn.add_listener(self.channel, lambda _c, _pid, _channel, payload: on_change(payload))
        except BaseException:
            await conn.close()
            raise
        return conn
