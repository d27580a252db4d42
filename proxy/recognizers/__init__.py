"""Consentry's own recognizers, built on Presidio's extension points (PatternRecognizer,
EntityRecognizer). Each module holds one family; `consentry_recognizers()` is the one list the
detector registers, next to Presidio's defaults."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer


def consentry_recognizers() -> list[EntityRecognizer]:
    return []


# Presidio default recognizers that a Consentry recognizer replaces (same entity, better validation).
REPLACED_DEFAULTS: frozenset[str] = frozenset()
