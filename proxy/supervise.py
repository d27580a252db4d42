"""`consentry serve --workers N`: N event-loop processes serving one port.

Each child is a whole proxy (its own event loop, detector workers, ledger writer, consent view
and admin listener) bound with SO_REUSEPORT, so the kernel spreads new connections over them;
one event loop is one core, and N of them are how the proxy uses more. This process only
supervises:
- it checks the configuration once and makes the files every child shares (hash key, admin
  token) before any child starts, so children never race to create them;
- it gives the children one prometheus-client multiprocess directory (PROMETHEUS_MULTIPROC_DIR),
  so /metrics - whichever child answers it - sums counters and histograms over all of them;
- a child that dies is replaced (its live gauges removed from the metrics first), with a pause
  that grows while children keep failing; children that cannot even start (a port taken by
  another program, say) stop the whole server with an error instead of restarting forever;
- SIGTERM or SIGINT is passed on once to every child, each drains as a single process does
  (proxy/serve.py), and this process exits when all have, with the worst exit status.
Children run in their own process group, so a Ctrl-C in a terminal reaches them only through
this process, once."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from proxy.config import Config
from proxy.metrics import MULTIPROCESS_DIR

log = logging.getLogger("consentry.supervise")

# A child that ends sooner than this after it started counts as failing to start.
START_GRACE_S = 20.0
# Children failing to start this many times in a row stop the server.
MAX_START_FAILURES = 3
MAX_RESTART_PAUSE_S = 30.0


def _child(config_path: str | None, index: int) -> None:
    """One serving process: the same configuration, its own event loop."""
    from proxy.app import build_app
    from proxy.config import load_config
    from proxy.logs import configure as configure_logging
    from proxy.serve import run

    # Signals come from the supervisor only (see the module docstring).
    os.setpgrp()
    config = load_config(config_path)
    configure_logging(config.log_level, config.log_format)
    logging.getLogger("consentry.supervise").info("serving process %d started (pid %d)", index, os.getpid())
    try:
        run(build_app(config), config)
    except OSError as exc:
        logging.getLogger("consentry.supervise").error(
            "serving process %d cannot listen on %s:%d: %s", index, config.host, config.port, exc.strerror
        )
        raise SystemExit(1) from None


def _metrics_dir(env: Mapping[str, str]) -> tuple[Path, bool]:
    """The multiprocess directory: the operator's (emptied), or a private one removed at exit."""
    configured = env.get(MULTIPROCESS_DIR)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        # Files of an earlier run would be summed into this one's counters.
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    return Path(tempfile.mkdtemp(prefix="consentry-metrics-")), True


def serve_processes(config: Config, config_path: str | None) -> int:
    from prometheus_client import multiprocess

    from proxy.admin.auth import AdminTokens

    if config.admin.enabled:
        AdminTokens(config.admin)  # the generated token file, made once before the children
    metrics_dir, owned = _metrics_dir(os.environ)
    os.environ[MULTIPROCESS_DIR] = str(metrics_dir)
    context = multiprocessing.get_context("spawn")
    children: dict[int, tuple[BaseProcess, float]] = {}
    stopping = False
    failures = 0
    status = 0

    def start(index: int) -> None:
        process = context.Process(target=_child, args=(config_path, index), name=f"consentry-serve-{index}")
        process.start()
        children[index] = (process, time.monotonic())

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            # A second signal: passed on, so the children end their drains now.
            for process, _ in children.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid or 0, signal.SIGTERM)
            return
        stopping = True
        log.info("%s: stopping %d serving processes", signal.Signals(signum).name, len(children))
        for process, _ in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid or 0, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    log.info(
        "serving on http://%s:%d with %d processes (%d detector workers each)",
        config.host,
        config.port,
        config.workers,
        config.detection.workers,
    )
    try:
        for index in range(config.workers):
            start(index)
        while children:
            wait([p.sentinel for p, _ in children.values()], timeout=1.0)
            for index, (process, started) in list(children.items()):
                if process.exitcode is None:
                    continue
                del children[index]
                if process.pid is not None:
                    multiprocess.mark_process_dead(process.pid, str(metrics_dir))
                code = process.exitcode
                if stopping:
                    status = max(status, abs(code))
                    continue
                quick = time.monotonic() - started < START_GRACE_S
                failures = failures + 1 if quick else 0
                log.error("serving process %d (pid %s) ended with status %s", index, process.pid, code)
                if failures >= MAX_START_FAILURES:
                    log.error("serving processes keep failing at start: stopping the server")
                    stopping = True
                    status = 1
                    for other, _ in children.values():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(other.pid or 0, signal.SIGTERM)
                    continue
                time.sleep(min(MAX_RESTART_PAUSE_S, 0.5 * 2**failures))
                if not stopping:
                    start(index)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for process, _ in children.values():
            process.kill()
        if owned:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return status
