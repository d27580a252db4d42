"""Where analysis runs: supervised worker processes, or one in-process thread.

`ProcessPool` keeps N spawned processes (`worker_process.serve`), each with its own socket, each
loading the model once. Every socket is read all the time, so a worker that dies — crashed,
killed by the kernel's OOM killer, stopped by the proxy — is noticed at once, busy or idle. Only
the job it held fails (`WorkerLost`; the scheduler may run it again elsewhere) and a replacement
is spawned at once; when replacements keep dying (a model that cannot load, memory pressure),
after pauses that grow to BACKOFF_MAX_S, so the proxy never spins. No worker's fate touches
another's, and every exit leads to a replacement until `close()`: there is no state the pool
cannot recover from by itself. A worker whose memory passed `max_rss_bytes` after a job is
replaced before it takes another.

`ThreadRunner` (`detection.workers: 0`, tests and small deployments) is the same interface over
one thread. A thread cannot be stopped: a missed deadline there only stops the waiting, and the
bounded size of every job (`plan.PIECE_CHARS`) bounds what runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from proxy.analysis import Analysis, RawSpan
from proxy.detection import worker_process
from proxy.detection.errors import JobFailed, WorkerLost
from proxy.metrics import DetectorMetrics

log = logging.getLogger("consentry.detection")

# spawn, not fork: the event loop's threads and sockets must not be copied into workers.
SPAWN = multiprocessing.get_context("spawn")

STABLE_AFTER_S = 30.0  # a worker that lived this long after loading was healthy: its death starts anew
BACKOFF_FIRST_S = 1.0  # pause before the second replacement in a row that died young, doubling from there
BACKOFF_MAX_S = 30.0
DEFAULT_LOAD_S = 5.0  # model load time assumed until a worker has loaded (measured: ~5 s, en_core_web_sm)

Spans = list[list[RawSpan]]


@dataclass(eq=False)
class Worker:
    number: int
    process: BaseProcess
    spawned_at: float
    state: str = "loading"  # loading -> idle <-> busy -> gone
    ready_at: float | None = None
    stop_cause: str | None = None  # why the pool stopped it (deadline, memory, closed); None: it died
    writer: asyncio.StreamWriter | None = None
    reply: asyncio.Future[Spans] | None = None


# numpy's BLAS starts a thread per core for spaCy's matrix products; each worker is meant to use one
# core, and those threads fight the other workers and the event loop for the same cores (one
# thread measured 15% faster per text on the reference machine). An operator's own setting wins.
_MATH_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _one_math_thread() -> Iterator[None]:
    """The environment a worker is spawned with (spawn copies it): one BLAS thread each."""
    added = [name for name in _MATH_THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _rss_bytes(pid: int | None) -> int | None:
    """Resident memory of a process (Linux /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


async def _read_message(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(worker_process.FRAME_HEADER_BYTES)
    return pickle.loads(await reader.readexactly(worker_process.decode_length(header)))


class ProcessPool:
    def __init__(
        self,
        size: int,
        model_name: str,
        phone_regions: Sequence[str] | None,
        metrics: DetectorMetrics,
        max_rss_bytes: int = 0,
    ) -> None:
        self.size = size
        self.model_name = model_name
        self.phone_regions = tuple(phone_regions) if phone_regions else None
        self.metrics = metrics
        self.max_rss_bytes = max_rss_bytes
        self.entities: list[str] = []
        # Called whenever a worker may have become free (the scheduler hands it the next job).
        self.on_idle: Callable[[], None] = lambda: None
        self._workers: set[Worker] = set()
        self._idle: deque[Worker] = deque()
        self._watchers: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._numbers = itertools.count(1)
        self._crash_streak = 0
        self._load_s = DEFAULT_LOAD_S
        self._next_spawn_at = 0.0
        self._closing = False
        self._all_loaded = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ what the scheduler reads

    @property
    def alive(self) -> int:
        """Workers with their model loaded (idle or busy): the pool's real capacity now."""
        return sum(1 for worker in self._workers if worker.state in ("idle", "busy"))

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def last_load_s(self) -> float:
        """How long the last worker took from spawn to model loaded."""
        return self._load_s

    def recovery_eta_s(self) -> float:
        """When a worker can be expected to serve again: the pending pause, plus a load."""
        pause = max(0.0, self._next_spawn_at - time.monotonic())
        return pause + self._load_s

    def pids(self) -> list[int]:
        """Process ids of the workers now running (for tests and operators)."""
        return [w.process.pid for w in self._workers if w.state != "gone" and w.process.pid is not None]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Spawn the workers; returns once all of them have loaded the model."""
        self._loop = asyncio.get_running_loop()
        for _ in range(self.size):
            self._spawn()
        await self._all_loaded.wait()

    async def close(self) -> None:
        self._closing = True
        self._all_loaded.set()
        for timer in self._timers:
            timer.cancel()
        for worker in list(self._workers):
            worker.stop_cause = "closed"
            worker.process.kill()
        if self._watchers:
            await asyncio.wait(set(self._watchers), timeout=10)

    def _spawn(self) -> None:
        if self._closing:
            return
        assert self._loop is not None
        number = next(self._numbers)
        ours, theirs = socket.socketpair()
        process = SPAWN.Process(
            target=worker_process.serve,
            args=(theirs, self.model_name, self.phone_regions),
            name=f"consentry-detector-{number}",
            daemon=True,
        )
        try:
            with _one_math_thread():
                process.start()
        except OSError as exc:  # fork or exec refused (out of memory, process limit): try again later
            ours.close()
            log.error("detector worker %d could not be started (%s)", number, type(exc).__name__)
            self._crash_streak += 1
            self._respawn_later(self._backoff())
            return
        finally:
            theirs.close()  # the worker holds its end; ours must see EOF when it exits
        worker = Worker(number, process, time.monotonic())
        self._workers.add(worker)
        watcher = self._loop.create_task(self._watch(worker, ours), name=f"detector-worker-{number}")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    def _respawn_later(self, delay_s: float) -> None:
        assert self._loop is not None
        self._next_spawn_at = max(self._next_spawn_at, time.monotonic() + delay_s)

        def spawn() -> None:
            self._timers.discard(timer)
            self.metrics.worker_restarts.inc()
            self._spawn()

        timer = self._loop.call_later(delay_s, spawn)
        self._timers.add(timer)

    async def _watch(self, worker: Worker, sock: socket.socket) -> None:
        """Read the worker's socket until it closes; then it is gone, whatever the reason."""
        try:
            reader, worker.writer = await asyncio.open_unix_connection(sock=sock)
            while True:
                self._on_message(worker, await _read_message(reader))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the worker's end closed: it exited, crashed or was killed
        except Exception:  # a garbled frame: the worker cannot be trusted to answer again
            log.exception("detector worker %d sent an unreadable message; replacing it", worker.number)
        finally:
            self._on_exit(worker)
            if worker.writer is not None:
                worker.writer.close()
            else:
                sock.close()
        # Reap the process off the event loop (it has exited or is about to).
        worker.process.kill()
        await asyncio.to_thread(worker.process.join, 10)

    def _on_message(self, worker: Worker, message: tuple[str, Any]) -> None:
        kind, value = message
        if kind == "ready":
            now = time.monotonic()
            worker.ready_at = now
            self._load_s = now - worker.spawned_at
            self.entities = list(value)
            log.info(
                "detector worker %d ready (pid %s, model loaded in %.1fs)",
                worker.number,
                worker.process.pid,
                self._load_s,
            )
            self._make_idle(worker)
            if self.alive >= self.size:
                self._all_loaded.set()
            return
        reply, worker.reply = worker.reply, None
        if reply is not None and not reply.done():
            if kind == "ok":
                reply.set_result(value)
            else:
                reply.set_exception(JobFailed(str(value)))
        rss = _rss_bytes(worker.process.pid) if self.max_rss_bytes > 0 else None
        if rss is not None and rss > self.max_rss_bytes:
            log.warning(
                "detector worker %d uses %d MB (limit %d MB); replacing it",
                worker.number,
                rss >> 20,
                self.max_rss_bytes >> 20,
            )
            self.stop(worker, "memory")
            return
        self._make_idle(worker)

    def _make_idle(self, worker: Worker) -> None:
        worker.state = "idle"
        self._idle.append(worker)
        self.metrics.workers_alive.set(self.alive)
        self.on_idle()

    def _on_exit(self, worker: Worker) -> None:
        was_loaded = worker.state in ("idle", "busy")
        worker.state = "gone"
        self._workers.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        if worker.reply is not None and not worker.reply.done():
            worker.reply.set_exception(WorkerLost())
        worker.reply = None
        self.metrics.workers_alive.set(self.alive)
        if self._closing:
            return
        cause = worker.stop_cause or "crashed"
        self.metrics.worker_exits.labels(cause).inc()
        delay = 0.0
        if cause == "crashed":
            healthy = worker.ready_at is not None and time.monotonic() - worker.ready_at >= STABLE_AFTER_S
            self._crash_streak = 1 if healthy else self._crash_streak + 1
            delay = self._backoff()
        log.warning(
            "detector worker %d (pid %s) ended (%s, exit code %s, %s); replacement in %.1fs",
            worker.number,
            worker.process.pid,
            cause,
            worker.process.exitcode,
            "loaded" if was_loaded else "while loading",
            delay,
        )
        self._respawn_later(delay)

    def _backoff(self) -> float:
        """No pause for a first death; then 1 s, 2 s, 4 s ... while replacements keep dying young."""
        if self._crash_streak <= 1:
            return 0.0
        return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (self._crash_streak - 2))

    # ------------------------------------------------------------------ running jobs

    def take(self) -> Worker | None:
        """An idle worker, now marked busy, or None."""
        if not self._idle:
            return None
        worker = self._idle.popleft()
        worker.state = "busy"
        return worker

    async def run(
        self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool
    ) -> Spans:
        """Analyse on `worker` (from `take`); WorkerLost if it ends first, JobFailed if it raised."""
        assert isinstance(worker, Worker)
        if worker.state == "gone" or worker.writer is None:
            raise WorkerLost()
        assert self._loop is not None
        reply: asyncio.Future[Spans] = self._loop.create_future()
        worker.reply = reply
        # A worker only ever gets a job while it waits for one, so its socket drains at once.
        worker.writer.write(worker_process.encode_frame((list(texts), list(entities), use_ner)))
        with contextlib.suppress(ConnectionError, OSError):  # the watcher fails the reply
            await worker.writer.drain()
        return await reply

    def stop(self, worker: object, cause: str) -> None:
        """Stop `worker` now (a missed deadline, too much memory); a replacement follows at once."""
        assert isinstance(worker, Worker)
        if worker.state == "gone":
            return
        worker.stop_cause = cause
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        worker.process.kill()


class ThreadRunner:
    """One in-process thread with the same interface (`detection.workers: 0`)."""

    size = 1

    def __init__(self, analysis: Analysis, executor: ThreadPoolExecutor) -> None:
        self._analysis = analysis
        # Shared by every runner of one detector (one per event loop in tests): spaCy and Presidio
        # are not shared between threads, so their work goes through this one thread in turn.
        self._executor = executor
        self._busy = False
        self.on_idle: Callable[[], None] = lambda: None

    @property
    def alive(self) -> int:
        return 1

    @property
    def idle_count(self) -> int:
        return 0 if self._busy else 1

    def recovery_eta_s(self) -> float:
        return 1.0

    def take(self) -> object | None:
        if self._busy:
            return None
        self._busy = True
        return self

    async def run(
        self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool
    ) -> Spans:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self._analysis.analyze, texts, entities, use_ner
            )
        except Exception as exc:
            raise JobFailed(type(exc).__name__) from exc
        finally:
            self._busy = False

    def stop(self, worker: object, cause: str) -> None:
        """A thread cannot be stopped; the job it runs is bounded and its answer is dropped."""
