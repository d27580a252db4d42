"""The sharing ledger: one record per proxied request, written off the hot path."""

from proxy.ledger.sqlite import SqliteLedger

__all__ = ["SqliteLedger"]
