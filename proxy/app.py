"""The aiohttp application: wiring of the pipeline, health, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from proxy.admin.app import build_admin_app
from proxy.admin.auth import AdminTokens
from proxy.admin.service import PrivacyService
from proxy.auth import KeyRing
from proxy.config import Config
from proxy.consents import make_consent_records
from proxy.consents.live import LiveConsents
from proxy.detection import Detector, Instrumented, PresidioDetector
from proxy.ledger import keyed_customer_key, make_ledger
from proxy.metrics import Metrics
from proxy.pipeline import Pipeline
from proxy.providers.registry import build_adapters
from proxy.transform import Hasher
from proxy.upstream import Upstream
from rules.store import ConsentStore, RulesFileConsentStore

log = logging.getLogger("consentry.app")

# At shutdown, how long the ledger keeps retrying to write what is queued (after the drain).
LEDGER_CLOSE_RETRY_S = 5.0

PIPELINE = web.AppKey("pipeline", Pipeline)
DETECTOR_TASK = web.AppKey("detector_task", asyncio.Task)
RULES_WATCH = web.AppKey("rules_watch", asyncio.Task)
ADMIN_RUNNER = web.AppKey("admin_runner", web.AppRunner)
LIVE_CONSENTS = web.AppKey("live_consents", LiveConsents)


def build_app(
    config: Config,
    *,
    detector: Detector | None = None,
    consents: ConsentStore | None = None,
    owns_detector: bool | None = None,
) -> web.Application:
    metrics = Metrics()
    own = detector is None if owns_detector is None else owns_detector
    settings = config.detection
    detector = detector or PresidioDetector(
        settings.model,
        settings.timeout_s,
        settings.workers,
        settings.cache_entries,
        settings.phone_regions,
        max_queue_wait_s=settings.max_queue_wait_s,
        max_queued_jobs=settings.max_queued_jobs,
        worker_max_rss_mb=settings.worker_max_rss_mb,
    )
    if isinstance(detector, Instrumented):
        detector.instrument(metrics)
    rules_file = RulesFileConsentStore(config.rules_path, config.provider_names)
    live = LiveConsents(
        rules_file,
        make_consent_records(config),
        metrics,
        store_outage=config.consent.store_outage,
        max_stale_s=config.consent.max_stale_s,
        check_interval_s=config.consent.check_interval_s,
    )
    consents = consents or live
    # Erasure tombstones hold a keyed hash of the customer id, the same on every replica.
    ledger = make_ledger(config.ledger, metrics, customer_key=keyed_customer_key(config.hash_key))
    # Made now, so a bad token file stops the start like any other configuration error.
    admin_tokens = AdminTokens(config.admin) if config.admin.enabled else None
    upstream = Upstream()
    pipeline = Pipeline(
        config, build_adapters(config, KeyRing(config.apps)), consents, detector, ledger, metrics, upstream
    )

    app = web.Application(client_max_size=config.max_body_bytes)
    app[PIPELINE] = pipeline
    app[LIVE_CONSENTS] = live

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        # The ledger's state is its last real write (a batch, or the probe every probe_interval_s).
        checks = {"detector": detector.ready, "ledger": ledger.healthy, "consent_store": live.synced}
        if pipeline.in_flight.draining:
            status = "draining"
        elif (
            not checks["detector"]
            or not (checks["ledger"] or config.ledger.on_failure == "degrade")
            or not live.serving
        ):
            status = "not_ready"
        else:
            # With `ledger.on_failure: degrade` a failing ledger leaves the proxy serving, and says so;
            # so does a consent store that is away while `consent.store_outage: serve` allows it.
            status = "ready" if checks["ledger"] and checks["consent_store"] else "degraded"
        ok = status in ("ready", "degraded")
        return web.json_response({"ready": ok, "status": status, "checks": checks}, status=200 if ok else 503)

    async def metrics_endpoint(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"})

    async def on_response_prepare(_: web.Request, response: web.StreamResponse) -> None:
        if pipeline.in_flight.draining:
            # Every answer while draining closes its connection: no more requests come on it.
            response.force_close()

    async def on_startup(app: web.Application) -> None:
        await ledger.start()
        await live.start()
        await upstream.start()
        # The model loads in the background: /healthz answers at once, /readyz once it is loaded,
        # and until then requests that need detection are refused (fail closed).
        app[DETECTOR_TASK] = asyncio.create_task(detector.start(), name="detector-start")
        # A change of the rules file applies within a second, without a restart.
        app[RULES_WATCH] = asyncio.create_task(rules_file.watch(), name="rules-watch")
        # No signal handlers off the main thread (test servers) or on Windows.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, rules_file.reload)
        if admin_tokens is not None:
            service = PrivacyService(live, ledger, Hasher(config.hash_key))
            runner = web.AppRunner(
                build_admin_app(service, admin_tokens, metrics, config.provider_names),
                access_log=None,
                handle_signals=False,
                shutdown_timeout=1.0,
            )
            await runner.setup()
            try:
                await web.TCPSite(
                    runner, config.admin.host, config.admin.port, reuse_port=config.workers > 1 or None
                ).start()
            except OSError:
                await runner.cleanup()
                raise
            app[ADMIN_RUNNER] = runner
            log.info("admin API on http://%s:%d/admin/", config.admin.host, config.admin.port)

    async def on_cleanup(app: web.Application) -> None:
        admin_runner = app.get(ADMIN_RUNNER)
        if admin_runner is not None:
            await admin_runner.cleanup()
        for key in (DETECTOR_TASK, RULES_WATCH):
            task = app.get(key)
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await upstream.close()
        await live.close()
        await ledger.close(retry_for_s=LEDGER_CLOSE_RETRY_S)
        if own:
            await detector.close()

    app.on_response_prepare.append(on_response_prepare)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_route("*", "/{tail:.*}", pipeline.handle)
    return app
