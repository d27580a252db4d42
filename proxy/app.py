"""The aiohttp application: wiring of the pipeline, health, readiness and metrics endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from proxy.auth import KeyRing
from proxy.config import Config
from proxy.detection import Detector, Instrumented, PresidioDetector
from proxy.ledger import make_ledger
from proxy.metrics import Metrics
from proxy.pipeline import Pipeline
from proxy.providers.registry import build_adapters
from proxy.upstream import Upstream
from rules.store import ConsentStore, RulesFileConsentStore

log = logging.getLogger("consentry.app")

# At shutdown, how long the ledger keeps retrying to write what is queued (after the drain).
LEDGER_CLOSE_RETRY_S = 5.0

PIPELINE = web.AppKey("pipeline", Pipeline)
DETECTOR_TASK = web.AppKey("detector_task", asyncio.Task)
RULES_WATCH = web.AppKey("rules_watch", asyncio.Task)


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
    consents = consents or RulesFileConsentStore(config.rules_path, config.provider_names)
    ledger = make_ledger(config.ledger, metrics)
    upstream = Upstream()
    pipeline = Pipeline(
        config, build_adapters(config, KeyRing(config.apps)), consents, detector, ledger, metrics, upstream
    )

    app = web.Application(client_max_size=config.max_body_bytes)
    app[PIPELINE] = pipeline

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        # The ledger's state is its last real write (a batch, or the probe every probe_interval_s).
        checks = {"detector": detector.ready, "ledger": ledger.healthy}
        if pipeline.in_flight.draining:
            status = "draining"
        elif not checks["detector"] or not (checks["ledger"] or config.ledger.on_failure == "degrade"):
            status = "not_ready"
        else:
            # With `ledger.on_failure: degrade` a failing ledger leaves the proxy serving, and says so.
            status = "ready" if checks["ledger"] else "degraded"
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
        await upstream.start()
        # The model loads in the background: /healthz answers at once, /readyz once it is loaded,
        # and until then requests that need detection are refused (fail closed).
        app[DETECTOR_TASK] = asyncio.create_task(detector.start(), name="detector-start")
        if isinstance(consents, RulesFileConsentStore):
            # A consent change (e.g. a withdrawal) applies within a second, without a restart.
            app[RULES_WATCH] = asyncio.create_task(consents.watch(), name="rules-watch")
            # No signal handlers off the main thread (test servers) or on Windows.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, consents.reload)

    async def on_cleanup(app: web.Application) -> None:
        for key in (DETECTOR_TASK, RULES_WATCH):
            task = app.get(key)
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if isinstance(consents, RulesFileConsentStore):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await upstream.close()
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
