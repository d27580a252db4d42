"""Fair use and admission control: which detection job runs next, and which request is refused.

A request's detection is a list of bounded jobs (`plan.plan_jobs`). Jobs wait in one queue per
calling application; whenever a worker is free it takes the next job of the application that
holds the fewest workers now (ties: the one served longest ago), and within it of the request that
holds the fewest. So while others wait, one application, or one request, holds at most its share
of the workers; and since no job is long, a small request that arrives behind a large one waits
for one piece, not for the whole large request.

Admission: a request is refused at once, before any work (`DetectionOverloaded`, 429 with
Retry-After), when the wait it can expect for its first job — jobs queued ahead of it, times the
recent mean job time, divided by the workers alive — exceeds `max_queue_wait_s`, or when the queue already
holds `max_queued_jobs`. When no worker is alive it is refused with DetectionError (503) and the
time until one is expected back.

Micro-batching: a worker that becomes free while jobs wait takes several of them at once, in the
same fair order, as one call (up to BATCH_CHARS characters, BATCH_TEXTS texts), so the model runs
once over texts from many requests (`nlp.pipe`): spaCy's fixed cost per call is paid once per
batch, not once per request. Nothing ever waits to fill a batch: a lone request goes out alone and
at once; batches form only from jobs that queue while every worker is busy (and, right after a
batch, for at most BATCH_GATHER_S while its requests' next texts arrive). The answers are split
back per job (and per job's entity list), so a request sees exactly what it would have alone.

Past a request's deadline its queued jobs are dropped and only the workers still running its
jobs are stopped (and replaced by the pool); jobs of other requests batched with them count as
lost and are run again. A job whose worker died is run once more on another worker when the
deadline leaves time for it: detection is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from proxy.analysis import RawSpan
from proxy.detection.errors import DetectionError, DetectionOverloaded, JobFailed, WorkerLost
from proxy.detection.plan import PIECE_CHARS, Job
from proxy.metrics import DetectorMetrics

log = logging.getLogger("consentry.detection")

Spans = list[list[RawSpan]]

PRIOR_JOB_S = 0.05  # mean job time assumed until a job has been timed (a 1 KB prompt)
JOB_TIME_WEIGHT = 0.2  # weight of the newest job in the running mean: it follows a change in ~10 jobs
MAX_ATTEMPTS = 2  # a job whose worker died is run once more
# One call's bound when jobs are batched: the bound of one job's characters (so a batch costs a
# worker no more memory, and a request behind it waits no longer, than one large job), and a
# count of texts past which nlp.pipe gains nothing more (its own batch size).
BATCH_CHARS = PIECE_CHARS
BATCH_TEXTS = 32
# When a batch comes back its requests answer, and their callers' next texts follow within a turn
# or two of the event loop: a worker freed by a batch waits this long for them instead of taking
# the one job that happens to be queued (a batch of one costs nearly what a batch of fifteen does).
# Only after a batch of two or more: a lone request never waits.
BATCH_GATHER_S = 0.002


class Workers(Protocol):
    """Where jobs run (`workers.ProcessPool`, `workers.ThreadRunner`, or a test's fake)."""

    size: int
    on_idle: Callable[[], None]

    @property
    def alive(self) -> int: ...

    @property
    def idle_count(self) -> int: ...

    def recovery_eta_s(self) -> float: ...

    def take(self) -> object | None: ...

    async def run(
        self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool
    ) -> Spans: ...

    def stop(self, worker: object, cause: str) -> None: ...


@dataclass(eq=False)
class _Ticket:
    """One request's place in the queue."""

    app: str
    number: int
    deadline: float
    admitted_at: float
    queued: deque[_QueuedJob] = field(default_factory=deque)
    running: set[_QueuedJob] = field(default_factory=set)
    waited: bool = False  # its first job has started (queue wait observed)
    over: bool = False  # answered, failed or past its deadline: its jobs' answers are dropped


@dataclass(eq=False)
class _QueuedJob:
    job: Job
    ticket: _Ticket
    future: asyncio.Future[Spans]
    attempts: int = 0
    worker: object | None = None
    alone: bool = False  # its batch failed: run it by itself, so one bad text fails one request


class Scheduler:
    def __init__(
        self,
        workers: Workers,
        metrics: DetectorMetrics,
        max_queue_wait_s: float = 0.25,
        max_queued_jobs: int = 1000,
        batch_texts: int = BATCH_TEXTS,
    ) -> None:
        self.workers = workers
        self.batch_texts = batch_texts  # 1: no batching (benchmarks measure both)
        self.metrics = metrics
        self.max_queue_wait_s = max_queue_wait_s
        self.max_queued_jobs = max_queued_jobs
        self.mean_job_s = PRIOR_JOB_S
        self._timed = False
        self._loop = asyncio.get_running_loop()
        self._apps: dict[str, deque[_Ticket]] = {}  # tickets with queued jobs, oldest first
        self._running_by_app: Counter[str] = Counter()
        self._last_served: dict[str, int] = {}
        self._served = itertools.count()
        self._tickets = itertools.count()
        self._queued_jobs = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._batches: dict[int, list[_QueuedJob]] = {}  # id(worker) -> the jobs it runs now
        self._gather_until = 0.0  # see BATCH_GATHER_S
        self._gather_target = 0
        self._gather_timer: asyncio.TimerHandle | None = None
        # A worker that answered is idle before the task awaiting its answer resumes: dispatching
        # on the next turn lets that task finish first (and start gathering, see BATCH_GATHER_S).
        workers.on_idle = lambda: self._loop.call_soon(self._dispatch)

    @property
    def queued_jobs(self) -> int:
        return self._queued_jobs

    # ------------------------------------------------------------------ one request

    async def run(self, jobs: Sequence[Job], app: str, timeout_s: float) -> list[Spans]:
        """Every job's spans, in order; DetectionOverloaded at once when the wait is too long,
        DetectionError when a job failed or the deadline passed."""
        self._admit(app, len(jobs))
        now = self._loop.time()
        ticket = _Ticket(app, next(self._tickets), now + timeout_s, now)
        queued = [_QueuedJob(job, ticket, self._loop.create_future()) for job in jobs]
        ticket.queued.extend(queued)
        self._apps.setdefault(app, deque()).append(ticket)
        self._queued_jobs += len(queued)
        self.metrics.queue_jobs.set(self._queued_jobs)
        try:
            self._dispatch()
            futures = [q.future for q in queued]
            done, pending = await asyncio.wait(
                futures, timeout=timeout_s, return_when=asyncio.FIRST_EXCEPTION
            )
            failure = next((f.exception() for f in done if f.exception() is not None), None)
            if failure is not None:
                raise failure
            if pending:
                self._expire(ticket)
                raise DetectionError(f"detection exceeded its {timeout_s:.1f}s deadline")
            return [q.future.result() for q in queued]
        finally:
            self._forget(ticket)

    def _admit(self, app: str, jobs: int) -> None:
        alive = self.workers.alive
        if alive <= 0:
            raise DetectionError("no detector worker is running", self.workers.recovery_eta_s())
        if self._queued_jobs + jobs > self.max_queued_jobs:
            raise DetectionOverloaded(
                f"the detection queue is full ({self._queued_jobs} jobs)", self._retry_after(alive)
            )
        wait = self.expected_wait_s(app)
        if wait > self.max_queue_wait_s:
            raise DetectionOverloaded(
                f"expected wait for detection {wait:.2f}s exceeds {self.max_queue_wait_s:.2f}s",
                self._retry_after(alive),
            )

    def expected_wait_s(self, app: str) -> float:
        """How long a new request of `app` can expect to wait for its first job to start."""
        alive = self.workers.alive
        if alive <= 0:
            return math.inf
        ahead = self._jobs_ahead(app)
        if self.workers.idle_count > ahead:
            return 0.0
        busy = alive - self.workers.idle_count
        # the jobs running now are, on average, half done
        return (ahead + busy / 2) * self.mean_job_s / alive

    def _jobs_ahead(self, app: str) -> int:
        """Jobs dispatched before a new request's first one, by the fair order of `_next_place`:
        within its application, one job of every older request that holds no worker yet; of every
        other application, as many jobs as it gets turns meanwhile."""
        own = sum(1 for ticket in self._apps.get(app, ()) if not ticket.running)
        others = (
            min(sum(len(t.queued) for t in tickets), own + 1)
            for name, tickets in self._apps.items()
            if name != app
        )
        return own + sum(others)

    def _retry_after(self, alive: int) -> float:
        """Seconds until the queue has drained to what a request may wait for (at least 1)."""
        drain = self._queued_jobs * self.mean_job_s / max(alive, 1) - self.max_queue_wait_s
        return float(max(1, math.ceil(drain)))

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        if self._apps and self._gathering():
            return
        while self._apps:
            worker = self.workers.take()
            if worker is None:
                return
            # Jobs already queued are spread over the workers free now before any is batched:
            # latency first while there is spare capacity, batches only from a backlog.
            share = -(-self._queued_jobs // (self.workers.idle_count + 1))
            batch = self._next_batch(max(1, share))
            now = self._loop.time()
            self._batches[id(worker)] = batch
            for queued in batch:
                queued.worker = worker
                ticket = queued.ticket
                if not ticket.waited:
                    ticket.waited = True
                    self.metrics.queue_wait.observe(now - ticket.admitted_at)
            self.metrics.batch_jobs.observe(len(batch))
            task = self._loop.create_task(self._execute(batch, worker))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _gathering(self) -> bool:
        """Whether to wait (briefly, see BATCH_GATHER_S) for the next texts of a batch's requests."""
        if self._loop.time() >= self._gather_until or self._queued_jobs >= self._gather_target:
            return False
        if self._gather_timer is None:
            self._gather_timer = self._loop.call_at(self._gather_until, self._end_gathering)
        return True

    def _end_gathering(self) -> None:
        self._gather_timer = None
        self._gather_until = 0.0
        self._dispatch()

    def _next_batch(self, max_jobs: int) -> list[_QueuedJob]:
        """The next job by fair share, and the jobs after it in the same order that fit one call."""
        batch = [self._take(*self._next_place())]
        chars, texts = batch[0].job.chars, len(batch[0].job.texts)
        while not batch[0].alone and self._apps and len(batch) < max_jobs and texts < self.batch_texts:
            app, ticket = self._next_place()
            job = ticket.queued[0].job
            if ticket.queued[0].alone or job.use_ner != batch[0].job.use_ner:
                break  # the NER model is the cost: never run it for a job that needs none
            if chars + job.chars > BATCH_CHARS or texts + len(job.texts) > self.batch_texts:
                break
            batch.append(self._take(app, ticket))
            chars += job.chars
            texts += len(job.texts)
        return batch

    def _next_place(self) -> tuple[str, _Ticket]:
        """Whose job runs next by fair share: see the module's docstring."""
        app = min(self._apps, key=lambda a: (self._running_by_app[a], self._last_served.get(a, -1)))
        ticket = min(self._apps[app], key=lambda t: (len(t.running), t.number))
        return app, ticket

    def _take(self, app: str, ticket: _Ticket) -> _QueuedJob:
        queued = ticket.queued.popleft()
        if not ticket.queued:
            tickets = self._apps[app]
            tickets.remove(ticket)
            if not tickets:
                del self._apps[app]
        self._last_served[app] = next(self._served)
        self._running_by_app[app] += 1
        ticket.running.add(queued)  # now: the next pick for this batch sees it running
        self._queued_jobs -= 1
        self.metrics.queue_jobs.set(self._queued_jobs)
        return queued

    async def _execute(self, batch: list[_QueuedJob], worker: object) -> None:
        for queued in batch:
            queued.attempts += 1
        texts = [text for queued in batch for text in queued.job.texts]
        entities = sorted({entity for queued in batch for entity in queued.job.entities})
        started = self._loop.time()
        try:
            spans = await self.workers.run(worker, texts, entities, batch[0].job.use_ner)
            if len(spans) != len(texts):
                raise JobFailed(f"{len(spans)} answers for {len(texts)} texts")
        except WorkerLost:
            for queued in batch:
                self._ran(queued)
                self._retry_or_fail(queued)
        except JobFailed as exc:
            for queued in batch:
                self._ran(queued)
                if len(batch) > 1:
                    # which text failed is unknown: each runs again alone, so it fails only its own
                    queued.attempts -= 1
                    queued.alone = True
                    self._requeue(queued)
                else:
                    self._settle(queued, DetectionError(f"detector failed: {exc}"))
        except Exception as exc:  # never let a job's failure go unanswered
            log.exception("detection job failed unexpectedly")
            for queued in batch:
                self._ran(queued)
                self._settle(queued, DetectionError(f"detector failed: {type(exc).__name__}"))
        else:
            elapsed = self._loop.time() - started
            # Admission counts jobs: what one job costs when it runs in a batch of this size.
            weight = JOB_TIME_WEIGHT if self._timed else 1.0  # the first job replaces the prior
            self._timed = True
            self.mean_job_s += weight * (elapsed / len(batch) - self.mean_job_s)
            offset = 0
            for queued in batch:
                self._ran(queued)
                own = spans[offset : offset + len(queued.job.texts)]
                offset += len(queued.job.texts)
                if not queued.future.done():
                    queued.future.set_result(_only(own, queued.job.entities, entities))
        finally:
            self._batches.pop(id(worker), None)
            if len(batch) > 1:
                self._gather_until = self._loop.time() + BATCH_GATHER_S
                self._gather_target = len(batch)
            self._dispatch()

    def _ran(self, queued: _QueuedJob) -> None:
        queued.ticket.running.discard(queued)
        self._running_by_app[queued.ticket.app] -= 1
        if self._running_by_app[queued.ticket.app] <= 0:
            del self._running_by_app[queued.ticket.app]
        queued.worker = None

    def _retry_or_fail(self, queued: _QueuedJob) -> None:
        ticket = queued.ticket
        if ticket.over:
            return
        time_left = ticket.deadline - self._loop.time()
        if queued.attempts < MAX_ATTEMPTS and time_left > self.mean_job_s:
            self.metrics.retries.inc()
            log.warning("detection job re-queued after its worker ended")
            self._requeue(queued)
            return
        self._settle(queued, DetectionError("the detector worker running this request ended"))

    def _requeue(self, queued: _QueuedJob) -> None:
        ticket = queued.ticket
        if ticket.over:
            return
        if not ticket.queued:
            self._apps.setdefault(ticket.app, deque()).appendleft(ticket)
        ticket.queued.appendleft(queued)
        self._queued_jobs += 1
        self.metrics.queue_jobs.set(self._queued_jobs)

    @staticmethod
    def _settle(queued: _QueuedJob, error: DetectionError) -> None:
        if not queued.future.done() and not queued.ticket.over:
            queued.future.set_exception(error)

    # ------------------------------------------------------------------ the end of a request

    def _expire(self, ticket: _Ticket) -> None:
        """The deadline passed: stop the workers still on this request's jobs (only those), unless
        a worker's batch also holds jobs of requests still in time: it finishes (a batch is bounded
        like one job) and this request's answers are dropped. The last of them to expire stops it."""
        for queued in list(ticket.running):
            worker = queued.worker
            if worker is None:
                continue
            batch = self._batches.get(id(worker), [])
            if any(other.ticket is not ticket and not other.ticket.over for other in batch):
                continue
            self.workers.stop(worker, "deadline")

    def _forget(self, ticket: _Ticket) -> None:
        """The request is answered (or failed, or was cancelled): drop its queued jobs."""
        ticket.over = True
        if ticket.queued:
            self._queued_jobs -= len(ticket.queued)
            self.metrics.queue_jobs.set(self._queued_jobs)
            for queued in ticket.queued:
                queued.future.cancel()
            ticket.queued.clear()
            tickets = self._apps.get(ticket.app)
            if tickets is not None:
                with contextlib.suppress(ValueError):
                    tickets.remove(ticket)
                if not tickets:
                    del self._apps[ticket.app]
        for queued in ticket.running:
            # its answer comes later and is dropped; the future must not hold an unread error
            queued.future.cancel()


def _only(spans: Spans, wanted: Sequence[str], asked: Sequence[str]) -> Spans:
    """A job's spans when its batch asked for more entity types than it did (other customers'
    rules): what it would have got alone."""
    if len(wanted) == len(asked):
        return spans
    keep = set(wanted)
    return [[span for span in text_spans if span[2] in keep] for text_spans in spans]
