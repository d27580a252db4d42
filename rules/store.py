"""Where consents come from at run time."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from models.consent import Consent
from rules.loader import RuleSet, load_rules


class ConsentStore(Protocol):
    async def get(self, customer_id: str) -> Consent: ...


class RulesFileConsentStore:
    """Consents from one rules file, held in memory; `reload()` swaps them atomically."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._path = path
        self._rules: RuleSet = load_rules(path)

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def reload(self) -> None:
        self._rules = load_rules(self._path)

    async def get(self, customer_id: str) -> Consent:
        return self._rules.consent_for(customer_id)
