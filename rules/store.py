"""Where consents come from at run time."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Protocol

import yaml

from models.consent import Consent
from rules.loader import BUNDLED_RULES, KNOWN_PROVIDERS, RulesError, RuleSet, load_rules

log = logging.getLogger("consentry.rules")

# What identifies one version of the rules file on disk: inode (an editor or a config-map update
# replaces the file), modification time and size.
FileSignature = tuple[int, int, int]


class ConsentStore(Protocol):
    async def get(self, customer_id: str) -> Consent:
        """The customer's consent now; raises ConsentUnavailable when it cannot be known."""
        ...


class ConsentUnavailable(Exception):
    """The customer's current consent cannot be known (the consent store is unreachable): the
    request must not be decided on a guess."""


def _describe(exc: Exception) -> str:
    """Why a rules file was refused, without quoting it: it lists customers' own identifiers."""
    if isinstance(exc, RulesError):
        return str(exc)  # names the entry and the field, never a value
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"not valid YAML (line {mark.line + 1}, column {mark.column + 1})"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


def _signature(path: Path) -> FileSignature:
    stat = os.stat(path)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class _FileInFlux(Exception):
    """The file changed while it was read: a writer is still at it."""


class RulesFileConsentStore:
    """Consents from one rules file, held in memory and swapped atomically when the file changes.

    A consent change (a withdrawal, say) must apply without a restart: `watch()` polls the file and
    `reload()` serves a SIGHUP handler. A file that cannot be read or applied is logged and the
    rules in force stay: the proxy never crashes on it, nor falls back to the bundled default.
    Replace the file atomically (write a new one, rename it over the old) where you can; a file
    rewritten in place is only read once it has stopped changing.
    """

    # After a change is seen, how long the file must stay unchanged before it is read: an editor
    # or `cp` writing in place must not get half a file applied (customers missing from it would
    # fall back to the default policy until the next poll).
    SETTLE_S = 0.2

    def __init__(self, path: Path | str | None = None, providers: frozenset[str] = KNOWN_PROVIDERS) -> None:
        self._path = Path(path) if path else BUNDLED_RULES
        # Rules may name every configured provider (built-in or declared in configuration).
        self._providers = providers
        # A bad file at start-up raises: the proxy refuses to start with it.
        self._seen = _signature(self._path)
        self._rules: RuleSet = load_rules(self._path, providers)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def reload(self) -> bool:
        """Read the file again now; True if its rules are in force afterwards."""
        signature = self._current_signature()
        try:
            if signature is not None and signature[2] == 0:
                # At start an empty file means the bundled defaults; here it is a write in
                # progress or a mistake, and applying it would silently drop every customer's rules.
                raise RulesError("the rules file is empty")
            rules = load_rules(self._path, self._providers)
            if self._current_signature() != signature:
                raise _FileInFlux
        except _FileInFlux:
            return False  # not judged: read again on the next poll, once the writer is done
        except Exception as exc:  # whatever is wrong with the file, the running proxy keeps going
            log.error(
                "rules file %s not applied, the previous rules stay in force: %s", self._path, _describe(exc)
            )
            # This version of the file has been judged: a bad one is reported once, not every poll.
            if signature is not None:
                self._seen = signature
            return False
        assert signature is not None  # the file was read, so it was there
        self._seen = signature
        previous, self._rules = self._rules.version, rules
        log.info(
            "rules file %s reloaded: version %s (was %s), %d customers",
            self._path,
            rules.version,
            previous,
            len(rules.customers),
        )
        return True

    def _current_signature(self) -> FileSignature | None:
        try:
            return _signature(self._path)
        except OSError:
            return None

    async def watch(self, interval_s: float = 1.0) -> None:
        """Poll the file every `interval_s` and reload it when it changed; runs until cancelled."""
        missing_reported = False
        while True:
            await asyncio.sleep(interval_s)
            current = self._current_signature()
            if current is None:
                if not missing_reported:
                    log.error("rules file %s is missing; the previous rules stay in force", self._path)
                    missing_reported = True
                continue
            missing_reported = False
            if current == self._seen:
                continue
            await asyncio.sleep(min(self.SETTLE_S, interval_s))
            if self._current_signature() != current:
                continue  # still being written: look again on the next poll
            # Parsing a large file must not stall the event loop.
            await asyncio.to_thread(self.reload)

    async def get(self, customer_id: str) -> Consent:
        return self._rules.consent_for(customer_id)
