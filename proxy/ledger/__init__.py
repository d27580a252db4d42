"""The sharing ledger: one record per proxied request, written off the hot path.

One batching writer (`base.BatchingLedger`) and two stores: SQLite, the embedded default, and
PostgreSQL for several replicas sharing one ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from models.sharing import SharingRecord
from proxy.ledger.base import DEFAULT_PAGE_SIZE, BatchingLedger, CustomerKey, keyed_customer_key
from proxy.ledger.retention import RetentionPolicy
from proxy.ledger.sqlite import SqliteLedger
from proxy.metrics import Metrics

if TYPE_CHECKING:
    from proxy.config import LedgerConfig

__all__ = [
    "BatchingLedger",
    "CustomerKey",
    "Ledger",
    "RetentionPolicy",
    "SqliteLedger",
    "keyed_customer_key",
    "make_ledger",
]


class Ledger(Protocol):
    """What the proxy needs from a ledger. `submit` never waits on storage."""

    async def start(self) -> None: ...

    def submit(self, record: SharingRecord) -> None: ...

    @property
    def healthy(self) -> bool:
        """True while the last write to the store (a batch or a health probe) succeeded."""
        ...

    async def flush(self) -> bool:
        """Writes what is queued; False when the store refused (the records stay queued)."""
        ...

    async def close(self, retry_for_s: float = 0.0) -> None:
        """Flushes (retrying for up to `retry_for_s` while the store fails), then releases it."""
        ...

    async def writable(self) -> bool:
        """Probes the store now: a row written and read back."""
        ...

    async def get(self, request_id: str) -> SharingRecord | None: ...

    async def for_customer(self, customer_id: str) -> list[SharingRecord]: ...

    def iter_for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        provider: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[SharingRecord]:
        """The customer's records oldest first (`since` inclusive, `until` exclusive, aware
        datetimes), read one bounded page at a time."""
        ...

    async def summary(
        self,
        customer_id: str | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """The admin API's Summary of one customer's records, or of all (None)."""
        ...

    async def erase_customer(self, customer_id: str) -> int:
        """Deletes the customer's records (tombstone first, so none queued anywhere lands later);
        returns how many were deleted."""
        ...

    async def purge_before(self, cutoff: datetime, batch_size: int) -> int:
        """Deletes at most `batch_size` of the oldest records older than `cutoff`."""
        ...


def make_ledger(config: LedgerConfig, metrics: Metrics, *, customer_key: CustomerKey | None = None) -> Ledger:
    """`customer_key`: the keyed hash erasure tombstones store instead of the customer id; the
    proxy passes `keyed_customer_key(config.hash_key)`, the same on every replica."""
    retention = RetentionPolicy(
        retention_days=config.retention_days,
        interval_s=config.retention_interval_s,
        batch_size=config.purge_batch_size,
    )
    if config.backend == "postgres":
        # Imported here so a SQLite deployment never loads the PostgreSQL driver.
        from proxy.ledger.postgres import PostgresLedger

        return PostgresLedger(
            config.dsn,
            metrics,
            config.batch_size,
            config.flush_interval_s,
            config.max_queued,
            config.probe_interval_s,
            schema=config.schema,
            customer_key=customer_key,
            retention=retention,
        )
    if config.backend == "sqlite":
        return SqliteLedger(
            config.path,
            metrics,
            config.batch_size,
            config.flush_interval_s,
            config.max_queued,
            config.probe_interval_s,
            customer_key=customer_key,
            retention=retention,
        )
    raise ValueError(f"unknown ledger backend {config.backend!r}")
