"""Micro-batching across requests, on fake workers (no model): jobs that queue while every worker
is busy go out together in one call, each request gets exactly its own answers, a lone request is
never held back, and failures and deadlines stay per request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from proxy.detection.errors import DetectionError, JobFailed, WorkerLost
from proxy.detection.plan import PIECE_CHARS, Job
from proxy.detection.scheduler import BATCH_TEXTS, Scheduler
from proxy.metrics import DetectorMetrics
from tests.fakes.detectors import SlowWorkers


class ModelLikeWorkers(SlowWorkers):
    """A call costs a fixed part plus a part per text, as spaCy's does, and every text gets one
    span per asked entity type whose end is the text's length: answers can be traced back."""

    def __init__(self, size: int, call_s: float = 0.05, per_text_s: float = 0.002) -> None:
        super().__init__(size, job_time=lambda texts: call_s + per_text_s * len(texts))
        self.calls: list[tuple[list[str], list[str]]] = []

    async def run(self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> Any:
        self.calls.append((list(texts), list(entities)))
        await super().run(worker, texts, entities, use_ner)
        return [[(0, len(text), entity, 1.0) for entity in entities] for text in texts]


def job(text: str, entities: Sequence[str] = ("PERSON",), use_ner: bool = True) -> Job:
    return Job(list(entities), use_ner, texts=[text], origins=[(0, 0)], chars=len(text))


def scheduler(workers: Any, max_queue_wait_s: float = 60) -> Scheduler:
    return Scheduler(workers, DetectorMetrics(CollectorRegistry()), max_queue_wait_s, 1000)


async def test_requests_that_queue_behind_a_busy_worker_share_one_call() -> None:
    workers = ModelLikeWorkers(1)
    queue = scheduler(workers)
    texts = [f"text number {i:02d}" for i in range(17)]  # distinct lengths would hide a mix-up: same
    answers = await asyncio.gather(*(queue.run([job(t)], f"app{i % 3}", 10) for i, t in enumerate(texts)))

    # the first went alone; the 16 that arrived while it ran went out together
    assert [len(call_texts) for call_texts, _ in workers.calls] == [1, 16]
    for text, answer in zip(texts, answers, strict=True):
        assert answer == [[[(0, len(text), "PERSON", 1.0)]]]
    batched = workers.calls[1][0]
    assert sorted(batched) == sorted(texts[1:])
    samples = queue.metrics.batch_jobs.collect()[0].samples
    assert next(s.value for s in samples if s.name.endswith("_count")) == 2
    assert next(s.value for s in samples if s.name.endswith("_sum")) == 17


async def test_each_request_gets_the_answers_of_its_own_texts_in_its_own_order() -> None:
    workers = ModelLikeWorkers(1)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("first")], "a", 10))
    await asyncio.sleep(0.01)
    two_texts = Job(["PERSON"], True, texts=["aa", "bbbb"], origins=[(0, 0), (1, 0)], chars=6)
    many = asyncio.create_task(queue.run([two_texts, job("cccccc")], "b", 10))
    one = asyncio.create_task(queue.run([job("ddddddddd")], "c", 10))
    await blocker

    assert await many == [
        [[(0, 2, "PERSON", 1.0)], [(0, 4, "PERSON", 1.0)]],
        [[(0, 6, "PERSON", 1.0)]],
    ]
    assert await one == [[[(0, 9, "PERSON", 1.0)]]]
    assert len(workers.calls) == 2


async def test_a_request_sees_only_the_entity_types_it_asked_for() -> None:
    """Customers' rules differ: a batch asks for the union, each job keeps its own types."""
    workers = ModelLikeWorkers(1)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    person = asyncio.create_task(queue.run([job("one", ["PERSON"])], "b", 10))
    both = asyncio.create_task(queue.run([job("two", ["PERSON", "EMAIL_ADDRESS"])], "c", 10))
    await blocker

    assert await person == [[[(0, 3, "PERSON", 1.0)]]]
    assert sorted(await both) == [[[(0, 3, "EMAIL_ADDRESS", 1.0), (0, 3, "PERSON", 1.0)]]]
    assert workers.calls[1][1] == ["EMAIL_ADDRESS", "PERSON"]


