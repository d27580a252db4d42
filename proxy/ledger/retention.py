"""Retention: records older than `ledger.retention_days` are deleted in the background.

A run deletes bounded batches, one transaction each, with a short pause between them so the
writer's batches go on; it ends when a batch comes back short. With several replicas on one
PostgreSQL store only one purges at a time (the ledger's `purge_lock`); the others skip the run.
A failed run is counted and logged (error type only, never record content) and the task goes on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from proxy.ledger.base import describe_error
from proxy.metrics import Metrics

if TYPE_CHECKING:
    from proxy.ledger.base import BatchingLedger

log = logging.getLogger("consentry.ledger")


@dataclass(frozen=True)
class RetentionPolicy:
    # 0: keep forever (no task runs).
    retention_days: float = 365
    interval_s: float = 3600.0
    batch_size: int = 5000
    # Between two batches of one run: the writer gets the store in between.
    pause_s: float = 0.05

    @property
    def enabled(self) -> bool:
        return self.retention_days > 0


class RetentionTask:
    def __init__(self, ledger: BatchingLedger, policy: RetentionPolicy, metrics: Metrics):
        if policy.batch_size < 1 or policy.interval_s <= 0 or policy.pause_s < 0:
            raise ValueError("retention needs a positive batch_size and interval_s")
        self._ledger = ledger
        self._policy = policy
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="ledger-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                # Stopping must not fail the ledger's close (which still has records to write).
                log.error("ledger retention task ended with %s", describe_error(exc))

    async def _loop(self) -> None:
        # First run at start: a proxy redeployed more often than the interval still purges.
        while True:
            await self.run_once()
            await asyncio.sleep(self._policy.interval_s)

    async def run_once(self) -> str:
        """One retention run; returns its outcome (ok, failed, skipped) as counted."""
        outcome = "ok"
        purged = 0
        try:
            async with self._ledger.purge_lock() as mine:
                if not mine:
                    outcome = "skipped"
                else:
                    purged = await self._purge()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = "failed"
            # Batches deleted before the failure stay deleted (and counted); the next run goes on.
            log.error("ledger retention run failed: %s", describe_error(exc))
        self._metrics.ledger_retention_runs.labels(outcome=outcome).inc()
        if outcome == "ok" and purged:
            log.info(
                "ledger retention deleted %d records older than %g days", purged, self._policy.retention_days
            )
        return outcome

    async def _purge(self) -> int:
        # One cutoff per run: records ageing past it during the run wait for the next one.
        cutoff = datetime.now(UTC) - timedelta(days=self._policy.retention_days)
        purged = 0
        while True:
            n = await self._ledger.purge_before(cutoff, self._policy.batch_size)
            purged += n
            self._metrics.ledger_purged.inc(n)
            if n < self._policy.batch_size:
                return purged
            await asyncio.sleep(self._policy.pause_s)
