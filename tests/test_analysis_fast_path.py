"""Consentry calls Presidio's recognizers itself (`Analysis._recognize`) instead of
`AnalyzerEngine.analyze` per text; the results must be exactly Presidio's, context words included."""

from __future__ import annotations

import os

import pytest

from proxy.analysis import Analysis
from proxy.detection import DEFAULT_SPACY_MODEL
from proxy.detection.workers import _one_math_thread

TEXTS = [
    "My social security number is 078-05-1120 and my phone is 212-555-0199.",
    "Call Maria Keller at +41 44 668 18 00 or write to m.keller@example.org.",
    "Ship to 742 Evergreen Terrace, Springfield, IL 62704. Card 4111 1111 1111 1111.",
    "passport: 912803456, driver license D1234567, routing number 021000021",
    "Server 10.0.0.12 answered 503; see https://www.linkedin.com/in/tomas-novak-4411",
    "codice fiscale RSSMRA85T10A562S, IBAN DE89 3704 0044 0532 0130 00 from my account",
    "def handler(event): return event['body']  # nothing personal here",
    "",
    "medical license AB1234567 and NHS 943 476 5919, wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
]


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return Analysis(DEFAULT_SPACY_MODEL)


def test_the_fast_path_finds_exactly_what_presidio_finds(analysis: Analysis) -> None:
    engine = analysis.analyzer.nlp_engine
    entities = list(analysis.entities)
    recognizers = analysis._recognizers_for(entities)
    for text in TEXTS:
        art = engine.process_text(text, "en")
        ours = sorted((r.start, r.end, r.entity_type, r.score) for r in analysis._recognize(
            text, entities, art, recognizers
        ))
        art = engine.process_text(text, "en")
        presidio = sorted(
            (r.start, r.end, r.entity_type, r.score)
            for r in analysis.analyzer.analyze(
                text=text, language="en", entities=entities, nlp_artifacts=art, score_threshold=0.0
            )
        )
        assert ours == presidio, text


def test_workers_are_spawned_with_one_math_thread_unless_the_operator_chose() -> None:
    before = {name: os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    os.environ["OMP_NUM_THREADS"] = "3"
    try:
        with _one_math_thread():
            assert os.environ["OPENBLAS_NUM_THREADS"] == (before["OPENBLAS_NUM_THREADS"] or "1")
            assert os.environ["OMP_NUM_THREADS"] == "3"
        assert os.environ.get("OPENBLAS_NUM_THREADS") == before["OPENBLAS_NUM_THREADS"]
    finally:
        if before["OMP_NUM_THREADS"] is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before["OMP_NUM_THREADS"]
