"""Admin bearer tokens and roles. Only SHA-256 digests of tokens are held; comparison is constant
time over the digests."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from proxy.config import AdminConfig, AdminToken, ConfigError

log = logging.getLogger("consentry.admin")

READER = "reader"
ADMIN = "admin"


@dataclass(frozen=True)
class Identity:
    name: str
    role: str

    @property
    def can_change(self) -> bool:
        return self.role == ADMIN


class TokenFileError(ConfigError):
    """The generated admin token's file cannot be trusted (readable by others, or empty)."""


def _read_token(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise TokenFileError(f"{path} is readable by other users: make it mode 0600 (chmod 600)")
    # Another process may have created it a moment ago and not written it yet.
    for _ in range(50):
        token = path.read_text().strip()
        if token:
            return token
        time.sleep(0.02)
    raise TokenFileError(f"{path} is empty: delete it and a new admin token is made at start")


def generated_token(path: Path) -> str:
    """The admin token kept in `path` (mode 0600), made on first use."""
    if path.exists():
        return _read_token(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return _read_token(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


class AdminTokens:
    def __init__(self, config: AdminConfig) -> None:
        tokens = list(config.tokens)
        if not tokens and config.token_file:
            token = generated_token(Path(config.token_file))
            tokens.append(AdminToken("local-admin", ADMIN, hashlib.sha256(token.encode()).hexdigest()))
            log.info("admin API token (role admin) is in %s", config.token_file)
        self._tokens = [(bytes.fromhex(t.token_sha256), Identity(t.name, t.role)) for t in tokens]

    def identify(self, authorization: str | None) -> Identity | None:
        """The identity a `Bearer` header names, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        found = None
        # Every token is compared, so the time taken does not tell which one nearly matched.
        for expected, identity in self._tokens:
            if hmac.compare_digest(digest, expected):
                found = identity
        return found
