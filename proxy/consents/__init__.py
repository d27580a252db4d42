"""Consents changed at run time: stored records (SQLite or PostgreSQL), kept current in every
replica (`live.LiveConsents`), layered over the rules file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.consents.records import ConsentRecords
from proxy.consents.sealing import IdentifierSealer

if TYPE_CHECKING:
    from proxy.config import Config


def make_consent_records(config: Config) -> ConsentRecords:
    """The consent record store beside the ledger: the same SQLite file or PostgreSQL database."""
    sealer = IdentifierSealer(config.hash_key)
    ledger = config.ledger
    if ledger.backend == "postgres":
        # Imported here so a SQLite deployment never loads the PostgreSQL driver.
        from proxy.consents.postgres import PostgresConsentRecords

        return PostgresConsentRecords(ledger.dsn, sealer, schema=ledger.schema)
    from proxy.consents.sqlite import SqliteConsentRecords

    return SqliteConsentRecords(ledger.path, sealer)
