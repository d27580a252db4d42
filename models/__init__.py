"""The typed vocabulary every part of Consentry speaks. Plain data, no I/O."""

from models.consent import Action, Consent, ProcessingState, UnscannablePolicy
from models.decision import Decision, Findings, Outcome
from models.sharing import SharingRecord
from models.spans import Span
from models.target import ProviderTarget

__all__ = [
    "Action",
    "Consent",
    "Decision",
    "Findings",
    "Outcome",
    "ProcessingState",
    "ProviderTarget",
    "SharingRecord",
    "Span",
    "UnscannablePolicy",
]
