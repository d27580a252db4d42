"""A customer's consent as stored at run time (admin API, CLI), its history and the audit trail.

The rules file is the default policy; a stored consent is one more layer on top of it for its
customer. Plain data: the stores in `proxy/consents/` read and write these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The fields a consent document may set, the same keys a customer's entry in the rules file has.
CONSENT_FIELDS = (
    "state",
    "providers",
    "models",
    "actions",
    "default_action",
    "thresholds",
    "default_threshold",
    "unscannable",
    "known_identifiers",
)


@dataclass(frozen=True)
class StoredConsent:
    """One customer's stored consent. `document` holds only the fields it overrides; its
    `known_identifiers` are in clear here, in memory, and sealed at rest."""

    customer_id: str
    version: int
    document: Mapping[str, Any]
    updated_at: str  # UTC, ISO 8601
    updated_by: str  # the admin identity (token name) or "cli:<user>"


@dataclass(frozen=True)
class ConsentChange:
    """One entry of a customer's consent history. `changes` names each field changed with its old
    and new value, except known identifiers: only their count per type."""

    customer_id: str
    version: int
    at: str
    actor: str
    action: str  # set | patch | restrict | object | withdraw | reactivate
    changes: Mapping[str, Any] = field(default_factory=dict)
    # The whole stored document after this change, known identifiers as counts: what applied from
    # this version on (a sharing record's consent_version names the version).
    document: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """One admin action. `customer_ref` is a keyed pseudonym of the customer id, never the id, and
    `detail` holds only counts, field names and settings."""

    at: str
    actor: str
    role: str
    action: str
    outcome: str  # ok | denied | invalid | not_found | conflict | failed
    customer_ref: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
