"""What the consent rules say about one request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from models.consent import Action


@dataclass(frozen=True)
class Findings:
    """What detection found in a request: counts per entity type, and unscannable content kinds."""

    entity_counts: Mapping[str, int] = field(default_factory=dict)
    unscannable: frozenset[str] = frozenset()


class Outcome(StrEnum):
    FORWARD = "forward"
    BLOCK = "block"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    # Machine-readable reason code when blocked ("consent_withdrawn", "entity_blocked", ...).
    reason: str = ""
    message: str = ""
    actions: Mapping[str, Action] = field(default_factory=dict)
    blocked_entities: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK
