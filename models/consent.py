"""A customer's data-sharing consent, as the rules files state it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    """What happens to a detected entity before the text leaves."""

    MASK = "mask"  # reversible placeholder, restored in the answer
    REDACT = "redact"  # irreversible type marker
    HASH = "hash"  # keyed HMAC, stable across requests
    ALLOW = "allow"  # sent as is
    BLOCK = "block"  # the whole request is refused


class ProcessingState(StrEnum):
    """Where the customer stands on sharing with AI providers."""

    ACTIVE = "active"
    RESTRICTED = "restricted"  # right to restriction of processing
    OBJECTED = "objected"  # right to object
    WITHDRAWN = "withdrawn"  # consent to sharing withdrawn


class UnscannablePolicy(StrEnum):
    """What to do with content the detector cannot read (images, audio, files)."""

    BLOCK = "block"
    ALLOW = "allow"


@dataclass(frozen=True)
class Consent:
    """The effective consent for one customer: the default policy with the customer's overrides applied."""

    customer_id: str
    version: str
    state: ProcessingState = ProcessingState.ACTIVE
    providers: frozenset[str] = frozenset()
    # Model-id glob patterns per provider; a provider absent here allows every model.
    models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    actions: Mapping[str, Action] = field(default_factory=dict)
    default_action: Action = Action.MASK
    thresholds: Mapping[str, float] = field(default_factory=dict)
    default_threshold: float = 0.4
    unscannable: UnscannablePolicy = UnscannablePolicy.BLOCK
    known_customer: bool = False
    # The customer's own account data (entity type -> exact values), masked wherever it appears.
    known_identifiers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def action_for(self, entity_type: str) -> Action:
        return self.actions.get(entity_type, self.default_action)

    def threshold_for(self, entity_type: str) -> float:
        return self.thresholds.get(entity_type, self.default_threshold)
