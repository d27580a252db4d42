"""The analysis itself: Presidio on a spaCy pipeline trimmed to what detection needs.

This module runs inside detector workers (a thread in tests, processes in production), so its
state is one module-level engine per worker and its inputs and outputs are plain, picklable data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

from proxy.logs import install as install_content_free_logs
from proxy.normalise import OffsetMap, normalise

log = logging.getLogger("consentry.analysis")

# spaCy components detection never reads: the NER of the small English models has its own
# embedding layer, so the shared tok2vec, tagger, parser and lemmatizer are pure cost.
UNUSED_COMPONENTS = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

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
# Entity types only the NER model produces (directly or via the recognizers that read its output).
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "DATE_TIME", "ORGANIZATION"})

RawSpan = tuple[int, int, str, float]


def make_tldextract_offline() -> None:
    """Presidio's email and URL recognizers call tldextract, whose default extractor fetches the
    public-suffix list over the network on first use. Pin it to the snapshot in the package."""
    import tldextract
    import tldextract.tldextract as tld_module

    tld_module.TLD_EXTRACTOR = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def quiet_presidio_logs() -> None:
    """Presidio logs matched context words and text at DEBUG: personal data must never reach logs,
    whatever level the operator picks."""
    for name in ("presidio-analyzer", "presidio-anonymizer", "presidio_analyzer"):
        logging.getLogger(name).setLevel(logging.WARNING)


class TrimmedSpacyNlpEngine(SpacyNlpEngine):
    """spaCy with only the NER component; lemmas are lower-cased tokens (context words still match)."""

    def load(self) -> None:
        self.nlp = {
            m["lang_code"]: spacy.load(m["model_name"], exclude=list(UNUSED_COMPONENTS)) for m in self.models
        }

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        entities, scores = self._get_updated_entities(doc.ents, self._get_scores_for_entities(doc))
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[token.idx for token in doc],
            lemmas=[token.lower_ for token in doc],
            nlp_engine=self,
            language=language,
            scores=scores,
        )

    def tokens_only(self, text: str, language: str = "en") -> NlpArtifacts:
        """Artifacts without running the model, for requests whose rules need no NER entity."""
        return self._doc_to_nlp_artifact(self.nlp[language].make_doc(text), language)


class _OwnResults(list[RecognizerResult]):
    """Results made for this one call: the enhancer's defensive deep copy of them (it raises
    scores in place) may be a plain list of the same objects, nobody else holds them."""

    def __deepcopy__(self, memo: dict[int, object]) -> list[RecognizerResult]:
        return list(self)


class CandidatesOnlyContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer, given only the results it can change, without copying.

    The stock enhancer deep-copies every result of a text before it looks at any (about 40% of
    Presidio's own time per short text here, most of it on results of recognizers that have no
    context words); the results of one call are made for it alone, so they are raised in place."""

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        with_context = {recognizer.id for recognizer in recognizers if recognizer.context}
        positions = [
            i
            for i, result in enumerate(raw_results)
            if (meta := result.recognition_metadata)
            and meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY) in with_context
            and not meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY)
        ]
        if not positions:
            return list(raw_results)
        enhanced = super().enhance_using_context(
            text, _OwnResults(raw_results[i] for i in positions), nlp_artifacts, recognizers, context
        )
        results = list(raw_results)
        for i, result in zip(positions, enhanced, strict=True):
            results[i] = result
        return results


def build_analyzer(
    model_name: str, custom: bool = True, trimmed: bool = True, phone_regions: Sequence[str] | None = None
) -> AnalyzerEngine:
    """Presidio's default recognizers on the installed spaCy model, plus Consentry's own.

    `custom=False, trimmed=False` is stock Presidio, for side-by-side measurements.
    """
    make_tldextract_offline()
    quiet_presidio_logs()
    engine_class = TrimmedSpacyNlpEngine if trimmed else SpacyNlpEngine
    nlp_engine = engine_class(
        models=[{"lang_code": "en", "model_name": model_name}], ner_model_configuration=None
    )
    from presidio_analyzer.nlp_engine import NerModelConfiguration

    nlp_engine.ner_model_configuration = NerModelConfiguration.from_dict(NER_MODEL_CONFIGURATION)
    nlp_engine.load()
    analyzer = AnalyzerEngine(
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=CandidatesOnlyContextEnhancer() if trimmed else None,
    )
    if custom:
        from proxy.recognizers import REPLACED_DEFAULTS, consentry_recognizers

        for name in REPLACED_DEFAULTS:
            analyzer.registry.remove_recognizer(name)
        for recognizer in consentry_recognizers(phone_regions):
            analyzer.registry.add_recognizer(recognizer)
    return analyzer


class Analysis:
    """One worker's engine: texts in, raw spans (all scores) out."""

    def __init__(
        self, model_name: str, custom: bool = True, phone_regions: Sequence[str] | None = None
    ) -> None:
        self.analyzer = build_analyzer(model_name, custom=custom, phone_regions=phone_regions)
        self._recognizers: dict[tuple[str, ...], list[EntityRecognizer]] = {}
        overridden = [
            type(r).__name__
            for r in self.analyzer.registry.recognizers
            if type(r).enhance_using_context is not EntityRecognizer.enhance_using_context
        ]
        # `_recognize` skips per-recognizer context enhancement: no recognizer may need it.
        assert not overridden, f"recognizers with their own context enhancement: {overridden}"
        self.entities = sorted(self.analyzer.get_supported_entities(language="en"))
        self.analyze(["warm up John Smith in London"], self.entities, use_ner=True)

    def analyze(self, texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> list[list[RawSpan]]:
        """Spans per text, in the texts' own offsets; found on their normalised views (`normalise`),
        so values written with odd spaces, full-width forms or invisible characters are found too."""
        views = [normalise(text) for text in texts]
        texts = [view for view, _ in views]  # the rest reads the views; spans are mapped back below
        engine = self.analyzer.nlp_engine
        assert isinstance(engine, TrimmedSpacyNlpEngine)
        if use_ner and len(texts) > 4:
            artifacts = [art for _, art in engine.process_batch(list(texts), "en", batch_size=32)]
        elif use_ner:
            # spaCy's pipe() costs about a millisecond of set-up per call: only worth it for batches.
            artifacts = [engine.process_text(text, "en") for text in texts]
        else:
            artifacts = [engine.tokens_only(text) for text in texts]
        wanted = list(entities)
        recognizers = self._recognizers_for(wanted)
        out: list[list[RawSpan]] = []
        for text, art in zip(texts, artifacts, strict=True):
            results = self._recognize(text, wanted, art, recognizers)
            out.append([(r.start, r.end, r.entity_type, float(r.score)) for r in results])
        return [to_original(spans, offsets) for spans, (_, offsets) in zip(out, views, strict=True)]

    def _recognizers_for(self, entities: list[str]) -> list[EntityRecognizer]:
        key = tuple(entities)
        recognizers = self._recognizers.get(key)
        if recognizers is None:
            recognizers = self.analyzer.registry.get_recognizers(language="en", entities=entities)
            for recognizer in recognizers:
                if not recognizer.is_loaded:
                    recognizer.load()
                    recognizer.is_loaded = True
            if len(self._recognizers) > 64:  # one entry per distinct rule set: a handful
                self._recognizers.clear()
            self._recognizers[key] = recognizers
        return recognizers

    def _recognize(
        self, text: str, entities: list[str], art: NlpArtifacts, recognizers: list[EntityRecognizer]
    ) -> list[RecognizerResult]:
        """`AnalyzerEngine.analyze(..., score_threshold=0.0)` without its fixed cost per text.

        The same steps — every recognizer, its id on its results, the context enhancer, the
        duplicates removed — minus what costs without changing a result here: selecting the
        recognizers again for every text, one pass per recognizer through its own context
        enhancement (none of ours or Presidio's overrides the no-op), and the decision-process
        bookkeeping. The equality with `AnalyzerEngine.analyze` is tested (test_analysis_fast_path).
        """
        results: list[RecognizerResult] = []
        for recognizer in recognizers:
            found = recognizer.analyze(text=text, entities=entities, nlp_artifacts=art)
            if not found:
                continue
            for result in found:
                if not result.recognition_metadata:
                    result.recognition_metadata = {}
                meta = result.recognition_metadata
                meta.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, recognizer.id)
                meta.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, recognizer.name)
            results.extend(found)
        if results:
            results = self.analyzer.context_aware_enhancer.enhance_using_context(
                text=text, raw_results=results, nlp_artifacts=art, recognizers=recognizers
            )
        return EntityRecognizer.remove_duplicates(results)


def to_original(spans: list[RawSpan], offsets: OffsetMap) -> list[RawSpan]:
    """Spans found on a normalised view, in the original text's offsets."""
    if offsets.is_identity:
        return spans
    return [(*offsets.to_original(start, end), etype, score) for start, end, etype, score in spans]


# ---------------------------------------------------------------- process-pool entry points

_WORKER: Analysis | None = None


def worker_init(model_name: str, phone_regions: Sequence[str] | None = None) -> None:
    global _WORKER
    # A spawned worker has none of the parent's logging set-up: library records (spaCy's and
    # Presidio's own handlers included) must be content-free here too.
    install_content_free_logs()
    _WORKER = Analysis(model_name, phone_regions=phone_regions)


def worker_entities() -> list[str]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.entities


def worker_analyze(texts: Sequence[str], entities: Sequence[str], use_ner: bool) -> list[list[RawSpan]]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.analyze(texts, entities, use_ner)
