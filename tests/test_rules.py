"""Consent rules: parsing and validating rule files, consent versions, and the decision function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from models import (
    Action,
    Consent,
    Decision,
    Findings,
    Outcome,
    ProcessingState,
    ProviderTarget,
    UnscannablePolicy,
)
from rules import decide, load_rules, parse_rules
from rules.loader import BUNDLED_RULES, KNOWN_PROVIDERS, RulesError

PROVIDERS = ["openai", "azure", "bedrock", "gemini"]
# Every entity type the detector may report (Presidio's predefined recognizers and spaCy mapping).
ENTITY_TYPES = [
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "LOCATION",
    "DATE_TIME",
    "NRP",
    "CREDIT_CARD",
    "CRYPTO",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MEDICAL_LICENSE",
    "URL",
    "US_SSN",
    "US_BANK_NUMBER",
    "US_DRIVER_LICENSE",
    "US_ITIN",
    "US_PASSPORT",
    "UK_NHS",
    # Consentry's national identifiers (proxy/recognizers/national_ids.py)
    "IT_FISCAL_CODE",
    "FR_NIR",
    "ES_NIF",
    "ES_NIE",
    "NL_BSN",
    "PL_PESEL",
    "DE_TAX_ID",
    "DE_PENSION_NUMBER",
    "UK_NINO",
    "IN_AADHAAR",
    "IN_PAN",
]


def chat(provider: str = "openai", model: str = "gpt-4o-mini") -> ProviderTarget:
    return ProviderTarget(provider=provider, operation="chat", model=model)


def test_a_model_allow_list_refuses_a_request_without_a_model() -> None:
    consent = consent_of({"customers": {"acme": {"models": {"openai": ["gpt-4o*"]}}}})
    # Data with no model named (a Responses call to a stored prompt): it could go anywhere.
    refused = decide(consent, chat("openai", ""), Findings())
    assert refused.outcome is Outcome.BLOCK and refused.reason == "model_not_allowed"
    # Listing models shares no customer data.
    listing = ProviderTarget(provider="openai", operation="models", model="", carries_data=False)
    assert decide(consent, listing, Findings()).outcome is Outcome.FORWARD
    # A customer without a model allow-list is not asked for one.
    assert decide(consent_of({}), chat("openai", ""), Findings()).outcome is Outcome.FORWARD


def consent_of(document: dict[str, Any], customer: str = "acme") -> Consent:
    return parse_rules(document).consent_for(customer)


# --- decide ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("restricted", "consent_restricted"),
        ("objected", "consent_objected"),
        ("withdrawn", "consent_withdrawn"),
    ],
)
@pytest.mark.parametrize("findings", [None, Findings(), Findings({"PERSON": 2})])
def test_state_blocks_with_reason(state: str, reason: str, findings: Findings | None) -> None:
    consent = consent_of({"customers": {"acme": {"state": state}}})
    assert consent.state is ProcessingState(state)
    decision = decide(consent, chat(), findings)
    assert decision.blocked
    assert decision.outcome is Outcome.BLOCK
    assert decision.reason == reason
    assert decision.message
    assert decision.actions == {}


def test_state_of_one_customer_does_not_affect_another() -> None:
    rules = parse_rules({"customers": {"acme": {"state": "withdrawn"}}})
    assert decide(rules.consent_for("globex"), chat()).outcome is Outcome.FORWARD
    assert rules.consent_for("globex").state is ProcessingState.ACTIVE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_not_allowed(provider: str) -> None:
    allowed = [p for p in PROVIDERS if p != provider]
    consent = consent_of({"customers": {"acme": {"providers": allowed}}})
    decision = decide(consent, chat(provider), Findings())
    assert decision.blocked
    assert decision.reason == "provider_not_allowed"
    assert provider in decision.message
    for other in allowed:
        assert not decide(consent, chat(other), Findings()).blocked


def test_empty_provider_list_allows_nothing() -> None:
    consent = consent_of({"default": {"providers": []}})
    assert all(decide(consent, chat(p)).reason == "provider_not_allowed" for p in PROVIDERS)


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        ("gpt-4o", True),
        ("gpt-4o-mini", True),
        ("o3", True),
        ("o3-mini", False),
        ("gpt-3.5-turbo", False),
        ("GPT-4o", False),  # patterns are case-sensitive
    ],
)
def test_model_glob_patterns(model: str, allowed: bool) -> None:
    consent = consent_of({"customers": {"acme": {"models": {"openai": ["gpt-4o*", "o3"]}}}})
    decision = decide(consent, chat("openai", model), Findings())
    if allowed:
        assert decision.outcome is Outcome.FORWARD
    else:
        assert decision.reason == "model_not_allowed"
        assert decision.blocked
    # A provider without patterns allows every model.
    assert not decide(consent, chat("azure", model or "anything"), Findings()).blocked


def test_model_question_mark_and_class_patterns() -> None:
    consent = consent_of({"default": {"models": {"bedrock": ["anthropic.claude-?-*", "amazon.titan-[te]*"]}}})
    assert not decide(consent, chat("bedrock", "anthropic.claude-3-haiku"), Findings()).blocked
    assert not decide(consent, chat("bedrock", "amazon.titan-embed-v2"), Findings()).blocked
    assert decide(consent, chat("bedrock", "anthropic.claude-35-x"), Findings()).reason == "model_not_allowed"
    assert decide(consent, chat("bedrock", "meta.llama3"), Findings()).reason == "model_not_allowed"


@pytest.mark.parametrize(
    ("policy", "blocked"), [(UnscannablePolicy.BLOCK, True), (UnscannablePolicy.ALLOW, False)]
)
def test_unscannable_content(policy: UnscannablePolicy, blocked: bool) -> None:
    consent = consent_of({"customers": {"acme": {"unscannable": policy.value}}})
    assert consent.unscannable is policy
    decision = decide(consent, chat(), Findings({"PERSON": 1}, frozenset({"image", "audio"})))
    assert decision.blocked is blocked
    if blocked:
        assert decision.reason == "unscannable_content"
        assert "audio, image" in decision.message
    else:
        assert decision.actions == {"PERSON": Action.MASK}


def test_unscannable_default_is_block() -> None:
    consent = consent_of({})
    assert decide(consent, chat(), Findings(unscannable=frozenset({"file"}))).reason == "unscannable_content"
    assert not decide(consent, chat(), Findings()).blocked


def test_entity_blocked_names_types_sorted_and_no_values() -> None:
    consent = consent_of(
        {
            "customers": {
                "acme": {"actions": {"US_SSN": "block", "CREDIT_CARD": "block", "EMAIL_ADDRESS": "hash"}}
            }
        }
    )
    findings = Findings({"US_SSN": 1, "EMAIL_ADDRESS": 3, "CREDIT_CARD": 2, "PERSON": 1})
    decision = decide(consent, chat(), findings)
    assert decision.blocked
    assert decision.reason == "entity_blocked"
    assert decision.blocked_entities == ("CREDIT_CARD", "US_SSN")
    assert "CREDIT_CARD, US_SSN" in decision.message
    assert "EMAIL_ADDRESS" not in decision.message
    assert decision.actions == {}


def test_block_action_for_an_entity_not_found_does_not_block() -> None:
    consent = consent_of({"default": {"actions": {"US_SSN": "block"}}})
    decision = decide(consent, chat(), Findings({"PERSON": 1}))
    assert decision == Decision(Outcome.FORWARD, actions={"PERSON": Action.MASK})


def test_forward_with_actions_for_found_types_only() -> None:
    consent = consent_of(
        {
            "default": {"actions": {"EMAIL_ADDRESS": "hash"}},
            "customers": {"acme": {"actions": {"DATE_TIME": "allow", "US_SSN": "redact"}}},
        }
    )
    decision = decide(
        consent, chat(), Findings({"EMAIL_ADDRESS": 1, "DATE_TIME": 2, "US_SSN": 1, "PERSON": 4})
    )
    assert decision.outcome is Outcome.FORWARD
    assert not decision.blocked
    assert decision.reason == ""
    assert dict(decision.actions) == {
        "EMAIL_ADDRESS": Action.HASH,
        "DATE_TIME": Action.ALLOW,
        "US_SSN": Action.REDACT,
        "PERSON": Action.MASK,
    }


def test_customer_default_action_overrides_default() -> None:
    consent = consent_of(
        {"default": {"default_action": "mask"}, "customers": {"acme": {"default_action": "redact"}}}
    )
    assert decide(consent, chat(), Findings({"PERSON": 1})).actions == {"PERSON": Action.REDACT}


def test_without_findings_only_pre_detection_checks() -> None:
    consent = consent_of({"default": {"actions": {"PERSON": "block"}}})
    assert decide(consent, chat()) == Decision(Outcome.FORWARD)


# --- bundled default policy ------------------------------------------------------------------


# The bundled policy's documented choices (README, "Default actions per type").
ALLOWED_BY_DEFAULT = {"DATE_TIME", "UUID"}
REDACTED_BY_DEFAULT = {
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "API_KEY",
    "ACCESS_TOKEN",
    "JWT",
    "PRIVATE_KEY",
    "PASSWORD",
}


def test_bundled_default_policy_masks_every_entity_type_but_the_documented_ones() -> None:
    rules = load_rules()
    assert load_rules(BUNDLED_RULES).version == rules.version
    consent = rules.consent_for("any-customer")
    assert not consent.known_customer
    assert consent.state is ProcessingState.ACTIVE
    assert consent.default_action is Action.MASK
    assert consent.providers == frozenset(PROVIDERS) == KNOWN_PROVIDERS
    assert consent.unscannable is UnscannablePolicy.BLOCK
    assert consent.version.startswith(rules.version + ":")
    every_type = [*ENTITY_TYPES, "UUID", "USER_HANDLE", "DATE_OF_BIRTH", "NATIONAL_ID", *REDACTED_BY_DEFAULT]
    for provider in PROVIDERS:
        decision = decide(consent, chat(provider), Findings(dict.fromkeys(every_type, 1)))
        assert decision.outcome is Outcome.FORWARD
        assert set(decision.actions) == set(every_type)
        for entity, action in decision.actions.items():
            if entity in ALLOWED_BY_DEFAULT:
                assert action is Action.ALLOW, entity
            elif entity in REDACTED_BY_DEFAULT:
                assert action is Action.REDACT, entity
            else:
                assert action is Action.MASK, entity
    assert decide(consent, chat(), Findings({"SOMETHING_NEW": 1})).actions == {"SOMETHING_NEW": Action.MASK}


def test_bundled_default_policy_thresholds() -> None:
    consent = load_rules().consent_for("x")
    assert consent.threshold_for("PHONE_NUMBER") == 0.3
    assert consent.threshold_for("PERSON") == 0.4
    assert consent.threshold_for("URL") == 0.8  # only URLs that name an account (README)


# --- bad rule files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"default": {"providers": ["openai", "mistral"]}}, id="unknown-provider-default"),
        pytest.param({"customers": {"acme": {"providers": ["OpenAI"]}}}, id="unknown-provider-customer"),
        pytest.param({"default": {"providers": "openai"}}, id="providers-not-a-list"),
        pytest.param({"default": {"actions": {"PERSON": "encrypt"}}}, id="bad-action-default"),
        pytest.param({"customers": {"acme": {"actions": {"PERSON": "MASK"}}}}, id="bad-action-case"),
        pytest.param({"customers": {"acme": {"actions": ["PERSON"]}}}, id="actions-not-a-mapping"),
        pytest.param({"default": {"default_action": "drop"}}, id="bad-default-action"),
        pytest.param({"default": {"thresholds": {"PERSON": 1.5}}}, id="threshold-above-1"),
        pytest.param({"customers": {"acme": {"thresholds": {"PERSON": -0.1}}}}, id="threshold-below-0"),
        pytest.param({"default": {"thresholds": {"PERSON": float("nan")}}}, id="threshold-nan"),
        pytest.param({"default": {"thresholds": [0.5]}}, id="thresholds-not-a-mapping"),
        pytest.param({"customers": {"acme": {"state": "paused"}}}, id="bad-state"),
        pytest.param({"customers": {"acme": {"unscannable": "scan"}}}, id="bad-unscannable"),
        pytest.param({"default": ["x"]}, id="default-not-a-mapping"),
        pytest.param({"customers": ["acme"]}, id="customers-not-a-mapping"),
    ],
)
def test_bad_rules_raise_rules_error(document: dict[str, Any]) -> None:
    with pytest.raises(RulesError):
        parse_rules(document)


def test_a_rules_document_must_be_a_mapping() -> None:
    with pytest.raises(RulesError):
        parse_rules(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_bad_customer_entry_fails_at_load_not_at_request(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"customers": {"good": {}, "bad": {"state": "deleted"}}}))
    with pytest.raises(RulesError, match=r"customers\.bad"):
        load_rules(path)


@pytest.mark.parametrize(
    "document",
    [{"default": {"thresholds": {"PERSON": "high"}}}, {"customers": {"acme": {"default_threshold": "low"}}}],
    ids=["thresholds", "default_threshold"],
)
def test_non_numeric_threshold_raises_rules_error(document: dict[str, Any]) -> None:
    with pytest.raises(RulesError):
        parse_rules(document)


@pytest.mark.parametrize("value", [1.5, 5, -0.2])
def test_default_threshold_out_of_range_raises_rules_error(value: float) -> None:
    with pytest.raises(RulesError):
        parse_rules({"default": {"default_threshold": value}})


def test_models_pattern_string_is_refused_or_not_widened() -> None:
    try:
        consent = consent_of({"customers": {"acme": {"models": {"openai": "gpt-4o*"}}}})
    except RulesError:
        return
    assert decide(consent, chat("openai", "o1-preview"), Findings()).reason == "model_not_allowed"


@pytest.mark.parametrize(
    "document",
    [{"customers": {"acme": "withdrawn"}}, {"default": {"models": ["gpt-4o"]}}],
    ids=["customer-entry-not-a-mapping", "models-not-a-mapping"],
)
def test_malformed_entries_raise_rules_error(document: dict[str, Any]) -> None:
    with pytest.raises(RulesError):
        parse_rules(document)


# --- consent versions ------------------------------------------------------------------------

BASE = {
    "version": "v7",
    "default": {"actions": {"EMAIL_ADDRESS": "hash"}},
    "customers": {"acme": {"providers": ["openai"]}, "globex": {"state": "objected"}},
}


def with_acme(entry: dict[str, Any]) -> dict[str, Any]:
    return {**BASE, "customers": {**BASE["customers"], "acme": entry}}


def test_consent_version_is_stable() -> None:
    first = parse_rules(BASE).consent_for("acme").version
    assert parse_rules(BASE).consent_for("acme").version == first
    assert first.startswith("v7:")
    # The same content as a file gives the same version.
    assert parse_rules(yaml.safe_load(yaml.safe_dump(BASE))).consent_for("acme").version == first


@pytest.mark.parametrize(
    "entry",
    [
        {"providers": ["openai", "azure"]},
        {"providers": ["openai"], "state": "restricted"},
        {"providers": ["openai"], "actions": {"PERSON": "redact"}},
        {"providers": ["openai"], "thresholds": {"PERSON": 0.9}},
        {"providers": ["openai"], "default_threshold": 0.5},
        {"providers": ["openai"], "models": {"openai": ["gpt-4o"]}},
        {"providers": ["openai"], "unscannable": "allow"},
        {"providers": ["openai"], "default_action": "redact"},
    ],
)
def test_consent_version_changes_with_the_customer_entry(entry: dict[str, Any]) -> None:
    before = parse_rules(BASE)
    after = parse_rules(with_acme(entry))
    assert after.consent_for("acme").version != before.consent_for("acme").version
    # Other customers and customers without an entry keep their version.
    assert after.consent_for("globex").version == before.consent_for("globex").version
    assert after.consent_for("initech").version == before.consent_for("initech").version


def test_consent_version_ignores_presentation() -> None:
    # Reordering keys or restating the default does not change what is applied.
    reordered = with_acme({"providers": ["openai"], "actions": {}})
    assert parse_rules(reordered).consent_for("acme").version == parse_rules(BASE).consent_for("acme").version
    restated = with_acme({"providers": ["openai"], "actions": {"EMAIL_ADDRESS": "hash"}})
    assert parse_rules(restated).consent_for("acme").version == parse_rules(BASE).consent_for("acme").version


def test_consent_version_changes_with_file_version_and_default() -> None:
    before = parse_rules(BASE).consent_for("acme").version
    assert parse_rules({**BASE, "version": "v8"}).consent_for("acme").version != before
    changed_default = {**BASE, "default": {"actions": {"EMAIL_ADDRESS": "redact"}}}
    assert parse_rules(changed_default).consent_for("acme").version != before
    assert (
        parse_rules(changed_default).consent_for("initech").version
        != parse_rules(BASE).consent_for("initech").version
    )


def test_known_and_unknown_customers() -> None:
    rules = parse_rules(BASE)
    acme = rules.consent_for("acme")
    assert acme.known_customer
    assert acme.providers == frozenset({"openai"})
    assert acme.actions == {"EMAIL_ADDRESS": Action.HASH}  # the default's actions are inherited
    other = rules.consent_for("initech")
    assert not other.known_customer
    assert other.providers == frozenset(PROVIDERS)


def test_load_rules_from_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(BASE))
    rules = load_rules(path)
    assert rules.version == "v7"
    assert rules.consent_for("acme").version == parse_rules(BASE).consent_for("acme").version
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_rules(empty).consent_for("x").default_action is Action.MASK
