"""Rule files (YAML) into typed consents. Pure: parsing takes a mapping, loading reads a file."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml

from models.consent import Action, Consent, ProcessingState, UnscannablePolicy
from models.providers import BUILTIN_PROVIDERS
from rules.yaml_source import located, syntax_problem

E = TypeVar("E", bound=StrEnum)

BUNDLED_RULES = Path(__file__).with_name("default.yaml")
# The provider names rules may use unless the caller knows more (providers declared in the
# proxy's configuration).
KNOWN_PROVIDERS = frozenset(BUILTIN_PROVIDERS)


class RulesError(ValueError):
    """A rules file that cannot be applied safely; the proxy refuses to start with it."""


# The customer id of the consent every customer without an entry of their own shares.
DEFAULT_CUSTOMER = "*"


@dataclass(frozen=True)
class RuleSet:
    """A parsed rules file. Every consent is built (validated, fingerprinted) once, when the rule
    set is made: a request only looks its customer's consent up."""

    version: str
    default: Mapping[str, Any]
    customers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    providers: frozenset[str] = KNOWN_PROVIDERS
    _consents: Mapping[str, Consent] = field(init=False, repr=False, compare=False)
    _default_consent: Consent = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Building every entry here also validates it: a bad file fails when it is loaded, not
        # on some customer's request.
        known = self.providers
        default = _build_consent(DEFAULT_CUSTOMER, self.version, self.default, (), False, known)
        consents = {
            customer_id: _build_consent(
                customer_id, self.version, self.default, ((f"customers.{customer_id}", entry),), True, known
            )
            for customer_id, entry in self.customers.items()
        }
        object.__setattr__(self, "_default_consent", default)
        object.__setattr__(self, "_consents", consents)

    def consent_for(self, customer_id: str) -> Consent:
        """The customer's consent; customers without an entry get the default policy, under their
        own id (detection caches are scoped by it)."""
        found = self._consents.get(customer_id)
        if found is not None:
            return found
        return replace(self._default_consent, customer_id=customer_id)

    def has_entry(self, customer_id: str) -> bool:
        return customer_id in self._consents

    def consent_with(self, customer_id: str, stored: Mapping[str, Any], stored_version: int) -> Consent:
        """The customer's consent with a stored consent document applied over the file: stored
        fields win, per-type actions and thresholds merge type by type (see README, "Where a
        customer's consent comes from")."""
        layers: list[tuple[str, Mapping[str, Any]]] = []
        entry = self.customers.get(customer_id)
        if entry is not None:
            layers.append((f"customers.{customer_id}", entry))
        layers.append(("consent", stored))
        version = f"{self.version}+c{stored_version}"
        return _build_consent(customer_id, version, self.default, layers, True, self.providers)


def _providers(value: Any, where: str, known: frozenset[str]) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise RulesError(f"{where}.providers must be a list of provider names")
    unknown = set(value) - known
    if unknown:
        raise RulesError(f"{where}.providers names unknown providers: {sorted(unknown)}")
    return frozenset(value)


def _choice(kind: type[E], value: Any, where: str) -> E:
    """One of an enum's values; the error lists the allowed ones and never quotes what was given
    (a value in the wrong field may be anything, personal data included)."""
    try:
        return kind(value)
    except ValueError:
        raise RulesError(f"{where} must be one of {', '.join(str(v) for v in kind)}") from None


def _actions(value: Any, where: str) -> dict[str, Action]:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}.actions must be a mapping of entity type to action")
    return {str(k): _choice(Action, str(v), f"{where}.actions.{k}") for k, v in value.items()}


def _score(value: Any, where: str) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise RulesError(f"{where} must be a number between 0 and 1") from None
    if not 0.0 <= score <= 1.0:
        raise RulesError(f"{where} must lie between 0 and 1")
    return score


def _thresholds(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}.thresholds must be a mapping of entity type to score")
    return {str(k): _score(v, f"{where}.thresholds.{k}") for k, v in value.items()}


def _models(value: Any, where: str, known: frozenset[str]) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}.models must be a mapping of provider to a list of model patterns")
    out: dict[str, tuple[str, ...]] = {}
    for provider, patterns in value.items():
        if provider not in known:
            raise RulesError(f"{where}.models names an unknown provider: {provider!r}")
        # A bare string would be read as a list of characters, and its '*' would allow every model.
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise RulesError(f"{where}.models.{provider} must be a list of model patterns")
        out[str(provider)] = tuple(patterns)
    return out


def _known_identifiers(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}.known_identifiers must be a mapping of entity type to a list of values")
    out: dict[str, tuple[str, ...]] = {}
    for etype, values in value.items():
        if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
            raise RulesError(f"{where}.known_identifiers.{etype} must be a list of values")
        out[str(etype)] = tuple(str(v) for v in values)
    return out


