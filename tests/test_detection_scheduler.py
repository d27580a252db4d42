"""The detection queue on fake workers (no model): fair share between applications and requests,
admission control, deadlines that stop only their own request's work, one retry after a death."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from proxy.detection.errors import DetectionError, DetectionOverloaded, WorkerLost
from proxy.detection.plan import PIECE_CHARS, Job
from proxy.detection.scheduler import Scheduler
from proxy.metrics import DetectorMetrics
from tests.fakes.detectors import SlowWorkers


def jobs(count: int, chars: int = PIECE_CHARS, entities: Sequence[str] = ("PERSON",)) -> list[Job]:
    """Jobs of a whole piece each by default: too large to batch, so each is one call."""
    return [
        Job(list(entities), False, texts=["x" * chars], origins=[(0, 0)], chars=chars) for _ in range(count)
    ]


def scheduler(workers: Any, max_queue_wait_s: float = 0.5, max_queued_jobs: int = 1000) -> Scheduler:
    return Scheduler(workers, DetectorMetrics(CollectorRegistry()), max_queue_wait_s, max_queued_jobs)


async def timed(run: Any) -> tuple[float, Any]:
    started = time.monotonic()
    try:
        result = await run
    except DetectionError as exc:
        result = exc
    return time.monotonic() - started, result


@pytest.mark.parametrize("same_app", [False, True])
async def test_a_small_request_waits_for_one_piece_not_for_a_large_request(same_app: bool) -> None:
    workers = SlowWorkers(2, job_s=0.1)
    queue = scheduler(workers)
    large = asyncio.create_task(timed(queue.run(jobs(20), "bulk", 10)))
    await asyncio.sleep(0.05)
    small_s, spans = await timed(queue.run(jobs(1), "bulk" if same_app else "chat", 10))
    large_s, _ = await large

    assert spans == [[[]]]
    # one piece of the large request to wait for, one of its own: not the 10 rounds of the large one
    assert small_s < 0.35, f"small request took {small_s:.2f}s behind a large one"
    assert large_s > 0.9


async def test_each_application_gets_its_share_of_the_workers() -> None:
    workers = SlowWorkers(2, job_s=0.05)
    queue = scheduler(workers, max_queue_wait_s=60)
    first = asyncio.create_task(queue.run(jobs(10), "a", 10))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(queue.run(jobs(10, chars=PIECE_CHARS - 1), "b", 10))
    await asyncio.gather(first, second)

    order = ["a" if chars == PIECE_CHARS else "b" for _, chars in workers.started]
    assert order[:2] == ["a", "a"]  # alone, "a" had both workers
    # from then on the applications alternate: one worker each, not "a" first and "b" after
    assert order[2:12].count("b") == 5, order
    assert queue.queued_jobs == 0


async def test_overload_is_refused_at_once_with_retry_after() -> None:
    workers = SlowWorkers(1, job_s=0.2)
    queue = scheduler(workers, max_queue_wait_s=0.5)
    await queue.run(jobs(1), "a", 10)  # the queue has timed a job
    outcomes = await asyncio.gather(*(timed(queue.run(jobs(1), "a", 10)) for _ in range(20)))

    refused = [(s, r) for s, r in outcomes if isinstance(r, DetectionOverloaded)]
    served = [(s, r) for s, r in outcomes if not isinstance(r, DetectionError)]
    assert refused and served and len(refused) + len(served) == 20
    # expected waits of 0, 0.1, 0.3 s are admitted, 0.5 s just about (jobs take a little over 0.2 s)
    assert 3 <= len(served) <= 4, "admitted more than the wait limit allows"
    assert max(s for s, _ in refused) < 0.05, "a refusal must not wait"
    assert all(r.retry_after_s is not None and r.retry_after_s >= 1 for _, r in refused)
    assert queue.queued_jobs == 0


async def test_one_application_flooding_does_not_refuse_another() -> None:
    workers = SlowWorkers(2, job_s=0.1)
    queue = scheduler(workers, max_queue_wait_s=0.5)
    flood = [asyncio.create_task(timed(queue.run(jobs(1), "flood", 10))) for _ in range(40)]
    await asyncio.sleep(0)
    other_s, other = await timed(queue.run(jobs(1), "quiet", 10))
    outcomes = await asyncio.gather(*flood)

    assert not isinstance(other, DetectionError)
    assert other_s < 0.3
    assert any(isinstance(r, DetectionOverloaded) for _, r in outcomes)


async def test_a_missed_deadline_stops_only_the_workers_on_that_request() -> None:
    workers = SlowWorkers(3, job_s=1.0)
    queue = scheduler(workers, max_queue_wait_s=60)
    other = asyncio.create_task(queue.run(jobs(1), "b", 10))
    await asyncio.sleep(0.01)
    other_worker = {w for w in range(3) if w not in workers.free}

    with pytest.raises(DetectionError, match="deadline"):
        await queue.run(jobs(4), "a", 0.3)

    stopped = [worker for worker, cause in workers.stopped if cause == "deadline"]
    assert len(stopped) == 2 and other_worker.isdisjoint(stopped)
    assert queue.queued_jobs == 0, "the late request's queued jobs must be dropped"
    assert await other == [[[]]]


class DyingWorkers(SlowWorkers):
    """The first `deaths` jobs end as if their worker had been killed."""

    def __init__(self, size: int, deaths: int) -> None:
        super().__init__(size, job_s=0.01)
        self.deaths = deaths

    async def run(self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> Any:
        if self.deaths > 0:
            self.deaths -= 1
            self.free.append(worker)  # type: ignore[arg-type]
            raise WorkerLost()
        return await super().run(worker, texts, entities, use_ner)


async def test_a_job_whose_worker_died_runs_once_more() -> None:
    queue = scheduler(DyingWorkers(2, deaths=1))
    assert await queue.run(jobs(1), "a", 5) == [[[]]]
    assert queue.metrics.retries._value.get() == 1


async def test_a_job_whose_worker_died_twice_fails_closed() -> None:
    queue = scheduler(DyingWorkers(2, deaths=2))
    with pytest.raises(DetectionError, match="worker"):
        await queue.run(jobs(1), "a", 5)


async def test_no_worker_alive_is_refused_with_the_time_until_one_is_back() -> None:
    workers = SlowWorkers(2)
    workers.size = 0  # none alive
    with pytest.raises(DetectionError) as caught:
        await scheduler(workers).run(jobs(1), "a", 5)
    assert not isinstance(caught.value, DetectionOverloaded)
    assert caught.value.retry_after_s == 1.0


async def test_queue_metrics_follow_the_queue() -> None:
    workers = SlowWorkers(1, job_s=0.05)
    queue = scheduler(workers, max_queue_wait_s=60)
    running = asyncio.create_task(queue.run(jobs(6), "a", 10))
    await asyncio.sleep(0.01)
    assert queue.metrics.queue_jobs._value.get() == 5
    await running
    assert queue.metrics.queue_jobs._value.get() == 0
    waits = queue.metrics.queue_wait.collect()[0].samples
    assert next(s.value for s in waits if s.name.endswith("_count")) == 1
