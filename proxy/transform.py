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

    The merged span takes the type of its highest-scoring (then longest) member.
    """
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            keep = max((last, span), key=lambda s: (s.score, len(s)))
            merged[-1] = Span(last.start, max(last.end, span.end), keep.entity_type, keep.score)
        else:
            merged.append(span)
    return merged


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


@dataclass
class TransformResult:
    texts: list[str]
    # entity type -> (count, action) over the whole request
    tally: dict[str, tuple[int, Action]]


def apply_actions(
    texts: Sequence[str],
    spans_per_text: Sequence[Sequence[Span]],
    actions: Mapping[str, Action],
    vault: PlaceholderVault,
    hasher: Hasher,
    default_action: Action = Action.MASK,
) -> TransformResult:
    out: list[str] = []
    counts: Counter[str] = Counter()
    for text, spans in zip(texts, spans_per_text, strict=True):
        pieces: list[str] = []
        cursor = 0
        for span in resolve_overlaps(spans):
            action = actions.get(span.entity_type, default_action)
            counts[span.entity_type] += 1
            value = text[span.start : span.end]
            if action is Action.ALLOW:
                continue
            pieces.append(text[cursor : span.start])
            if action is Action.REDACT:
                pieces.append(f"[{span.entity_type}]")
            elif action is Action.HASH:
                pieces.append(f"[{span.entity_type}:{hasher.digest(value, span.entity_type)}]")
            else:
                # MASK, and BLOCK as a safe fallback (a blocked request never gets this far).
                pieces.append(vault.placeholder_for(span.entity_type, value))
            cursor = span.end
        pieces.append(text[cursor:])
        out.append("".join(pieces))
    tally = {etype: (n, actions.get(etype, default_action)) for etype, n in counts.items()}
    return TransformResult(out, tally)
