"""The decision: a pure function of (consent, target, findings)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from models.consent import Action, Consent, ProcessingState, UnscannablePolicy
from models.decision import Decision, Findings, Outcome
from models.target import ProviderTarget

_STATE_REASONS = {
    ProcessingState.RESTRICTED: (
        "consent_restricted",
        "the customer has restricted processing of their data",
    ),
    ProcessingState.OBJECTED: ("consent_objected", "the customer has objected to sharing with AI providers"),
    ProcessingState.WITHDRAWN: ("consent_withdrawn", "the customer has withdrawn consent to sharing"),
}


def _block(reason: str, message: str, blocked_entities: tuple[str, ...] = ()) -> Decision:
    return Decision(Outcome.BLOCK, reason=reason, message=message, blocked_entities=blocked_entities)


def decide(consent: Consent, target: ProviderTarget, findings: Findings | None = None) -> Decision:
    """Whether the request may leave, and what happens to each entity type found.

    With `findings=None` only what is known before detection is judged (state, provider,
    model), so a refused request never pays for detection.
    """
    if consent.state in _STATE_REASONS:
        return _block(*_STATE_REASONS[consent.state])
    if target.provider not in consent.providers:
        return _block("provider_not_allowed", f"sharing with provider '{target.provider}' is not allowed")
    patterns = consent.models.get(target.provider)
    if patterns is not None:
        if not target.model and target.carries_data:
            return _block("model_not_allowed", "the request names no model, and only some models are allowed")
        if target.model and not any(fnmatchcase(target.model, p) for p in patterns):
            return _block("model_not_allowed", f"sharing with model '{target.model}' is not allowed")
    if findings is None:
        return Decision(Outcome.FORWARD)
    if findings.unscannable and consent.unscannable is UnscannablePolicy.BLOCK:
        kinds = ", ".join(sorted(findings.unscannable))
        return _block("unscannable_content", f"content that cannot be scanned for personal data: {kinds}")
    actions = {etype: consent.action_for(etype) for etype in findings.entity_counts}
    blocked = tuple(sorted(e for e, a in actions.items() if a is Action.BLOCK))
    if blocked:
        return _block(
            "entity_blocked",
            f"the request contains personal data that may not be shared: {', '.join(blocked)}",
            blocked,
        )
    return Decision(Outcome.FORWARD, actions=actions)
