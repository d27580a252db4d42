"""The consent the pipeline asks for: the rules file, with stored consents layered on top, kept
current in every replica.

Each replica holds every stored consent in memory (one dict lookup per request) and keeps it
current:
- its own writes (admin API, in this process) apply before the write is answered;
- PostgreSQL: a LISTEN connection hears every change any replica commits; the changed customer
  is marked pending at once and re-read, and a request for that customer waits for the re-read,
  so the very next request after a change sees it;
- SQLite: another process on the same file (the CLI) is seen by polling the generation number.

When the store cannot be reached (the listener lost, a re-read failing) `store_outage` decides:
`serve` (default) keeps serving the consents last read for up to `max_stale_s`, then refuses;
`refuse` refuses at once. A customer whose change was announced but could not be read is refused
either way, and a replica that never read the store refuses everyone: it knows nothing of any
withdrawal. On reconnecting, a replica listens first, then reloads everything if the generation
moved, and only then serves again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from models.consent import Consent
from models.consent_record import StoredConsent
from proxy.consents.records import ConsentRecords
from proxy.ledger.base import describe_error
from proxy.metrics import Metrics
from rules.loader import RuleSet
from rules.store import ConsentUnavailable, RulesFileConsentStore

log = logging.getLogger("consentry.consents")

OUTAGE_POLICIES = ("serve", "refuse")
# How long a request waits for its customer's announced change to be read.
REFRESH_WAIT_S = 2.0
MAX_RETRY_PAUSE_S = 5.0


class LiveConsents:
    def __init__(
        self,
        rules: RulesFileConsentStore,
        records: ConsentRecords,
        metrics: Metrics,
        *,
        store_outage: str = "serve",
        max_stale_s: float = 300.0,
        check_interval_s: float = 1.0,
    ) -> None:
        if store_outage not in OUTAGE_POLICIES:
            raise ValueError("store_outage must be 'serve' or 'refuse'")
        self._rules = rules
        self.records = records
        self._metrics = metrics
        self._outage = store_outage
        self._max_stale = max_stale_s
        self._interval = check_interval_s
        self._snapshot: dict[str, StoredConsent] = {}
        self._built: dict[str, tuple[RuleSet, int, Consent]] = {}
        self._generation = ""
        self._loaded = False  # the store was read at least once
        self._synced = False  # and nothing since may have been missed
        self._was_synced = False
        self._lost_at: float | None = time.monotonic()
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._notices: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._reloading: asyncio.Future[None] | None = None
        # Customers changed while a full read is under way (None: no read under way).
        self._changed_during_load: set[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._refreshes: set[asyncio.Task[None]] = set()

    # -- what the pipeline and the admin API see ----------------------------------------------

    @property
    def rules(self) -> RulesFileConsentStore:
        return self._rules

    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def serving(self) -> bool:
        """Whether requests are served now (readiness): synced, or within the outage policy."""
        return self._synced or self._within_outage_policy()

    def _within_outage_policy(self) -> bool:
        if not self._loaded or self._outage == "refuse" or self._lost_at is None:
            return False
        return self._max_stale <= 0 or time.monotonic() - self._lost_at < self._max_stale

    def stored(self, customer_id: str) -> StoredConsent | None:
        return self._snapshot.get(customer_id)

    async def get(self, customer_id: str) -> Consent:
        if self._reloading is not None:
            await self._wait(asyncio.shield(self._reloading))
        pending = self._pending.get(customer_id)
        if pending is not None:
            await self._wait(asyncio.shield(pending))
        if customer_id in self._dirty:
            raise ConsentUnavailable("this customer's consent changed and could not be read yet")
        if not self._synced and not self._within_outage_policy():
            raise ConsentUnavailable("the consent store cannot be reached")
        return self.effective(customer_id)

    async def _wait(self, future: Any) -> None:
        try:
            async with asyncio.timeout(REFRESH_WAIT_S):
                await future
        except TimeoutError:
            raise ConsentUnavailable("the consent store did not answer in time") from None

    def effective(self, customer_id: str) -> Consent:
        rules = self._rules.rules
        stored = self._snapshot.get(customer_id)
        if stored is None:
            return rules.consent_for(customer_id)
        built = self._built.get(customer_id)
        if built is not None and built[0] is rules and built[1] == stored.version:
            return built[2]
        consent = rules.consent_with(customer_id, stored.document, stored.version)
        self._built[customer_id] = (rules, stored.version, consent)
        return consent

    def applied(self, customer_id: str, stored: StoredConsent | None) -> None:
        """A change this process just committed: in force here before it is answered."""
        if customer_id in self._pending:
            # A re-read under way may have read the row before this commit: it reads again.
            self._notices[customer_id] = self._notices.get(customer_id, 0) + 1
        if self._changed_during_load is not None:
            self._changed_during_load.add(customer_id)
        self._put(customer_id, stored)

    def _put(self, customer_id: str, stored: StoredConsent | None) -> None:
        if stored is None:
            self._snapshot.pop(customer_id, None)
        else:
            self._snapshot[customer_id] = stored
        self._built.pop(customer_id, None)
        self._metrics.consent_stored_customers.set(len(self._snapshot))

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.records.start()
        except Exception as exc:
            log.error("consent store cannot be opened (%s); retrying", describe_error(exc))
        listens = hasattr(self.records, "listen")
        if not listens:
            with contextlib.suppress(Exception):
                await self._reload(force=True)
        self._task = asyncio.create_task(self._listen() if listens else self._poll(), name="consent-watch")
        if listens:
            # The first load happens before the proxy takes requests, when the database is up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10.0):
                    while not self._loaded and not self._task.done():
                        await asyncio.sleep(0.02)

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._refreshes) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.records.close()

    # -- keeping current ---------------------------------------------------------------------------

    async def _reload(self, *, force: bool = False) -> None:
        """Reads everything again if the generation moved. Requests wait for it when it matters:
        after an outage or a change (a routine check that finds nothing new holds no one up)."""
        loop = asyncio.get_running_loop()
        if not self._synced:
            self._reloading = loop.create_future()
        try:
            generation = await self.records.generation()
            if force or generation != self._generation or not self._loaded:
                if self._reloading is None:
                    self._reloading = loop.create_future()
                self._changed_during_load = set()
                try:
                    snapshot = await self.records.load_all()
                finally:
                    changed, self._changed_during_load = self._changed_during_load, None
                self._snapshot = snapshot
                self._built.clear()
                self._generation = generation
                self._metrics.consent_reloads.inc()
                self._metrics.consent_stored_customers.set(len(snapshot))
                # The rows may have been read before these changes (whose re-reads went into the
                # snapshot just replaced): each is read again, and its requests wait for that.
                for customer_id in changed:
                    self._on_notice(customer_id)
            self._dirty.clear()
            self._loaded = True
            self._mark_synced()
        finally:
            reloading, self._reloading = self._reloading, None
            if reloading is not None:
                reloading.set_result(None)

    def _mark_synced(self) -> None:
        if not self._synced and self._lost_at is not None and self._loaded:
            again = "reachable again" if self._was_synced else "read"
            log.info("consent store %s: %d stored consents in force", again, len(self._snapshot))
        self._synced = True
        self._was_synced = True
        self._lost_at = None
        self._metrics.consent_store_up.set(1)

    def _mark_lost(self, exc: BaseException) -> None:
        if self._synced or self._lost_at is None:
            self._lost_at = time.monotonic()
            log.error(
                "consent store unreachable (%s); %s",
                describe_error(exc),
                f"serving the consents last read for up to {self._max_stale:.0f} s"
                if self._outage == "serve" and self._loaded
                else "refusing requests until it is back",
            )
        self._synced = False
        self._metrics.consent_store_up.set(0)

    async def _poll(self) -> None:
        pause = self._interval
        while True:
            await asyncio.sleep(pause)
            try:
                if not self._loaded:
                    await self.records.start()
                await self._reload()
                pause = self._interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._mark_lost(exc)
                pause = min(pause * 2, MAX_RETRY_PAUSE_S)

    async def _listen(self) -> None:
        pause = self._interval
        while True:
            conn = None
            try:
                # LISTEN before reading: a change committed during the reload is heard too.
                conn = await self.records.listen(self._on_notice)  # type: ignore[attr-defined]
                await self._reload()
                pause = self._interval
                while True:
                    await asyncio.sleep(self._interval)
                    async with asyncio.timeout(max(2.0, self._interval * 2)):
                        await conn.fetchval("SELECT 1")
                    # A re-read that failed while the listener stayed up: tried again, or the
                    # customer would be refused until the next reconnect.
                    for customer_id in self._dirty - self._pending.keys():
                        self._on_notice(customer_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._mark_lost(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_PAUSE_S)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()

    def _on_notice(self, customer_id: str) -> None:
        self._notices[customer_id] = self._notices.get(customer_id, 0) + 1
        if self._changed_during_load is not None:
            self._changed_during_load.add(customer_id)
        if customer_id in self._pending:
            return  # the refresh under way reads again when it sees the new notice
        self._pending[customer_id] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._refresh(customer_id), name="consent-refresh")
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    async def _refresh(self, customer_id: str) -> None:
        future = self._pending[customer_id]
        try:
            while True:
                seen = self._notices.get(customer_id, 0)
                stored = await self.records.get(customer_id)
                self._put(customer_id, stored)
                if self._notices.get(customer_id, 0) == seen:
                    break
            self._dirty.discard(customer_id)
            self._metrics.consent_refreshes.inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Known to have changed, not known how: refused until the next reload reads it.
            self._dirty.add(customer_id)
            log.error("a consent change could not be read (%s)", describe_error(exc))
        finally:
            self._notices.pop(customer_id, None)
            self._pending.pop(customer_id, None)
            if not future.done():
                future.set_result(None)

    def snapshot(self) -> Mapping[str, StoredConsent]:
        return self._snapshot
