"""Stored consent documents: validation, JSON merge patches, what changed. Pure functions.

A consent document has the keys a customer's entry in the rules file has (models.consent_record
.CONSENT_FIELDS); every key is optional, and an absent key leaves the rules file in force for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.consent_record import CONSENT_FIELDS
from rules.loader import RulesError, RuleSet

# Fields whose value is a map of entity type (or provider) to a setting: a patch merges them key by
# key; every other field is replaced whole.
MAP_FIELDS = frozenset({"models", "actions", "thresholds", "known_identifiers"})
MAX_IDENTIFIERS = 10_000
MAX_IDENTIFIER_CHARS = 512


def _check_keys(document: Mapping[str, Any]) -> None:
    unknown = sorted(str(k) for k in document if k not in CONSENT_FIELDS)
    if unknown:
        raise RulesError(f"unknown consent fields {unknown[:5]}; known: {list(CONSENT_FIELDS)}")


def _check_identifiers(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise RulesError("known_identifiers must be a mapping of entity type to a list of values")
    total = 0
    for etype, values in value.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RulesError(f"known_identifiers.{etype} must be a list of strings")
        if any(not v.strip() or len(v) > MAX_IDENTIFIER_CHARS for v in values):
            raise RulesError(
                f"known_identifiers.{etype}: every value must be 1-{MAX_IDENTIFIER_CHARS} characters"
            )
        total += len(values)
    if total > MAX_IDENTIFIERS:
        raise RulesError(f"at most {MAX_IDENTIFIERS} known identifiers per customer")


def validate_document(document: Any, rules: RuleSet, customer_id: str) -> dict[str, Any]:
    """The document as it will be stored, or RulesError naming the field that is wrong (never its
    value). Checked by building the consent it gives over the current rules, so whatever is
    stored can be applied."""
    if not isinstance(document, Mapping):
        raise RulesError("a consent document must be a JSON object")
    _check_keys(document)
    _check_identifiers(document.get("known_identifiers"))
    clean = {key: value for key, value in document.items() if value is not None}
    for key in MAP_FIELDS & clean.keys():
        if not isinstance(clean[key], Mapping):
            raise RulesError(f"{key} must be a JSON object")
    rules.consent_with(customer_id, clean, 1)
    return clean


def merge_patch(document: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7396 over a consent document: a key set to null removes that override (for map fields,
    that one entity type or provider); map fields merge key by key."""
    if not isinstance(patch, Mapping):
        raise RulesError("a consent patch must be a JSON object")
    _check_keys(patch)
    merged = {key: (dict(value) if isinstance(value, Mapping) else value) for key, value in document.items()}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key in MAP_FIELDS and isinstance(value, Mapping):
            inner = dict(merged.get(key) or {})
            for inner_key, inner_value in value.items():
                if inner_value is None:
                    inner.pop(inner_key, None)
                else:
                    inner[inner_key] = inner_value
            if inner or None not in value.values():
                merged[key] = inner
            else:
                # The patch removed the last key: no override is left. An empty map would still
                # replace the rules file's (models: every model allowed; known identifiers: none).
                merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def identifier_counts(document: Mapping[str, Any]) -> dict[str, int]:
    identifiers = document.get("known_identifiers") or {}
    return {str(etype): len(values) for etype, values in sorted(identifiers.items())}


def redacted(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as the admin API shows it: known identifiers only as a count per type."""
    shown = {key: value for key, value in document.items() if key != "known_identifiers"}
    if "known_identifiers" in document:
        shown["known_identifier_counts"] = identifier_counts(document)
    return shown


def describe_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Field -> {"from", "to"} for every field that differs; known identifiers as counts per type
    (their values are personal data and never enter the history)."""
    changes: dict[str, Any] = {}
    for key in CONSENT_FIELDS:
        old, new = before.get(key), after.get(key)
        if key == "known_identifiers":
            old_counts = identifier_counts(before) if key in before else None
            new_counts = identifier_counts(after) if key in after else None
            if _normalised(old) != _normalised(new):
                changes["known_identifier_counts"] = {"from": old_counts, "to": new_counts}
        elif old != new:
            changes[key] = {"from": old, "to": new}
    return changes


def _normalised(identifiers: Any) -> Any:
    if not isinstance(identifiers, Mapping):
        return identifiers
    return {str(k): sorted(v) for k, v in identifiers.items()}
