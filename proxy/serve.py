"""`consentry serve`: listen until SIGTERM (or SIGINT), then shut down within a known time.

The shutdown, in order:
1. readiness answers 503 at once and every new request - also on a connection kept alive from
   before - is refused with a retryable 503 in the provider's shape, its connection closed;
2. the listening socket closes: no new connections;
3. requests and streams in flight go on until `server.drain_timeout_s` after the signal;
4. what is still running then is cut (a stream as a failed stream is, a request not yet answered
   with 503), each recorded with reason `shutdown`;
5. connections close, and the ledger writes every queued record (retrying a few seconds if the
   store fails) before the process exits.
The drain deadline plus the cut and the flush stays within Kubernetes' default 30 s grace period
with the default 20 s. A second signal skips the rest of the drain.

aiohttp's own `run_app` waits up to its shutdown timeout for every handler and only then cancels
them, without telling the request why; this loop keeps the order and the reason in our hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from aiohttp import web

from proxy.app import PIPELINE
from proxy.config import Config

log = logging.getLogger("consentry")

# After the cut, how long the cut requests get to record themselves and close their connections.
CUT_GRACE_S = 2.0
# How long aiohttp then waits for any handler left (health and metrics answers) before cancelling.
CLOSE_TIMEOUT_S = 1.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(app: web.Application, config: Config) -> None:
    """Serve `app` until a signal ends it, on uvloop when configured (`server.event_loop`)."""
    loop_factory = None
    if config.event_loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(app, config))


async def serve(app: web.Application, config: Config) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("%s again: ending the drain now", signal.Signals(signum).name)
            hurry.set()
        else:
            log.info("%s: shutting down", signal.Signals(signum).name)
            stop.set()

    # Installed before start-up, so a signal while the model loads also shuts down in order.
    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=CLOSE_TIMEOUT_S)
    freeze: asyncio.Future[None] | None = None
    try:
        await runner.setup()
        shared = config.workers > 1
        if shared and not await _until_ready(runner.app, stop):
            return
        # Several serving processes share the port (proxy/supervise.py).
        site = web.TCPSite(runner, config.host, config.port, reuse_port=shared or None)
        await site.start()
        freeze = asyncio.ensure_future(_freeze_heap_when_ready(runner.app, stop))
        log.info("listening on http://%s:%d", config.host, config.port)
        await stop.wait()
        await drain(runner, config.drain_timeout_s, hurry)
    finally:
        if freeze is not None:
            freeze.cancel()
        await runner.cleanup()
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)


async def _freeze_heap_when_ready(app: web.Application, stop: asyncio.Event) -> None:
    """Once the detector is loaded, moves everything allocated so far (modules, models, the
    configuration) out of the cyclic collector's reach with `gc.freeze()`: its full passes then
    scan only what requests allocate, instead of pausing the event loop for tens of milliseconds
    over objects that live as long as the process (benchmarks/README.md, p99 at 500/s)."""
    if not await _until_ready(app, stop):
        return
    gc.collect()
    gc.freeze()
    log.debug("%d objects frozen out of the cyclic collector", gc.get_freeze_count())


async def _until_ready(app: web.Application, stop: asyncio.Event) -> bool:
    """A process sharing the port joins it only once its detector has a model loaded: the kernel
    hands connections to every listener alike, so one still loading would refuse its share
    while another answered /readyz for the port. False if told to stop meanwhile."""
    detector = app[PIPELINE].detector
    while not detector.ready:
        if stop.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await stop.wait()
    return True


async def drain(runner: web.AppRunner, timeout_s: float, hurry: asyncio.Event) -> None:
    """Steps 1-4 above; `runner.cleanup()` then does step 5."""
    started = asyncio.get_running_loop().time()
    pipeline = runner.app[PIPELINE]
    in_flight = pipeline.in_flight
    in_flight.draining = True
    pipeline.metrics.draining.set(1)
    for site in list(runner.sites):
        await site.stop()
    log.info("draining %d requests in flight for up to %.0f s", len(in_flight), timeout_s)
    idle = asyncio.ensure_future(in_flight.wait_idle(timeout_s))
    hurried = asyncio.ensure_future(hurry.wait())
    try:
        await asyncio.wait((idle, hurried), return_when=asyncio.FIRST_COMPLETED)
    finally:
        hurried.cancel()
        idle.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(idle, hurried)
    if len(in_flight):
        cut = in_flight.cut()
        log.warning(
            "drain deadline after %.1f s: ending %d requests still in flight (recorded as shutdown)",
            asyncio.get_running_loop().time() - started,
            cut,
        )
        if not await in_flight.wait_idle(CUT_GRACE_S):
            log.error("%d requests did not end after the cut", len(in_flight))
    else:
        log.info("drained in %.1f s", asyncio.get_running_loop().time() - started)
