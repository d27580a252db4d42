"""The privacy operations, shared by the admin API and the CLI: consent (show, replace, patch,
state changes, history), access and portability (export, summary), erasure, and the audit trail.

Every operation names its actor; the API and the CLI each write one audit event per operation
(`audit`). Nothing here logs or audits a customer id in clear: audit events carry a keyed
pseudonym of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import orjson

from models.consent import Consent, ProcessingState
from models.consent_record import AuditEvent, StoredConsent
from proxy.admin import exports
from proxy.consents.live import LiveConsents
from proxy.consents.records import Update, now_iso
from proxy.identity import valid_customer_id
from proxy.ledger import Ledger
from proxy.transform import Hasher
from rules.stored import identifier_counts, merge_patch, redacted, validate_document

STATE_ACTIONS = {
    "restrict": ProcessingState.RESTRICTED,
    "object": ProcessingState.OBJECTED,
    "withdraw": ProcessingState.WITHDRAWN,
    "reactivate": ProcessingState.ACTIVE,
}


class InvalidRequest(ValueError):
    """A request the admin API answers with 400: the message names what is wrong, never a value."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code


class RecordsBehind(Exception):
    """Sharing records are queued that the ledger cannot write yet: an export or summary now would
    silently leave them out."""


def check_customer(customer_id: str) -> str:
    if not valid_customer_id(customer_id):
        raise InvalidRequest(
            "invalid customer id: 1-128 characters of letters, digits, '.', '_', ':' or '-'",
            "invalid_customer",
        )
    return customer_id


def effective_view(consent: Consent) -> dict[str, Any]:
    return {
        "version": consent.version,
        "state": str(consent.state),
        "providers": sorted(consent.providers),
        "models": {k: list(v) for k, v in sorted(consent.models.items())},
        "actions": {k: str(v) for k, v in sorted(consent.actions.items())},
        "default_action": str(consent.default_action),
        "thresholds": dict(sorted(consent.thresholds.items())),
        "default_threshold": consent.default_threshold,
        "unscannable": str(consent.unscannable),
        "known_identifier_counts": identifier_counts({"known_identifiers": consent.known_identifiers}),
    }


def stored_view(stored: StoredConsent) -> dict[str, Any]:
    return {
        "version": stored.version,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
        "document": redacted(stored.document),
    }


class PrivacyService:
    def __init__(self, consents: LiveConsents, ledger: Ledger, hasher: Hasher) -> None:
        self.consents = consents
        self.ledger = ledger
        self._hasher = hasher

    def customer_ref(self, customer_id: str) -> str:
        return "cref-" + self._hasher.digest(customer_id, "audit-customer", 24)

    # -- consent ---------------------------------------------------------------------------------

    def view(self, customer_id: str) -> dict[str, Any]:
        check_customer(customer_id)
        stored = self.consents.stored(customer_id)
        if stored is not None:
            source = "store"
        elif self.consents.rules.rules.has_entry(customer_id):
            source = "rules_file"
        else:
            source = "default"
        return {
            "customer_id": customer_id,
            "source": source,
            "stored": stored_view(stored) if stored else None,
            "effective": effective_view(self.consents.effective(customer_id)),
        }

    async def _write(
        self,
        customer_id: str,
        build: Any,
        *,
        actor: str,
        action: str,
        expected_version: int | None,
    ) -> tuple[dict[str, Any], Update]:
        check_customer(customer_id)
        rules = self.consents.rules.rules

        def change(current: Mapping[str, Any] | None) -> Mapping[str, Any]:
            return validate_document(build(current or {}), rules, customer_id)

        update = await self.consents.records.update(
            customer_id, change, actor=actor, action=action, expected_version=expected_version
        )
        if update.stored is not None:
            self.consents.applied(customer_id, update.stored)
        return self.view(customer_id), update

    async def replace(
        self, customer_id: str, document: Any, actor: str, expected_version: int | None = None
    ) -> tuple[dict[str, Any], Update]:
        return await self._write(
            customer_id,
            lambda _current: document,
            actor=actor,
            action="set",
            expected_version=expected_version,
        )

    async def patch(
        self, customer_id: str, patch: Any, actor: str, expected_version: int | None = None
    ) -> tuple[dict[str, Any], Update]:
        return await self._write(
            customer_id,
            lambda current: merge_patch(current, patch),
            actor=actor,
            action="patch",
            expected_version=expected_version,
        )

    async def set_state(self, customer_id: str, action: str, actor: str) -> tuple[dict[str, Any], Update]:
        state = STATE_ACTIONS[action]
        return await self._write(
            customer_id,
            lambda current: {**current, "state": str(state)},
            actor=actor,
            action=action,
            expected_version=None,
        )

    async def history(self, customer_id: str) -> dict[str, Any]:
        check_customer(customer_id)
        entries = await self.consents.records.history(customer_id)
        return {
            "customer_id": customer_id,
            "history": [
                {
                    "version": e.version,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "changes": e.changes,
                    "document": e.document,
                }
                for e in entries
            ],
        }

    # -- access, portability, erasure --------------------------------------------------------------

    async def flushed(self) -> None:
        """What is still queued in memory belongs in an answer about the records too."""
        if not await self.ledger.flush():
            raise RecordsBehind("sharing records are queued that the ledger cannot write yet; retry")

    def export(
        self,
        customer_id: str,
        fmt: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        provider: str | None = None,
    ) -> AsyncIterator[bytes]:
        check_customer(customer_id)
        if fmt not in exports.FORMATS:
            raise InvalidRequest("format must be 'jsonl' or 'csv'", "invalid_format")
        records = self.ledger.iter_for_customer(customer_id, since=since, until=until, provider=provider)
        return exports.encode(records, fmt)

    async def summary(
        self, customer_id: str | None, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str, Any]:
        if customer_id is not None:
            check_customer(customer_id)
        await self.flushed()
        return await self.ledger.summary(customer_id, since=since, until=until)

    async def erase(self, customer_id: str) -> dict[str, Any]:
        """Everything Consentry holds on the customer: sharing records, stored consent, its history
        and known identifiers. Afterwards the customer's requests follow the rules file."""
        check_customer(customer_id)
        records = await self.ledger.erase_customer(customer_id)
        erased = await self.consents.records.erase(customer_id)
        self.consents.applied(customer_id, None)
        return {
            "customer_id": customer_id,
            "erased": {
                "sharing_records": records,
                "consent_record": erased.consent_record,
                "history_entries": erased.history_entries,
                "known_identifiers": erased.known_identifiers,
            },
            "at": now_iso(),
        }

    # -- audit -------------------------------------------------------------------------------------

    async def audit(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        outcome: str,
        customer_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        ref = self.customer_ref(customer_id) if customer_id and valid_customer_id(customer_id) else ""
        event = AuditEvent(now_iso(), actor, role, action, outcome, ref, dict(detail or {}))
        await self.consents.records.append_audit(event)

    async def audit_events(
        self, fmt: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[bytes]:
        async for event in self.consents.records.iter_audit(since, until):
            line = {
                "at": event.at,
                "actor": event.actor,
                "role": event.role,
                "action": event.action,
                "outcome": event.outcome,
                "customer_ref": event.customer_ref,
                "detail": event.detail,
            }
            yield orjson.dumps(line) + b"\n"
