"""A piece of personal data found in one text segment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    """Half-open character range [start, end) of `entity_type` in one segment."""

    start: int
    end: int
    entity_type: str
    score: float = 1.0

    def __len__(self) -> int:
        return self.end - self.start
