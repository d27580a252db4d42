"""Supervised detector workers, real processes and the real model: a worker killed with SIGKILL
(what the OOM killer does) is replaced on its own, readiness says whether any worker can serve,
a missed deadline replaces only the worker that was on it, a worker over its memory limit is
replaced after its job."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from models.consent import Consent
from proxy.detection import DetectionError, PresidioDetector
from rules.loader import parse_rules

T = TypeVar("T")
CONSENT: Consent = parse_rules({"version": "t", "default": {}, "customers": {}}).consent_for("c1")
TEXT = "Call Olga Petrova at olga@example.org"
# Digits separated by spaces are the slowest text for the phone recognizer: ~0.2 s for these.
SLOW_SHORT_TEXT = " ".join(str(i % 10) for i in range(350))


class LoopThread:
    """An event loop in a thread, so one pool of worker processes serves several tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def pooled(loop: LoopThread) -> Iterator[PresidioDetector]:
    detector = PresidioDetector(workers=2, timeout_s=30)
    loop.call(detector.start())
    yield detector
    loop.call(detector.close())


def pids(detector: PresidioDetector) -> set[int]:
    assert detector.pool is not None
    return set(detector.pool.pids())


def wait_until_restored(detector: PresidioDetector, within_s: float = 60) -> float:
    """Seconds until every worker is loaded again."""
    started = time.monotonic()
    assert detector.pool is not None
    while detector.pool.alive < detector.workers:
        assert time.monotonic() - started < within_s, "the pool was not restored"
        time.sleep(0.05)
    return time.monotonic() - started


def gone(pid: int, within_s: float = 10.0) -> bool:
    """The process has exited (reaped, or a zombie waiting to be), read from /proc."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def exits(detector: PresidioDetector, cause: str) -> float:
    return float(detector.metrics.worker_exits.labels(cause)._value.get())


def wait_for_exits(detector: PresidioDetector, cause: str, count: float, within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while exits(detector, cause) < count:
        assert time.monotonic() < deadline, f"no worker exit ({cause}) was noticed"
        time.sleep(0.02)


def test_every_worker_killed_makes_readiness_false_until_one_is_back(
    loop: LoopThread, pooled: PresidioDetector
) -> None:
    wait_until_restored(pooled)
    before = pids(pooled)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pooled.ready:
        assert time.monotonic() < deadline, "readiness stayed true with no worker alive"
        time.sleep(0.01)

    with pytest.raises(DetectionError) as caught:
        loop.call(pooled.detect([TEXT], CONSENT))
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 0

    restored_s = wait_until_restored(pooled)
    assert pooled.ready and pids(pooled).isdisjoint(before)
    found = loop.call(pooled.detect([TEXT], CONSENT))[0]
    assert {"PERSON", "EMAIL_ADDRESS"} <= {s.entity_type for s in found}
    assert exits(pooled, "crashed") >= 2
    print(f"both workers replaced in {restored_s:.1f}s")


def test_a_missed_deadline_replaces_only_the_worker_on_that_request(
    loop: LoopThread, pooled: PresidioDetector
) -> None:
    wait_until_restored(pooled)
    before = pids(pooled)
    deadline_exits = exits(pooled, "deadline")
    pooled.timeout_s = 0.02
    try:
        with pytest.raises(DetectionError, match="deadline"):
            loop.call(pooled.detect([SLOW_SHORT_TEXT], CONSENT))
    finally:
        pooled.timeout_s = 30
    wait_for_exits(pooled, "deadline", deadline_exits + 1)
    stopped = before - pids(pooled)
    assert len(stopped) == 1, "exactly the worker running the late request is replaced"
    assert all(gone(pid) for pid in stopped)
    # the other worker serves meanwhile
    found = loop.call(pooled.detect([TEXT + " today"], CONSENT))[0]
    assert "EMAIL_ADDRESS" in {s.entity_type for s in found}
    wait_until_restored(pooled)
    assert len(pids(pooled) & before) == 1


def test_a_worker_over_its_memory_limit_is_replaced_after_its_job() -> None:
    async def run() -> tuple[list[Any], float]:
        detector = PresidioDetector(workers=1, timeout_s=30, worker_max_rss_mb=1)
        await detector.start()
        try:
            found = (await detector.detect([TEXT], CONSENT))[0]
            for _ in range(200):
                if exits(detector, "memory"):
                    break
                await asyncio.sleep(0.02)
            return found, exits(detector, "memory")
        finally:
            await detector.close()

    found, memory_exits = asyncio.run(run())
    assert "EMAIL_ADDRESS" in {s.entity_type for s in found}, "the job is answered before the worker goes"
    assert memory_exits == 1


def test_ready_with_the_first_worker_loaded_detects_everything() -> None:
    # Readiness comes with the first loaded worker, before the others have loaded: detection must
    # already know every entity type then (an empty list would let everything through unread).
    async def run() -> tuple[int, list[Any]]:
        detector = PresidioDetector(workers=2, timeout_s=30)
        starting = asyncio.create_task(detector.start())
        try:
            while not detector.ready:
                assert not starting.done(), "start() ended before any worker was ready"
                await asyncio.sleep(0.01)
            assert detector.pool is not None
            alive = detector.pool.alive
            return alive, (await detector.detect([TEXT], CONSENT))[0]
        finally:
            await starting
            await detector.close()

    alive, found = asyncio.run(run())
    assert alive >= 1
    assert {"PERSON", "EMAIL_ADDRESS"} <= {s.entity_type for s in found}
