"""The sharing ledger: one record per proxied request, written off the hot path.

One batching writer (`base.BatchingLedger`) and two stores: SQLite, the embedded default, and
PostgreSQL for several replicas sharing one ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from models.sharing import SharingRecord
from proxy.ledger.base import BatchingLedger
from proxy.ledger.sqlite import SqliteLedger
from proxy.metrics import Metrics

if TYPE_CHECKING:
    from proxy.config import LedgerConfig

__all__ = ["BatchingLedger", "Ledger", "SqliteLedger", "make_ledger"]


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


def make_ledger(config: LedgerConfig, metrics: Metrics) -> Ledger:
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
        )
    if config.backend == "sqlite":
        return SqliteLedger(
            config.path,
            metrics,
            config.batch_size,
            config.flush_interval_s,
            config.max_queued,
            config.probe_interval_s,
        )
    raise ValueError(f"unknown ledger backend {config.backend!r}")
