"""The one way Consentry's recognizers report a span (Presidio's RecognizerResult, filled in)."""

from __future__ import annotations

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult


def scored_result(
    recognizer: EntityRecognizer,
    start: int,
    end: int,
    score: float,
    explanation: str,
    entity_type: str | None = None,
) -> RecognizerResult:
    """A result of a recognizer that weighs its own evidence: marked as already enhanced, so
    Presidio's context enhancer does not add to the score a second time. `entity_type` defaults to
    the recognizer's only entity."""
    return RecognizerResult(
        entity_type=entity_type or recognizer.supported_entities[0],
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(
            recognizer=recognizer.name, original_score=score, textual_explanation=explanation
        ),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
            RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
        },
    )
