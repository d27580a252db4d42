"""What every ledger backend shares: the record <-> row mapping, the one batching writer and the
health check that says whether records really reach the store.

The request path only appends to a bounded in-memory queue; one background task writes batches to
the backend. A backend implements storage alone (open, write a batch, probe, reopen, read, close),
so queueing, retry, the bound, the health state and the metrics behave the same whichever store is
behind them.

Health is never taken on trust: a store that accepts a connection (or a transaction that is rolled
back) may still lose every record - a SQLite file deleted from under the open connection, a file
opened read-only, a table with a trigger refusing inserts. So `healthy` is the outcome of the last
real write: every batch, and a probe that writes a row into the records table and reads it back,
run every `probe_interval_s` also when no requests come. A failure is logged and counted at once,
the records stay queued (within `max_queued`) and the store is reopened and probed until it writes
again; the proxy decides from `healthy` whether to go on (`ledger.on_failure`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from models.sharing import EntityTally, SharingRecord
from proxy.metrics import Metrics

if TYPE_CHECKING:
    from proxy.ledger.retention import RetentionPolicy, RetentionTask

log = logging.getLogger("consentry.ledger")

DEFAULT_MAX_QUEUED = 100_000

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

# Retry pauses after a failed write grow up to this, so a store that is down for an hour costs a few
# hundred log lines, not one per second.
MAX_RETRY_PAUSE_S = 10.0
# While records are being dropped, one error line per this many seconds (with the count) is enough.
DROP_LOG_INTERVAL_S = 10.0
# How often the health check writes its probe row, and how long one probe may take.
DEFAULT_PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 5.0
# While the store stays unwritable, a reminder with the queue length this often.
FAILING_LOG_INTERVAL_S = 60.0
# The request id of a probe row: never a proxy request id (those are 32 hex digits).
PROBE_ID_PREFIX = "consentry-probe-"
# Erasure deletes this many rows per transaction, so erasing a customer with a million records
# never holds one long lock against the writer.
ERASE_BATCH_SIZE = 5000
DEFAULT_PAGE_SIZE = 1000
DECISIONS = ("forwarded", "blocked", "failed")

CustomerKey = Callable[[str], str]


def unkeyed_customer_key(customer_id: str) -> str:
    """Fallback tombstone key when no keyed hash was configured: stable across replicas (so an
    erasure still holds everywhere) but, unlike `keyed_customer_key`, guessable for guessable ids.
    The proxy passes the keyed one."""
    return hashlib.sha256(f"consentry-ledger-erasure\x00{customer_id}".encode()).hexdigest()


def keyed_customer_key(hash_key: bytes) -> CustomerKey:
    """The tombstone key the proxy uses: HMAC-SHA256 of the customer id under the shared
    `hash_key`, so every replica computes the same key and the table never holds the id."""
    # Imported here: the transform module is the one place the proxy's HMAC construction lives.
    from proxy.transform import Hasher

    hasher = Hasher(hash_key)

    def key(customer_id: str) -> str:
        return hasher.digest(customer_id, "ledger-erasure", 64)

    return key


class Row(Protocol):
    """A stored row indexable by column name (sqlite3.Row, asyncpg.Record, a dict)."""

    def __getitem__(self, key: str, /) -> Any: ...


def entities_json(record: SharingRecord) -> str:
    return orjson.dumps({k: asdict(v) for k, v in sorted(record.entities.items())}).decode()


def record_values(record: SharingRecord) -> tuple[Any, ...]:
    """The record's column values in COLUMNS order; backends convert types they store differently."""
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
        entities_json(record),
        record.streamed,
        record.request_bytes,
        record.response_bytes,
        record.upstream_status,
        record.upstream_latency_ms,
        record.total_latency_ms,
        record.consent_version,
    )


