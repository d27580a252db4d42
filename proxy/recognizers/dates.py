"""Dates written as numbers: Presidio's DateRecognizer patterns, minus timestamps in code and logs.

Presidio's DateRecognizer finds "2024-03-12", "12/03/1984", "2024-03-12T14:22:01Z" by pattern,
wherever they stand. A date is a quasi-identifier; in a log line, a SQL literal or a config file it
is a timestamp of the system, not of a person. The same rule as for spaCy's dates applies
(`quasi_identifiers.keep_ner_span`): machine timestamps are dropped everywhere, and in code a date
needs a birth-date word before it. Dates in prose are kept as Presidio finds them.
"""

from __future__ import annotations

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import DateRecognizer as PresidioDateRecognizer

from proxy.recognizers.quasi_identifiers import keep_ner_span


class CodeAwareDateRecognizer(PresidioDateRecognizer):
    """Presidio's date patterns, without timestamps of systems (see the module doc). Its class name
    differs from Presidio's: Presidio's registry loader finds recognizer classes by class name."""

    def __init__(self) -> None:
        super().__init__(name="ConsentryDateRecognizer")

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [r for r in results if keep_ner_span(text, r.start, r.end, r.entity_type)]
