"""Detector stand-ins for tests that need detection itself to go wrong."""

from __future__ import annotations

from collections.abc import Sequence

from models.consent import Consent
from models.spans import Span
from proxy.detection import DetectionError


class FailingDetector:
    """Stands in for a detector whose model crashed or timed out."""

    ready = True

    async def start(self) -> None:
        return None

    async def detect(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]:
        raise DetectionError("injected failure")

    async def close(self) -> None:
        return None


class NullDetector:
    """A loaded detector that finds nothing: for tests about everything but detection."""

    ready = True

    async def start(self) -> None:
        return None

    async def detect(self, segments: Sequence[str], consent: Consent) -> list[list[Span]]:
        return [[] for _ in segments]

    async def close(self) -> None:
        return None