def _build_consent(
    customer_id: str,
    version: str,
    base: Mapping[str, Any],
    layers: Sequence[tuple[str, Mapping[str, Any]]],
    is_customer: bool,
    known: frozenset[str],
) -> Consent:
    """`base` (the default policy) with each `(where, overrides)` layer applied in order: the
    rules file's entry for the customer, then a stored consent. Per-type maps (actions,
    thresholds) merge type by type; every other field set by a later layer replaces it."""

    def pick(key: str, default: Any) -> Any:
        for _, layer in reversed(layers):
            if key in layer:
                return layer[key]
        return base.get(key, default)

    where = layers[-1][0] if layers else "default"
    merged_actions = _actions(base.get("actions") or {}, "default")
    merged_thresholds = _thresholds(base.get("thresholds") or {}, "default")
    for layer_where, layer in layers:
        merged_actions.update(_actions(layer.get("actions") or {}, layer_where))
        merged_thresholds.update(_thresholds(layer.get("thresholds") or {}, layer_where))
    providers = _providers(pick("providers", sorted(KNOWN_PROVIDERS)), where, known)
    models = _models(pick("models", None) or {}, where, known)
    state = _choice(ProcessingState, pick("state", "active"), f"{where}.state")
    default_action = _choice(Action, pick("default_action", "mask"), f"{where}.default_action")
    unscannable = _choice(UnscannablePolicy, pick("unscannable", "block"), f"{where}.unscannable")
    default_threshold = _score(pick("default_threshold", 0.4), f"{where}.default_threshold")
    # The default policy never lists identifiers: they are one customer's own data.
    identifiers: dict[str, tuple[str, ...]] = {}
    for _, layer in reversed(layers):
        if "known_identifiers" in layer:
            identifiers = _known_identifiers(layer["known_identifiers"] or {}, where)
            break
    fingerprint = orjson.dumps(
        {
            "known_identifiers": identifiers,
            "state": state,
            "providers": sorted(providers),
            "models": models,
            "actions": merged_actions,
            "default_action": default_action,
            "thresholds": merged_thresholds,
            "default_threshold": default_threshold,
            "unscannable": unscannable,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    # The applied version names the rules file (and the stored consent's version) and a digest of
    # exactly what was applied, so a sharing record can later be matched to the consent in force
    # without storing the consent.
    digest = hashlib.sha256(fingerprint).hexdigest()[:12]
    return Consent(
        customer_id=customer_id,
        version=f"{version}:{digest}",
        state=state,
        providers=providers,
        models=models,
        actions=merged_actions,
        default_action=default_action,
        thresholds=merged_thresholds,
        default_threshold=default_threshold,
        unscannable=unscannable,
        known_customer=is_customer,
        known_identifiers=identifiers,
    )


class RulesProblems(RulesError):
    """Every problem found in a rules file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def rules_problems(document: Any, providers: frozenset[str] = KNOWN_PROVIDERS) -> list[str]:
    """Every problem of a parsed rules document: the default and each customer judged on its own."""
    if not isinstance(document, Mapping):
        return ["a rules file must be a mapping"]
    default = document.get("default") or {}
    customers = document.get("customers") or {}
    problems = [
        f"{key} must be a mapping"
        for key, value in (("default", default), ("customers", customers))
        if not isinstance(value, Mapping)
    ]
    if problems:
        return problems
    version = str(document.get("version", "unversioned"))
    try:
        _build_consent(DEFAULT_CUSTOMER, version, default, (), False, providers)
    except RulesError as exc:
        problems.append(str(exc))
    for customer_id, entry in customers.items():
        where = f"customers.{customer_id}"
        if entry is not None and not isinstance(entry, Mapping):
            problems.append(f"{where} must be a mapping")
            continue
        try:
            _build_consent(str(customer_id), version, default, ((where, entry or {}),), True, providers)
        except RulesError as exc:
            problems.append(str(exc))
    return problems


def parse_rules(document: Mapping[str, Any], providers: frozenset[str] = KNOWN_PROVIDERS) -> RuleSet:
    try:
        if not isinstance(document, Mapping):
            raise RulesError("a rules file must be a mapping")
        customers = document.get("customers") or {}
        # Every consent is built (and so validated) once, here.
        return RuleSet(
            version=str(document.get("version", "unversioned")),
            default=document.get("default") or {},
            customers={str(k): (v or {}) for k, v in customers.items()},
            providers=providers,
        )
    except (RulesError, AttributeError, TypeError):
        # Judged again entry by entry, so every problem is reported, not only the first.
        problems = rules_problems(document, providers) or ["the rules cannot be applied"]
        raise RulesProblems(problems) from None


def load_rules(path: Path | str | None = None, providers: frozenset[str] = KNOWN_PROVIDERS) -> RuleSet:
    """The rules in `path` (default: the bundled file); every problem as `file:line: problem`."""
    source = Path(path) if path else BUNDLED_RULES
    text = source.read_text()
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RulesProblems([syntax_problem(str(source), exc)]) from None
    try:
        return parse_rules(document, providers)
    except RulesProblems as exc:
        raise RulesProblems(located(exc.problems, str(source), text)) from None
