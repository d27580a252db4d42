"""PostgreSQL sharing ledger: the store when several replicas share one ledger (asyncpg pool).

Erasure against replicas still holding the customer's records in memory: a batch insert takes a
shared transaction-level advisory lock per distinct customer of the batch (in sorted order, so
two batches never deadlock), then inserts only rows no tombstone covers. An erasure takes that
customer's lock exclusively while it writes the tombstone. So a batch either committed before the
tombstone (and the erasure's deletes find its rows) or its INSERT statement - a new snapshot in
READ COMMITTED, taken after the lock was granted - sees the tombstone and skips them."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

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
from proxy.pg import close_pool, quote_schema

if TYPE_CHECKING:
    from proxy.ledger.retention import RetentionPolicy

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
NOT_PROBE = "decision <> 'probe'"


def lock_id(*parts: str) -> int:
    """A signed 64-bit advisory lock id. The schema is part of it, so ledgers in different
    schemas of one database never wait on each other (a collision only ever makes one wait)."""
    digest = hashlib.sha256("\x00".join(("consentry.ledger", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _filters(
    customer_id: str | None, since: datetime | None, until: datetime | None
) -> tuple[list[str], list[Any]]:
    where = [NOT_PROBE]
    args: list[Any] = []
    for condition, value in (("customer_id = ", customer_id), ("ts >= ", since), ("ts < ", until)):
        if value is not None:
            args.append(value)
            where.append(f"{condition}${len(args)}")
    return where, args




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
        self._dsn = dsn
        # None: the table goes wherever the connection's search_path puts it.
        self._schema = quote_schema(schema) if schema else None
        self._schema_name = schema or ""
        self.table = f"{self._schema}.sharing_records" if self._schema else "sharing_records"
        self.erasures = f"{self._schema}.ledger_erasures" if self._schema else "ledger_erasures"
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
        # The last array is each row's customer key: rows an erasure tombstone covers are skipped.
        key_array = f"${len(COLUMNS) + 1}::text[]"
        return (
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) "
            f"SELECT {selected} FROM unnest({arrays}, {key_array}) "
            f"AS batch ({', '.join(COLUMNS)}, customer_key) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.erasures} AS e "
            "WHERE e.customer_key = batch.customer_key AND batch.ts <= e.erased_at) "
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
            f"CREATE INDEX IF NOT EXISTS sharing_records_customer ON {self.table} (customer_id, ts);\n"
            f"CREATE INDEX IF NOT EXISTS sharing_records_ts ON {self.table} (ts);\n"
            f"CREATE TABLE IF NOT EXISTS {self.erasures} (\n"
            "    customer_key text PRIMARY KEY,\n    erased_at timestamptz NOT NULL\n);"
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

    def _columns(self, records: list[SharingRecord], keys: dict[str, str]) -> list[list[object]]:
        rows = [record_values(r) for r in records]
        columns = [list(column) for column in zip(*rows, strict=True)]
        ts = COLUMNS.index("ts")
        columns[ts] = [parse_ts(value) for value in columns[ts]]
        columns.append([keys[r.customer_id] for r in records])
        return columns

    def _customer_lock(self, key: str) -> int:
        return lock_id(self._schema_name, "customer", key)

    async def _write(self, records: list[SharingRecord]) -> None:
        keys = self.customer_keys(r.customer_id for r in records)
        columns = self._columns(records, keys)
        # Sorted: every batch takes its locks in one order, so two batches cannot deadlock.
        locks = sorted({self._customer_lock(k) for k in keys.values()})
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            async with conn.transaction():
                # Its own statement: the INSERT after it takes its snapshot once the locks are held.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock_shared(k) FROM unnest($1::bigint[]) AS k", locks
                )
                await conn.execute(self._insert, *columns)

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await close_pool(pool, self._timeout)

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
                await conn.execute(self._insert, *self._columns([probe], self.customer_keys([""])))
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

    # -- export, summary, erasure, retention ----------------------------------------------------

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            return list(await conn.fetch(sql, *args))

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
            args.append(provider)
            where.append(f"provider = ${len(args)}")
        if after is not None:
            args.extend(after)
            where.append(f"(ts, request_id) > (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE {' AND '.join(where)} "
            f"ORDER BY ts, request_id LIMIT ${len(args)}"
        )
        rows = await self._fetch(sql, args)
        cursor = (rows[-1]["ts"], rows[-1]["request_id"]) if rows else after
        return [record_from_row(r) for r in rows], cursor

    async def _aggregate(
        self, customer_id: str | None, since: datetime | None, until: datetime | None
    ) -> Aggregates:
        where_list, args = _filters(customer_id, since, until)
        where = " AND ".join(where_list)
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            # One snapshot for the three queries: the counts describe the same moment.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                providers = await conn.fetch(
                    "SELECT provider, count(*), count(*) FILTER (WHERE decision = 'forwarded'), "
                    "count(*) FILTER (WHERE decision = 'blocked'), "
                    "count(*) FILTER (WHERE decision = 'failed') "
                    f"FROM {self.table} WHERE {where} GROUP BY provider",
                    *args,
                )
                entities = await conn.fetch(
                    "SELECT e.key, sum((e.value ->> 'count')::bigint), count(*) "
                    f"FROM {self.table} AS r CROSS JOIN LATERAL jsonb_each(r.entities) AS e "
                    f"WHERE {where} GROUP BY e.key",
                    *args,
                )
                months = await conn.fetch(
                    "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM'), provider, count(*) "
                    f"FROM {self.table} WHERE {where} GROUP BY 1, 2",
                    *args,
                )
        return Aggregates(
            providers=[tuple(r) for r in providers],  # type: ignore[misc]
            entities=[tuple(r) for r in entities],  # type: ignore[misc]
            months=[tuple(r) for r in months],  # type: ignore[misc]
        )

    async def _tombstone(self, key: str) -> datetime:
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            async with conn.transaction():
                # Exclusive: waits for batches of this customer in flight to commit, and holds
                # new ones back until the tombstone is committed.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._customer_lock(key))
                # clock_timestamp(), not now(): the time after the lock was granted.
                erased_at: datetime = await conn.fetchval(
                    f"INSERT INTO {self.erasures} AS e (customer_key, erased_at) "
                    "VALUES ($1, clock_timestamp()) ON CONFLICT (customer_key) "
                    "DO UPDATE SET erased_at = greatest(e.erased_at, excluded.erased_at) "
                    "RETURNING erased_at",
                    key,
                )
        return erased_at

    async def _delete_batch(self, sql: str, *args: Any) -> int:
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            status = await conn.execute(sql, *args)
        # "DELETE <n>"
        return int(status.split()[-1])

    async def _delete_erased(self, customer_id: str, erased_at: datetime, limit: int) -> int:
        return await self._delete_batch(
            f"DELETE FROM {self.table} WHERE request_id IN (SELECT request_id FROM {self.table} "
            "WHERE customer_id = $1 AND ts <= $2 LIMIT $3)",
            customer_id,
            erased_at,
            limit,
        )

    async def purge_before(self, cutoff: datetime, batch_size: int) -> int:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            async with conn.transaction():
                status = await conn.execute(
                    f"DELETE FROM {self.table} WHERE request_id IN (SELECT request_id FROM {self.table} "
                    "WHERE ts < $1 ORDER BY ts LIMIT $2)",
                    cutoff,
                    batch_size,
                )
                await conn.execute(f"DELETE FROM {self.erasures} WHERE erased_at < $1", cutoff)
        return int(status.split()[-1])

    @contextlib.asynccontextmanager
    async def _purge_lock(self) -> AsyncIterator[bool]:
        lock = lock_id(self._schema_name, "retention")
        async with self._acquire() as conn:
            await self._ensure_schema(conn)
            # A session lock on a connection held for the whole run: released when the run ends,
            # or by the server if this replica dies mid-run.
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):
                yield False
                return
            try:
                yield True
            finally:
                # A connection broken mid-run cannot unlock, and needs not: the pool resets it
                # (pg_advisory_unlock_all) or the server ends its session.
                with contextlib.suppress(Exception):
                    await conn.execute("SELECT pg_advisory_unlock($1)", lock)

    def purge_lock(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Only one replica purges at a time; the others skip the run."""
        return self._purge_lock()
