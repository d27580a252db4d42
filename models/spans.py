"""A piece of personal data found in one text segment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    """Half-open character range [start, end) of `entity_type` in one segment.

    `forced`: the span is one of the customer's own known identifiers, which never leaves in clear
    whatever the rules allow for its type (see `proxy.transform.effective_action`).
    """

    start: int
    end: int
    entity_type: str
    score: float = 1.0
    forced: bool = False

    def __len__(self) -> int:
        return self.end - self.start