async def test_jobs_with_and_without_the_model_are_not_batched_together() -> None:
    workers = ModelLikeWorkers(1)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    await asyncio.gather(
        blocker,
        queue.run([job("with model")], "b", 10),
        queue.run([job("patterns only", use_ner=False)], "c", 10),
    )
    assert [len(texts) for texts, _ in workers.calls] == [1, 1, 1]


async def test_a_batch_is_bounded_in_characters_and_texts() -> None:
    workers = ModelLikeWorkers(1, per_text_s=0.0)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    half = "y" * (PIECE_CHARS // 2)
    large = [queue.run([job(half)], f"large{i}", 10) for i in range(3)]
    small = [queue.run([job("z")], f"small{i}", 10) for i in range(BATCH_TEXTS + 5)]
    await asyncio.gather(blocker, *large, *small)

    for texts, _ in workers.calls:
        assert sum(len(t) for t in texts) <= PIECE_CHARS
        assert len(texts) <= BATCH_TEXTS
    assert sum(len(texts) for texts, _ in workers.calls) == 1 + 3 + BATCH_TEXTS + 5


async def test_a_lone_request_is_sent_at_once_and_spread_over_idle_workers() -> None:
    workers = ModelLikeWorkers(2, call_s=0.2, per_text_s=0.0)
    queue = scheduler(workers)
    started = time.monotonic()
    await queue.run([job("alone")], "a", 10)
    assert time.monotonic() - started < 0.3  # no wait to fill a batch
    # a request planned as several jobs while workers are idle keeps its spread
    await queue.run([job("one"), job("two"), job("three"), job("four")], "a", 10)
    assert [len(texts) for texts, _ in workers.calls[1:]] == [2, 2]


class LosingWorkers(ModelLikeWorkers):
    """The call holding the text `lose` ends as if its worker had been killed, once."""

    def __init__(self) -> None:
        super().__init__(1)
        self.lost = False

    async def run(self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> Any:
        if "lose" in texts and not self.lost:
            self.lost = True
            self.free.append(worker)  # type: ignore[arg-type]
            raise WorkerLost()
        return await super().run(worker, texts, entities, use_ner)


async def test_a_worker_lost_under_a_batch_runs_every_job_of_it_once_more() -> None:
    workers = LosingWorkers()
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    batched = [queue.run([job(text)], text, 10) for text in ("lose", "keep", "also")]
    answers = await asyncio.gather(blocker, *batched)
    assert [answer[0][0][0][1] for answer in answers] == [1, 4, 4, 4]
    assert queue.metrics.retries._value.get() == 3


class FailingWorkers(ModelLikeWorkers):
    async def run(self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> Any:
        if "boom" in texts:
            self.free.append(worker)  # type: ignore[arg-type]
            raise JobFailed("ValueError")
        return await super().run(worker, texts, entities, use_ner)


async def test_a_failed_batch_runs_its_jobs_again_alone_so_only_the_bad_one_fails() -> None:
    workers = FailingWorkers(1)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    bad, innocent = await asyncio.gather(
        queue.run([job("boom")], "b", 10), queue.run([job("fine")], "c", 10), return_exceptions=True
    )
    await blocker
    assert isinstance(bad, DetectionError)
    assert innocent == [[[(0, 4, "PERSON", 1.0)]]]
    assert [len(texts) for texts, _ in workers.calls] == [1, 1]  # the batch of two failed unrecorded
    assert queue.queued_jobs == 0


async def test_a_missed_deadline_in_a_batch_fails_only_its_request() -> None:
    workers = ModelLikeWorkers(1, call_s=0.3, per_text_s=0.0)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    late = queue.run([job("late")], "late", 0.4)  # waits 0.3 s for the blocker, then 0.3 s more
    patient = queue.run([job("patient")], "patient", 10)
    outcomes = await asyncio.gather(late, patient, return_exceptions=True)
    await blocker

    assert isinstance(outcomes[0], DetectionError) and "deadline" in str(outcomes[0])
    assert outcomes[1] == [[[(0, 7, "PERSON", 1.0)]]]
    # the worker also ran a request still in time: it was left to finish, not stopped
    assert workers.stopped == []


async def test_a_batch_whose_requests_all_missed_their_deadlines_is_stopped() -> None:
    workers = ModelLikeWorkers(1, call_s=0.5, per_text_s=0.0)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "a", 10))
    await asyncio.sleep(0.01)
    outcomes = await asyncio.gather(
        queue.run([job("one")], "one", 0.6), queue.run([job("two")], "two", 0.7), return_exceptions=True
    )
    await blocker
    assert all(isinstance(o, DetectionError) for o in outcomes)
    assert [cause for _, cause in workers.stopped] == ["deadline"]


@pytest.mark.parametrize("apps", [1, 4])
async def test_fair_order_holds_inside_batches(apps: int) -> None:
    """A flood of one application fills batches only behind the others' jobs."""
    workers = ModelLikeWorkers(1)
    queue = scheduler(workers)
    blocker = asyncio.create_task(queue.run([job("x")], "flood", 10))
    await asyncio.sleep(0.01)
    flood = [queue.run([job(f"f{i}")], "flood", 10) for i in range(BATCH_TEXTS + 10)]
    others = [queue.run([job(f"o{i}")], f"other{i % apps}", 10) for i in range(4)]
    await asyncio.gather(blocker, *flood, *others)
    first_batch = workers.calls[1][0]
    assert {f"o{i}" for i in range(4)} <= set(first_batch)


async def test_callers_whose_batch_just_came_back_are_batched_again_not_one_by_one() -> None:
    """Closed-loop callers send their next text as soon as they have their answer: the freed
    worker waits a moment for them (BATCH_GATHER_S) instead of taking a batch of one."""
    workers = ModelLikeWorkers(1, call_s=0.02, per_text_s=0.0)
    queue = scheduler(workers)

    async def caller(name: str) -> None:
        for turn in range(6):
            await queue.run([job(f"{name}-{turn}")], name, 10)

    await asyncio.gather(*(caller(f"c{i}") for i in range(8)))
    sizes = [len(texts) for texts, _ in workers.calls]
    assert sum(sizes) == 48
    # the first goes alone, the rest travel together: not alternating 1, 7, 1, 7 ...
    assert sizes.count(1) <= 2, sizes
    assert len(sizes) <= 9, sizes


class IdleSignallingWorkers(ModelLikeWorkers):
    """Like the process pool: a worker says it is idle before the task awaiting its answer resumes."""

    async def run(self, worker: object, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> Any:
        self.calls.append((list(texts), list(entities)))
        await asyncio.sleep(self.job_time(texts) if self.job_time else self.job_s)
        self.free.append(worker)  # type: ignore[arg-type]
        self.on_idle()
        return [[(0, len(text), entity, 1.0) for entity in entities] for text in texts]


async def test_a_worker_that_signals_idle_first_still_gathers_its_batch_callers() -> None:
    workers = IdleSignallingWorkers(1, call_s=0.02, per_text_s=0.0)
    queue = scheduler(workers)

    async def caller(name: str) -> None:
        for turn in range(6):
            await queue.run([job(f"{name}-{turn}")], name, 10)

    await asyncio.gather(*(caller(f"c{i}") for i in range(8)))
    sizes = [len(texts) for texts, _ in workers.calls]
    assert sum(sizes) == 48
    assert sizes.count(1) <= 2 and len(sizes) <= 9, sizes
