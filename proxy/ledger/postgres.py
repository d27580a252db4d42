"""PostgreSQL sharing ledger: the store when several replicas share one ledger (asyncpg pool)."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from models.sharing import SharingRecord
from proxy.ledger.base import (
    COLUMNS,
    DEFAULT_MAX_QUEUED,
    DEFAULT_PROBE_INTERVAL_S,
    BatchingLedger,
    LedgerProbeError,
    parse_ts,
    probe_record,
    record_from_row,
    record_values,
)
from proxy.metrics import Metrics

# PostgreSQL type of each column in COLUMNS order, used for the table and for the batch arrays.
COLUMN_TYPES = (
    "text",  # request_id
    "timestamptz",  # ts
    "text",  # customer_id
    "text",  # app
    "text",  # provider
    "text",  # operation
    "text",  # model
    "text",  # decision
    "text",  # reason
    "jsonb",  # entities
    "boolean",  # streamed
    "bigint",  # request_bytes
    "bigint",  # response_bytes
    "integer",  # upstream_status
    "double precision",  # upstream_latency_ms
    "double precision",  # total_latency_ms
    "text",  # consent_version
)
NULLABLE = {"upstream_status", "upstream_latency_ms"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _quote(identifier: str) -> str:
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError("a PostgreSQL schema name must be letters, digits and underscores")
    return f'"{identifier}"'


class PostgresLedger(BatchingLedger):
    def __init__(
        self,
        dsn: str,
        metrics: Metrics,
        batch_size: int = 200,
        flush_interval_s: float = 0.2,
        max_queued: int = DEFAULT_MAX_QUEUED,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
        *,
        schema: str | None = None,
        pool_size: int = 4,
        timeout_s: float = 5.0,
    ):
        super().__init__(metrics, batch_size, flush_interval_s, max_queued, probe_interval_s)
        self._dsn = dsn
        # None: the table goes wherever the connection's search_path puts it.
        self._schema = _quote(schema) if schema else None
        self.table = f"{self._schema}.sharing_records" if self._schema else "sharing_records"
        self._pool_size = pool_size
        self._timeout = timeout_s
        self._pool: asyncpg.Pool | None = None
        self._schema_ready = False
        self._insert = self._insert_sql()

    def _insert_sql(self) -> str:
        # One INSERT ... SELECT FROM unnest(arrays) per batch: a single statement and round trip,
        # atomic, and unlike COPY it can skip request ids already stored.
        arrays = ", ".join(
            f"${i}::{'text' if kind == 'jsonb' else kind}[]" for i, kind in enumerate(COLUMN_TYPES, 1)
        )
        selected = ", ".join(
            f"{name}::jsonb" if kind == "jsonb" else name
            for name, kind in zip(COLUMNS, COLUMN_TYPES, strict=True)
        )
        return (
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) "
            f"SELECT {selected} FROM unnest({arrays}) AS batch ({', '.join(COLUMNS)}) "
            "ON CONFLICT (request_id) DO NOTHING"
        )

    def _schema_sql(self) -> str:
        columns = ",\n    ".join(
            f"{name} {kind}{'' if name in NULLABLE else ' NOT NULL'}{' PRIMARY KEY' if i == 0 else ''}"
            for i, (name, kind) in enumerate(zip(COLUMNS, COLUMN_TYPES, strict=True))
        )
        create_schema = f"CREATE SCHEMA IF NOT EXISTS {self._schema};\n" if self._schema else ""
        return (
            f"{create_schema}CREATE TABLE IF NOT EXISTS {self.table} (\n    {columns}\n);\n"
            f"CREATE INDEX IF NOT EXISTS sharing_records_customer ON {self.table} (customer_id, ts);"
        )

    async def _ensure_schema(self, conn: asyncpg.Connection) -> None:
        if self._schema_ready:
            return
        async with conn.transaction():
            # Replicas starting together would race on CREATE ... IF NOT EXISTS (it is not safe
            # against concurrent creation); the lock makes them take turns.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('consentry.ledger.schema'))")
            await conn.execute(self._schema_sql())
        self._schema_ready = True

    def _acquire(self) -> asyncpg.pool.PoolAcquireContext:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL ledger is not started")
        return self._pool.acquire(timeout=self._timeout)

    async def _open(self) -> None:
        # min_size=0: creating the pool connects nowhere, so a database that is down at start-up
        # does not stop the proxy; the first probe (which also creates the table) tells whether it
        # can write, records queue (bounded) and the health check retries.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._pool_size,
            timeout=self._timeout,
            command_timeout=max(30.0, self._timeout),
        )

    @staticmethod
    def _columns(records: list[SharingRecord]) -> list[list[object]]:
        rows = [record_values(r) for r in records]
        columns = [list(column) for column in zip(*rows, strict=True)]
        ts = COLUMNS.index("ts")
        columns[ts] = [parse_ts(value) for value in columns[ts]]
        return columns

    async def _write(self, records: list[SharingRecord]) -> None:
        columns = self._columns(records)
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            await conn.execute(self._insert, *columns)

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._timeout)
        except TimeoutError:
            pool.terminate()

    async def _probe(self) -> None:
        # The batch's own INSERT into the records table, so a revoked privilege, a trigger refusing
        # rows, a read-only session or standby, a missing table all fail it; rolled back, so the
        # probe row is never visible and needs no DELETE privilege (an append-only ledger role).
        probe = probe_record()
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            transaction = conn.transaction()
            await transaction.start()
            try:
                await conn.execute(self._insert, *self._columns([probe]))
                found = await conn.fetchval(
                    f"SELECT count(*) FROM {self.table} WHERE request_id = $1", probe.request_id
                )
            finally:
                await transaction.rollback()
        if found != 1:
            raise LedgerProbeError("the probe row was not read back")

    async def _select(self, column: str, value: str) -> list[SharingRecord]:
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            rows = await conn.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE {column} = $1 ORDER BY ts, request_id",
                value,
            )
        return [record_from_row(r) for r in rows]

    async def get(self, request_id: str) -> SharingRecord | None:
        found = await self._select("request_id", request_id)
        return found[0] if found else None

    async def for_customer(self, customer_id: str) -> list[SharingRecord]:
        return await self._select("customer_id", customer_id)