def record_from_row(row: Row) -> SharingRecord:
    """A record from a row keyed by COLUMNS; `ts` may be ISO text or an aware datetime, `entities`
    JSON text or an already decoded mapping."""
    raw_entities = row["entities"]
    if isinstance(raw_entities, str | bytes):
        raw_entities = orjson.loads(raw_entities)
    ts = row["ts"]
    return SharingRecord(
        request_id=row["request_id"],
        timestamp=format_ts(ts) if isinstance(ts, datetime) else ts,
        customer_id=row["customer_id"],
        app=row["app"],
        provider=row["provider"],
        operation=row["operation"],
        model=row["model"],
        decision=row["decision"],
        reason=row["reason"],
        entities={k: EntityTally(**v) for k, v in raw_entities.items()},
        streamed=bool(row["streamed"]),
        request_bytes=row["request_bytes"],
        response_bytes=row["response_bytes"],
        upstream_status=row["upstream_status"],
        upstream_latency_ms=row["upstream_latency_ms"],
        total_latency_ms=row["total_latency_ms"],
        consent_version=row["consent_version"],
    )


def parse_ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    # Records carry UTC; a timestamp without an offset is read as UTC rather than the host's zone.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_ts(value: datetime) -> str:
    # The same shape the pipeline writes (milliseconds, +00:00), so a record reads back unchanged.
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.astimezone(UTC).isoformat(timespec=spec)


def probe_record() -> SharingRecord:
    """The row a health probe writes and reads back; it never stays in the ledger."""
    return SharingRecord(
        request_id=PROBE_ID_PREFIX + uuid.uuid4().hex,
        timestamp=format_ts(datetime.now(UTC)),
        customer_id="",
        app="",
        provider="",
        operation="probe",
        model="",
        decision="probe",
        reason="",
    )


def utc(value: datetime, what: str) -> datetime:
    """An aware datetime in UTC; a naive one is refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


@dataclass
class Aggregates:
    """What a backend's SQL aggregation returns for a summary, before it is shaped."""

    # (provider, records, forwarded, blocked, failed)
    providers: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    # (entity type, entities, records)
    entities: list[tuple[str, int, int]] = field(default_factory=list)
    # ("YYYY-MM", provider, records)
    months: list[tuple[str, str, int]] = field(default_factory=list)


def shape_summary(
    customer_id: str | None, since: datetime | None, until: datetime | None, agg: Aggregates
) -> dict[str, Any]:
    """The contract's Summary document."""
    by_provider = {
        provider: {"records": int(n), "forwarded": int(f), "blocked": int(b), "failed": int(x)}
        for provider, n, f, b, x in sorted(agg.providers)
    }
    by_month: dict[str, dict[str, int]] = {}
    for month, provider, n in sorted(agg.months):
        by_month.setdefault(month, {})[provider] = int(n)
    return {
        "customer_id": customer_id,
        "since": format_ts(since) if since is not None else None,
        "until": format_ts(until) if until is not None else None,
        "total": sum(v["records"] for v in by_provider.values()),
        "by_provider": by_provider,
        "by_entity_type": {
            etype: {"entities": int(n), "records": int(r)} for etype, n, r in sorted(agg.entities)
        },
        "by_month": by_month,
    }


class LedgerProbeError(Exception):
    """The probe row was written but could not be read back."""


