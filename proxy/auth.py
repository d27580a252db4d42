"""Which calling application a proxy key belongs to, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from proxy.config import AppConfig


class KeyRing:
    def __init__(self, apps: Iterable[AppConfig]) -> None:
        # Digests have one length, so comparing them leaks nothing through timing about key length.
        apps = list(apps)
        self._apps = [(hashlib.sha256(a.key.encode()).digest(), a.name) for a in apps if a.key]
        self._aws = {
            a.aws_access_key_id: (a.name, a.aws_secret_access_key)
            for a in apps
            if a.aws_access_key_id and a.aws_secret_access_key
        }

    def app_for(self, presented: str | None) -> str | None:
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode()).digest()
        found: str | None = None
        for expected, name in self._apps:  # no early exit: every key is compared
            if hmac.compare_digest(digest, expected):
                found = name
        return found

    def aws_secret(self, access_key_id: str) -> tuple[str, str] | None:
        """(app name, secret) for a SigV4 access key id the proxy issued, or None."""
        return self._aws.get(access_key_id)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
