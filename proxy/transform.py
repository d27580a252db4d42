"""Replace detected spans according to the decision's actions. Pure: no I/O."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from models.consent import Action
from models.spans import Span


def resolve_overlaps(spans: Sequence[Span]) -> list[Span]:
    """Merge overlapping detections into their union, so no character of any detection leaks.

    The merged span takes the type of its highest-scoring (then longest) member, and is forced if
    any member is: a known identifier must not lose its protection by overlapping another finding.
    """
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            keep = max((last, span), key=lambda s: (s.score, len(s)))
            merged[-1] = Span(
                last.start,
                max(last.end, span.end),
                keep.entity_type,
                keep.score,
                last.forced or span.forced,
            )
        else:
            merged.append(span)
    return merged


def effective_action(span: Span, actions: Mapping[str, Action], default_action: Action) -> Action:
    """What happens to one span: its type's action, except that a forced span (a customer's own
    known identifier) is never sent in clear. Block, redact and hash are at least as strong as a
    placeholder, so they stand; only allow becomes mask."""
    action = actions.get(span.entity_type, default_action)
    if span.forced and action is Action.ALLOW:
        return Action.MASK
    return action


@dataclass
class PlaceholderVault:
    """Reversible placeholders for one request: the same value gets the same placeholder everywhere.

    `avoid` is the request's own text; a placeholder that already occurs in it is skipped so that
    restoring never rewrites something the user typed.
    """

    avoid: str = ""
    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    by_placeholder: dict[str, str] = field(default_factory=dict)
    _counters: Counter[str] = field(default_factory=Counter)

    def placeholder_for(self, entity_type: str, value: str) -> str:
        key = (entity_type, value)
        existing = self.by_value.get(key)
        if existing is not None:
            return existing
        while True:
            self._counters[entity_type] += 1
            candidate = f"<{entity_type}_{self._counters[entity_type]}>"
            if candidate not in self.avoid:
                break
        self.by_value[key] = candidate
        self.by_placeholder[candidate] = value
        return candidate


@dataclass(frozen=True)
class Hasher:
    """Keyed HMAC-SHA256: stable across requests and restarts, useless without the key."""

    key: bytes

    def digest(self, value: str, purpose: str, length: int = 12) -> str:
        mac = hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:length]

    def pseudonym(self, identifier: str) -> str:
        return "anon-" + self.digest(identifier, "end-user-id", 32)


# How much of a value an action lets through, least first: a tally that covers several actions
# names the one that protected least, so a sharing record never claims more than was done.
_DISCLOSURE_ORDER = {Action.ALLOW: 0, Action.HASH: 1, Action.MASK: 2, Action.REDACT: 3, Action.BLOCK: 4}


@dataclass
class TransformResult:
    texts: list[str]
    # entity type -> (count, action actually applied) over the whole request, counted after overlaps
    # are merged; when spans of one type were treated differently (a forced known identifier next
    # to allowed values of its type), the action is the least protective of them.
    tally: dict[str, tuple[int, Action]]


def apply_actions(
    texts: Sequence[str],
    spans_per_text: Sequence[Sequence[Span]],
    actions: Mapping[str, Action],
    vault: PlaceholderVault,
    hasher: Hasher,
    default_action: Action = Action.MASK,
) -> TransformResult:
    """Rewrite each text by its spans' actions. Spans may overlap (raw detector output): they are
    merged here, once, so callers need not resolve them first."""
    out: list[str] = []
    counts: Counter[str] = Counter()
    applied: dict[str, Action] = {}
    for text, spans in zip(texts, spans_per_text, strict=True):
        pieces: list[str] = []
        cursor = 0
        for span in resolve_overlaps(spans):
            action = effective_action(span, actions, default_action)
            etype = span.entity_type
            counts[etype] += 1
            seen = applied.get(etype)
            if seen is None or _DISCLOSURE_ORDER[action] < _DISCLOSURE_ORDER[seen]:
                applied[etype] = action
            if action is Action.ALLOW:
                continue
            value = text[span.start : span.end]
            pieces.append(text[cursor : span.start])
            if action is Action.REDACT:
                pieces.append(f"[{etype}]")
            elif action is Action.HASH:
                pieces.append(f"[{etype}:{hasher.digest(value, etype)}]")
            else:
                # MASK, and BLOCK as a safe fallback (a blocked request never gets this far).
                pieces.append(vault.placeholder_for(etype, value))
            cursor = span.end
        pieces.append(text[cursor:])
        out.append("".join(pieces))
    return TransformResult(out, {etype: (n, applied[etype]) for etype, n in counts.items()})
