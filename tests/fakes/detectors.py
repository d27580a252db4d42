"""Detector stand-ins for tests that need detection itself to go wrong, or to be slow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from models.consent import Consent
from models.spans import Span
from proxy.detection import DetectionError, DetectionOverloaded
from proxy.detection.plan import plan_jobs
from proxy.detection.scheduler import Scheduler
from proxy.metrics import DetectorMetrics


class FailingDetector:
    """Stands in for a detector whose model crashed or timed out."""

    ready = True

    async def start(self) -> None:
        return None

    async def detect(self, segments: Sequence[str], consent: Consent, *, app: str = "") -> list[list[Span]]:
        raise DetectionError("injected failure")

    async def close(self) -> None:
        return None


class SlowWorkers:
    """A scheduler's `Workers` without a model: `size` slots, each job takes `job_s` (or what
    `job_time(texts)` says) and finds nothing. Runs the real queue, fair share and admission
    control in milliseconds instead of model time."""

    def __init__(
        self, size: int, job_s: float = 0.05, job_time: Callable[[Sequence[str]], float] | None = None
    ):
        self.size = size
        self.job_s = job_s
        self.job_time = job_time
        self.on_idle: Callable[[], None] = lambda: None
        self.free = list(range(size))
        self.started: list[tuple[float, int]] = []  # (when, characters) per job, in start order
        self.stopped: list[tuple[object, str]] = []

    @property
    def alive(self) -> int:
        return self.size

    @property
    def idle_count(self) -> int:
        return len(self.free)

    def recovery_eta_s(self) -> float:
        return 1.0

    def take(self) -> object | None:
        return self.free.pop() if self.free else None

    async def run(self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> Any:
        self.started.append((time.monotonic(), sum(len(t) for t in texts)))
        try:
            await asyncio.sleep(self.job_time(texts) if self.job_time else self.job_s)
        finally:
            self.free.append(worker)  # type: ignore[arg-type]
        return [[] for _ in texts]

    def stop(self, worker: object, cause: str) -> None:
        self.stopped.append((worker, cause))


class OverloadedDetector:
    """Always refuses as an overloaded detector does: the refusal's shape per provider."""

    ready = True

    def __init__(self, retry_after_s: float = 3.0) -> None:
        self.retry_after_s = retry_after_s

    async def start(self) -> None:
        return None

    async def detect(self, segments: Sequence[str], consent: Consent, *, app: str = "") -> list[list[Span]]:
        raise DetectionOverloaded("injected overload", self.retry_after_s)

    async def close(self) -> None:
        return None


class QueuedFakeDetector:
    """The real queue (fair share, admission control, deadlines) over `SlowWorkers`: overload
    and neighbours in milliseconds, without a model. Finds nothing."""

    ready = True

    def __init__(
        self, workers: SlowWorkers, *, timeout_s: float = 5.0, max_queue_wait_s: float = 0.5
    ) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.max_queue_wait_s = max_queue_wait_s
        self.scheduler: Scheduler | None = None

    async def start(self) -> None:
        return None

    async def detect(self, segments: Sequence[str], consent: Consent, *, app: str = "") -> list[list[Span]]:
        if self.scheduler is None:  # made on the proxy's own event loop
            metrics = DetectorMetrics(CollectorRegistry())
            self.scheduler = Scheduler(self.workers, metrics, self.max_queue_wait_s)
        await self.scheduler.run(plan_jobs(segments, ["PERSON"], False), app, self.timeout_s)
        return [[] for _ in segments]

    async def close(self) -> None:
        return None


class NullDetector:
    """A loaded detector that finds nothing: for tests about everything but detection. `calls`
    tells whether a request reached detection at all."""

    ready = True

    def __init__(self) -> None:
        self.calls = 0

    async def start(self) -> None:
        return None

    async def detect(self, segments: Sequence[str], consent: Consent, *, app: str = "") -> list[list[Span]]:
        self.calls += 1
        return [[] for _ in segments]

    async def close(self) -> None:
        return None
