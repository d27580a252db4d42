"""What every consent record store shares: the rows, sealing, and the one update procedure.

A store keeps four tables: `consent_records` (one row per customer with a stored consent; known
identifiers sealed), `consent_history` (one row per change, identifiers only as counts),
`consent_meta` (a generation number bumped by every change, so a replica can tell it missed
some) and `audit_events`. Backends implement the transactions; the decisions (what the new
document is, what changed) are pure functions passed in and run inside the transaction, so a
read-modify-write never races another writer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from models.consent_record import AuditEvent, ConsentChange, StoredConsent
from proxy.consents.sealing import IdentifierSealer
from rules.stored import describe_changes, identifier_counts, redacted

# Computes the new document from the current one (None: no stored consent yet); raises
# RulesError when the change is not valid.
Change = Callable[[Mapping[str, Any] | None], Mapping[str, Any]]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


class VersionConflict(Exception):
    """The stored version is not the one the caller based its change on (If-Match)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the stored consent is at version {current}")
        self.current = current


@dataclass(frozen=True)
class Erased:
    consent_record: bool
    history_entries: int
    known_identifiers: int


@dataclass(frozen=True)
class StoredRow:
    """A consent_records row as the backends read and write it."""

    customer_id: str
    version: int
    document: str  # JSON without known identifiers
    identifier_counts: str  # JSON {type: count}
    sealed_identifiers: str | None
    updated_at: str
    updated_by: str


@dataclass(frozen=True)
class Update:
    """What one write produced: the new row and history entry, or nothing when nothing changed."""

    stored: StoredConsent | None
    change: ConsentChange | None
    row: StoredRow | None


HISTORY_COLUMNS = "customer_id, version, at, actor, action, changes, document"


def row_values(row: StoredRow) -> tuple[Any, ...]:
    """A consent_records row's values in ROW_COLUMNS order."""
    return (
        row.customer_id,
        row.version,
        row.document,
        row.identifier_counts,
        row.sealed_identifiers,
        row.updated_at,
        row.updated_by,
    )


def history_values(entry: ConsentChange) -> tuple[Any, ...]:
    """A consent_history row's values in HISTORY_COLUMNS order."""
    return (
        entry.customer_id,
        entry.version,
        entry.at,
        entry.actor,
        entry.action,
        orjson.dumps(entry.changes).decode(),
        orjson.dumps(entry.document, option=orjson.OPT_SORT_KEYS).decode(),
    )


def history_from_row(row: Any) -> ConsentChange:
    return ConsentChange(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]), orjson.loads(row[6]))


class ConsentRecords(ABC):
    """A consent record store. `generation()` changes with every change; PostgreSQL stores also
    `listen()` for the customer ids of changes committed by any replica."""

    def __init__(self, sealer: IdentifierSealer) -> None:
        self._sealer = sealer

    # -- rows <-> records -----------------------------------------------------------------------

    def to_row(self, customer_id: str, version: int, document: Mapping[str, Any], actor: str) -> StoredRow:
        identifiers = document.get("known_identifiers")
        plain = {key: value for key, value in document.items() if key != "known_identifiers"}
        return StoredRow(
            customer_id=customer_id,
            version=version,
            document=orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode(),
            identifier_counts=orjson.dumps(identifier_counts(document)).decode(),
            sealed_identifiers=None
            if identifiers is None
            else self._sealer.seal(identifiers, customer_id, version),
            updated_at=now_iso(),
            updated_by=actor,
        )

    def from_row(self, row: StoredRow) -> StoredConsent:
        document: dict[str, Any] = orjson.loads(row.document)
        if row.sealed_identifiers is not None:
            document["known_identifiers"] = self._sealer.open(
                row.sealed_identifiers, row.customer_id, row.version
            )
        return StoredConsent(row.customer_id, row.version, document, row.updated_at, row.updated_by)

    def plan_update(
        self,
        customer_id: str,
        current: StoredConsent | None,
        change: Change,
        *,
        actor: str,
        action: str,
        expected_version: int | None,
    ) -> Update:
        """Pure part of a write, run inside the backend's transaction."""
        current_version = current.version if current else 0
        if expected_version is not None and expected_version != current_version:
            raise VersionConflict(current_version)
        before = dict(current.document) if current else {}
        after = dict(change(current.document if current else None))
        changes = describe_changes(before, after)
        if not changes:
            # Nothing to change (a patch of {} for a customer with nothing stored included): no
            # new version, no history entry, no empty stored consent.
            return Update(current, None, None)
        version = current_version + 1
        row = self.to_row(customer_id, version, after, actor)
        stored = StoredConsent(customer_id, version, after, row.updated_at, actor)
        entry = ConsentChange(customer_id, version, row.updated_at, actor, action, changes, redacted(after))
        return Update(stored, entry, row)

    # -- storage, per backend -------------------------------------------------------------------

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def load_all(self) -> dict[str, StoredConsent]: ...

    @abstractmethod
    async def get(self, customer_id: str) -> StoredConsent | None: ...

    @abstractmethod
    async def generation(self) -> str:
        """A token that changes whenever any stored consent changed (or the store was replaced)."""

    @abstractmethod
    async def update(
        self,
        customer_id: str,
        change: Change,
        *,
        actor: str,
        action: str,
        expected_version: int | None = None,
    ) -> Update: ...

    @abstractmethod
    async def history(self, customer_id: str) -> list[ConsentChange]: ...

    @abstractmethod
    async def erase(self, customer_id: str) -> Erased: ...

    @abstractmethod
    async def append_audit(self, event: AuditEvent) -> None: ...

    @abstractmethod
    def iter_audit(
        self, since: datetime | None = None, until: datetime | None = None, page_size: int = 1000
    ) -> AsyncIterator[AuditEvent]: ...