def describe_error(exc: BaseException) -> str:
    """A log-safe description: driver messages can quote the values of a failed row, so only the
    exception type and any SQLSTATE / SQLite error name are logged."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "sqlite_errorname", None)
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__


class BatchingLedger(ABC):
    """Queueing, batching, retry and the queue bound; subclasses provide the storage."""

    def __init__(
        self,
        metrics: Metrics,
        batch_size: int = 200,
        flush_interval_s: float = 0.2,
        max_queued: int = DEFAULT_MAX_QUEUED,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
        *,
        customer_key: CustomerKey | None = None,
        retention: RetentionPolicy | None = None,
    ):
        if batch_size < 1 or max_queued < 1 or flush_interval_s < 0 or probe_interval_s <= 0:
            raise ValueError(
                "batch_size, max_queued and probe_interval_s must be positive, flush_interval_s not negative"
            )
        self._metrics = metrics
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._max_queued = max_queued
        self._queue: deque[SharingRecord] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._started = False
        self._dropped_unlogged = 0
        self._last_drop_log = -math.inf
        self._probe_interval = probe_interval_s
        self._health_task: asyncio.Task[None] | None = None
        # Health: False until a first write or probe succeeds. `_reopen` asks the next check to
        # reopen the store first (a SQLite connection opened read-only stays read-only).
        self._healthy = False
        self._reopen = False
        self._failing_since: float | None = None
        self._last_failing_log = -math.inf
        self._recovered = asyncio.Event()
        self._customer_key = customer_key or unkeyed_customer_key
        self._retention_policy = retention
        self._retention: RetentionTask | None = None

    # -- storage, per backend -------------------------------------------------------------------

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _write(self, records: list[SharingRecord]) -> None:
        """Store a batch atomically; a record whose request_id is stored already is left as it is."""

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _probe(self) -> None:
        """Write `probe_record()` into the records table as a batch would, read it back, and leave
        nothing behind; raise when any step fails."""

    async def _recover(self) -> None:  # noqa: B027 - optional: most stores reconnect by themselves
        """Called before the next probe after a failure: reopen what can be reopened. Default: the
        store reconnects by itself."""

    @abstractmethod
    async def get(self, request_id: str) -> SharingRecord | None: ...

    @abstractmethod
    async def for_customer(self, customer_id: str) -> list[SharingRecord]: ...

    # Export, summary, erasure and retention: not abstract, so a store that only writes (a test
    # double) need not implement them.

    async def _page(
        self,
        customer_id: str,
        since: datetime | None,
        until: datetime | None,
        provider: str | None,
        after: Any,
        limit: int,
    ) -> tuple[list[SharingRecord], Any]:
        """Up to `limit` records of the customer ordered by (ts, request_id), strictly after the
        cursor `after` (None: from the start); and the cursor of the last one."""
        raise NotImplementedError

    async def _aggregate(
        self, customer_id: str | None, since: datetime | None, until: datetime | None
    ) -> Aggregates:
        raise NotImplementedError

    async def _tombstone(self, key: str) -> datetime:
        """Record (or move forward) the erasure tombstone for `key`, atomically with respect to
        batch inserts; returns its erased_at (aware UTC)."""
        raise NotImplementedError

    async def _delete_erased(self, customer_id: str, erased_at: datetime, limit: int) -> int:
        """Delete at most `limit` of the customer's records with ts <= erased_at, in one transaction."""
        raise NotImplementedError

    async def _scrub(self) -> None:
        """After an erasure: drops the copies of deleted rows the store still keeps in its files
        (SQLite's write-ahead log). Nothing to do by default."""
        return None

    async def purge_before(self, cutoff: datetime, batch_size: int) -> int:
        """Deletes at most `batch_size` of the oldest records older than `cutoff` (one bounded
        transaction), and erasure tombstones older than it; returns the records deleted."""
        raise NotImplementedError

    def purge_lock(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Held for one retention run; yields False when another replica is purging. One process
        per store by default."""
        return _always_mine()

    # -- export, summary, erasure ---------------------------------------------------------------

    def customer_keys(self, customer_ids: Iterable[str]) -> dict[str, str]:
        """The tombstone key of each distinct customer id."""
        return {cid: self._customer_key(cid) for cid in set(customer_ids)}

    async def iter_for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        provider: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[SharingRecord]:
        """The customer's records oldest first, `since` inclusive, `until` exclusive; one bounded
        query per page, keyed on (ts, request_id), so a page is never skipped or repeated while
        records are written or erased meanwhile."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        since = utc(since, "since") if since is not None else None
        until = utc(until, "until") if until is not None else None
        after: Any = None
        while True:
            page, after = await self._page(customer_id, since, until, provider, after, page_size)
            for rec in page:
                yield rec
            if len(page) < page_size:
                return

    async def summary(
        self,
        customer_id: str | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """Counts by provider, entity type and month (UTC) of one customer's records, or of all
        when `customer_id` is None, aggregated by the store."""
        since = utc(since, "since") if since is not None else None
        until = utc(until, "until") if until is not None else None
        return shape_summary(customer_id, since, until, await self._aggregate(customer_id, since, until))

    async def erase_customer(self, customer_id: str) -> int:
        """Deletes the customer's sharing records; returns how many.

        The tombstone comes first: from its commit on, no batch - this replica's, another's, or
        one in flight - stores a record of the customer timestamped at or before the erasure.
        Then the stored records go in bounded transactions. Records timestamped later (a new
        request) are recorded as usual."""
        erased_at = await self._tombstone(self._customer_key(customer_id))
        self._drop_queued(customer_id, erased_at)
        deleted = 0
        while True:
            n = await self._delete_erased(customer_id, erased_at, ERASE_BATCH_SIZE)
            deleted += n
            if n < ERASE_BATCH_SIZE:
                break
        await self._scrub()
        self._metrics.ledger_erased.inc(deleted)
        return deleted

    def _drop_queued(self, customer_id: str, erased_at: datetime) -> None:
        # Between awaits nothing else touches the queue; a batch in flight is not in it, and the
        # tombstone stops it in the store.
        kept = [r for r in self._queue if r.customer_id != customer_id or parse_ts(r.timestamp) > erased_at]
        if len(kept) != len(self._queue):
            self._queue = deque(kept)
            self._metrics.ledger_queue.set(len(self._queue))

    # -- the shared writer ----------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def healthy(self) -> bool:
        """True while the last write to the store (a batch or a probe) succeeded."""
        return self._started and self._healthy

    async def start(self) -> None:
        opened = False
        try:
            await self._open()
            opened = True
        except Exception as exc:
            # Started anyway, like a database that is down: not healthy, so readiness and the
            # failure policy say so, and the health check keeps trying to open it.
            self._metrics.ledger_probe_failures.inc()
            self._failed(exc, "open")
        self._started = True
        if opened:
            # The first probe runs before the proxy takes requests: healthy only if a row can be
            # written and read back.
            await self.writable()
        self._task = asyncio.create_task(self._writer(), name="ledger-writer")
        self._health_task = asyncio.create_task(self._watch(), name="ledger-health")
        if self._retention_policy is not None and self._retention_policy.enabled:
            from proxy.ledger.retention import RetentionTask

            self._retention = RetentionTask(self, self._retention_policy, self._metrics)
            self._retention.start()

    async def writable(self) -> bool:
        """Probes the store now (reopening it first after a failure): can a record be written and
        read back? Updates `healthy` and the metrics."""
        if not self._started:
            return False
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                if self._reopen:
                    await self._recover()
                    self._reopen = False
                await self._probe()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._metrics.ledger_probe_failures.inc()
            self._failed(exc, "probe")
            return False
        self._succeeded()
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval)
            await self.writable()

    def _failed(self, exc: BaseException, what: str) -> None:
        """A write, probe or open failed: not healthy from now, logged without any record content."""
        now = time.monotonic()
        self._reopen = True
        self._recovered.clear()
        self._metrics.ledger_up.set(0)
        if self._healthy or self._failing_since is None:
            self._healthy = False
            self._failing_since = now
            self._last_failing_log = now
            log.error(
                "sharing ledger cannot write (%s failed: %s); %d records queued for retry (at most %d)",
                what,
                describe_error(exc),
                len(self._queue),
                self._max_queued,
            )
        elif now - self._last_failing_log >= FAILING_LOG_INTERVAL_S:
            self._last_failing_log = now
            log.error(
                "sharing ledger still cannot write after %.0f s (%s); %d records queued",
                now - self._failing_since,
                describe_error(exc),
                len(self._queue),
            )

    def _succeeded(self) -> None:
        self._metrics.ledger_last_write.set(time.time())
        self._metrics.ledger_up.set(1)
        if self._healthy:
            return
        if self._failing_since is not None:
            log.warning(
                "sharing ledger writes again after %.1f s; writing %d queued records",
                time.monotonic() - self._failing_since,
                len(self._queue),
            )
        self._healthy = True
        self._failing_since = None
        self._reopen = False
        self._recovered.set()
        self._wake.set()

    def submit(self, record: SharingRecord) -> None:
        self._queue.append(record)
        self._enforce_bound()
        self._metrics.ledger_queue.set(len(self._queue))
        self._wake.set()

    def _enforce_bound(self) -> None:
        """Drops the oldest records beyond the bound: while the store is down, memory must not grow
        without limit, and the newest records are the ones most likely still asked about."""
        excess = len(self._queue) - self._max_queued
        if excess <= 0:
            return
        for _ in range(excess):
            self._queue.popleft()
        self._metrics.ledger_dropped.inc(excess)
        self._dropped_unlogged += excess
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            log.error(
                "ledger queue full (%d records): dropped the %d oldest sharing records",
                self._max_queued,
                self._dropped_unlogged,
            )
            self._dropped_unlogged = 0
            self._last_drop_log = now

    def _requeue(self, batch: list[SharingRecord]) -> None:
        # Back at the front, so order is kept and the bound drops the oldest first.
        self._queue.extendleft(reversed(batch))
        self._enforce_bound()

    async def _drain_once(self, limit: int) -> int | None:
        """Writes up to `limit` records; the number written, or None when the write failed (the
        batch is kept for the next try)."""
        batch = [self._queue.popleft() for _ in range(min(limit, len(self._queue)))]
        if not batch:
            return 0
        try:
            await self._write(batch)
        except asyncio.CancelledError:
            # The write may or may not have landed; writes are idempotent, so keeping it is safe.
            self._requeue(batch)
            raise
        except Exception as exc:
            self._metrics.ledger_errors.inc()
            log.error(
                "ledger batch of %d records failed: %s; kept for retry", len(batch), describe_error(exc)
            )
            self._requeue(batch)
            self._failed(exc, "batch write")
            return None
        else:
            self._metrics.ledger_written.inc(len(batch))
            self._succeeded()
            return len(batch)
        finally:
            self._metrics.ledger_queue.set(len(self._queue))

    async def flush(self) -> bool:
        """Writes what was queued when called (not what arrives meanwhile, so a steady stream of
        requests cannot keep a caller here); the lock makes a caller wait for a batch in flight."""
        async with self._lock:
            remaining = len(self._queue)
            while remaining > 0 and self._queue:
                written = await self._drain_once(min(remaining, self._batch_size))
                if written is None:
                    return False
                remaining -= written
            return True

    async def _writer(self) -> None:
        pause = 1.0
        while True:
            await self._wake.wait()
            # A short pause lets a burst of requests share one transaction.
            await asyncio.sleep(self._interval)
            self._wake.clear()
            if await self.flush():
                pause = 1.0
            else:
                self._wake.set()
                # The health check reopens and probes the store meanwhile; when a probe succeeds
                # the queued records go at once instead of after the rest of the pause.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._recovered.wait()
                pause = min(pause * 2, MAX_RETRY_PAUSE_S)

    async def close(self, retry_for_s: float = 0.0) -> None:
        """Stops the writer, writes what is queued - retrying, after reopening the store, for up to
        `retry_for_s` while it fails - counts and logs what could not be written, and releases the
        store."""
        if self._retention is not None:
            await self._retention.stop()
            self._retention = None
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        if self._task is not None:
            # Taking the lock first means no batch is in flight when the writer is stopped.
            async with self._lock:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._started:
            deadline = time.monotonic() + retry_for_s
            while not await self.flush() and time.monotonic() < deadline:
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                with contextlib.suppress(Exception):
                    await self._recover()
            if self._queue:
                lost = len(self._queue)
                self._queue.clear()
                self._metrics.ledger_dropped.inc(lost)
                self._metrics.ledger_queue.set(0)
                log.error("ledger closed with %d sharing records that could not be written", lost)
            self._started = False
            self._healthy = False
            self._metrics.ledger_up.set(0)
            await self._close()


@contextlib.asynccontextmanager
async def _always_mine() -> AsyncIterator[bool]:
    yield True
