"""A customer's own known identifiers are always masked: an `allow` for their type (or an `allow`
default) does not send them in clear; block, redact and hash, being at least as strong, stand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from models.consent import Action
from models.spans import Span
from proxy.detection import PresidioDetector
from proxy.known_identifiers import KnownIdentifierMatcher
from proxy.transform import Hasher, PlaceholderVault, apply_actions, effective_action, resolve_overlaps
from rules.loader import parse_rules
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder

HASHER = Hasher(b"k" * 32)


# --- the transform --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "forced", "expected"),
    [
        (Action.ALLOW, True, Action.MASK),
        (Action.ALLOW, False, Action.ALLOW),
        (Action.MASK, True, Action.MASK),
        (Action.REDACT, True, Action.REDACT),
        (Action.HASH, True, Action.HASH),
        (Action.BLOCK, True, Action.BLOCK),
    ],
)
def test_effective_action(action: Action, forced: bool, expected: Action) -> None:
    span = Span(0, 3, "PERSON", 1.0, forced)
    assert effective_action(span, {"PERSON": action}, Action.MASK) is expected
    assert effective_action(span, {}, action) is expected  # the same through the default action


def test_forced_span_is_masked_where_its_type_is_allowed() -> None:
    text = "Ada and Bob"
    spans = [Span(0, 3, "PERSON", 1.0, forced=True), Span(8, 11, "PERSON", 0.85)]
    vault = PlaceholderVault()
    result = apply_actions([text], [spans], {"PERSON": Action.ALLOW}, vault, HASHER)
    assert result.texts == ["<PERSON_1> and Bob"]
    assert vault.by_placeholder == {"<PERSON_1>": "Ada"}
    # One PERSON went out in clear: the record must not claim more protection than that.
    assert result.tally == {"PERSON": (2, Action.ALLOW)}


def test_forced_span_with_allow_default_is_tallied_as_masked() -> None:
    result = apply_actions(
        ["acct zorblax-9"],
        [[Span(5, 14, "ACCOUNT_NAME", 1.0, True)]],
        {},
        PlaceholderVault(),
        HASHER,
        Action.ALLOW,
    )
    assert result.texts == ["acct <ACCOUNT_NAME_1>"]
    assert result.tally == {"ACCOUNT_NAME": (1, Action.MASK)}


def test_stronger_actions_stand_for_forced_spans() -> None:
    spans = [[Span(0, 3, "PERSON", 1.0, True)]]
    assert apply_actions(["Ada"], spans, {"PERSON": Action.REDACT}, PlaceholderVault(), HASHER).texts == [
        "[PERSON]"
    ]
    hashed = apply_actions(["Ada"], spans, {"PERSON": Action.HASH}, PlaceholderVault(), HASHER).texts[0]
    assert hashed == f"[PERSON:{HASHER.digest('Ada', 'PERSON')}]"


def test_merging_keeps_the_forced_mark_whichever_type_wins() -> None:
    # NER's higher-scoring LOCATION swallows the known name: the union must stay forced.
    spans = [Span(0, 9, "PERSON", 0.6, forced=True), Span(0, 15, "LOCATION", 0.9)]
    merged = resolve_overlaps(spans)
    assert merged == [Span(0, 15, "LOCATION", 0.9, forced=True)]
    result = apply_actions(
        ["Jane Doe, Paris"], [spans], {"LOCATION": Action.ALLOW}, PlaceholderVault(), HASHER
    )
    assert result.texts == ["<LOCATION_1>"]


def test_apply_actions_resolves_raw_overlapping_spans_itself() -> None:
    text = "mail john.smith@example.com now"
    raw = [Span(5, 15, "PERSON", 0.6), Span(5, 27, "EMAIL_ADDRESS", 1.0)]
    result = apply_actions([text], [raw], {}, PlaceholderVault(), HASHER)
    assert result.texts == ["mail <EMAIL_ADDRESS_1> now"]
    assert result.tally == {"EMAIL_ADDRESS": (1, Action.MASK)}


# --- detection marks known identifiers -----------------------------------------------------------


def test_matcher_spans_are_forced() -> None:
    spans = KnownIdentifierMatcher({"ACCOUNT_NAME": ["zorblax-9"]}).find("see ZORBLAX-9")
    assert spans == [Span(4, 13, "ACCOUNT_NAME", 1.0, forced=True)]


def test_detector_forces_known_identifiers_even_when_their_type_is_allowed(
    detector: PresidioDetector,
) -> None:
    consent = parse_rules(
        {
            "default": {"actions": {"PERSON": "allow"}},
            "customers": {"acme": {"known_identifiers": {"PERSON": ["Qwyn Vortigaunt"]}}},
        }
    ).consent_for("acme")
    text = "Qwyn Vortigaunt met Jane Doe."
    found = asyncio.run(detector.detect([text], consent))[0]
    forced = [text[s.start : s.end] for s in found if s.forced]
    assert forced == ["Qwyn Vortigaunt"]
    result = apply_actions([text], [found], {"PERSON": Action.ALLOW}, PlaceholderVault(), HASHER)
    assert "Qwyn" not in result.texts[0]


# --- through the proxy ---------------------------------------------------------------------------

KNOWN_NAME = "Qwyn Vortigaunt"
KNOWN_ACCOUNT = "zorblax-9"
RULES: dict[str, Any] = {
    **TEST_RULES,
    "customers": {
        "acme-person-allowed": {
            "actions": {"PERSON": "allow"},
            "known_identifiers": {"PERSON": [KNOWN_NAME]},
        },
        "acme-allow-all": {"default_action": "allow", "known_identifiers": {"ACCOUNT_NAME": [KNOWN_ACCOUNT]}},
        "acme-redact": {
            "actions": {"ACCOUNT_NAME": "redact"},
            "known_identifiers": {"ACCOUNT_NAME": [KNOWN_ACCOUNT]},
        },
        "acme-block": {
            "actions": {"ACCOUNT_NAME": "block"},
            "known_identifiers": {"ACCOUNT_NAME": [KNOWN_ACCOUNT]},
        },
    },
}


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}}, rules=RULES
    )


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def chat(proxy: ProxyHarness, customer: str, content: str) -> None:
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )
    sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": content}])


def sent_content(upstream: Recorder) -> str:
    assert upstream.requests, "nothing reached the upstream"
    return str(json.loads(upstream.requests[-1].body)["messages"][0]["content"])


def test_known_person_is_masked_although_person_is_allowed(proxy: ProxyHarness, upstream: Recorder) -> None:
    chat(proxy, "acme-person-allowed", f"Please greet {KNOWN_NAME} warmly.")
    sent = sent_content(upstream)
    assert KNOWN_NAME not in sent and "<PERSON_1>" in sent


def test_known_account_is_masked_under_an_allow_default(proxy: ProxyHarness, upstream: Recorder) -> None:
    chat(proxy, "acme-allow-all", f"Check the account {KNOWN_ACCOUNT} for errors.")
    sent = sent_content(upstream)
    assert KNOWN_ACCOUNT not in sent and "<ACCOUNT_NAME_1>" in sent


def test_known_account_is_redacted_when_the_rules_say_redact(proxy: ProxyHarness, upstream: Recorder) -> None:
    chat(proxy, "acme-redact", f"Check the account {KNOWN_ACCOUNT} for errors.")
    assert sent_content(upstream) == "Check the account [ACCOUNT_NAME] for errors."


def test_known_account_blocks_when_the_rules_say_block(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(proxy, "acme-block", f"Check the account {KNOWN_ACCOUNT} for errors.")
    assert caught.value.status_code == 403
    assert not upstream.requests
