"""Known identifiers at rest: sealed with AES-256-GCM.

They are a customer's own account data (names, e-mail addresses, account numbers) and must be
matched as text, so a one-way hash would not do: the matcher needs the values. The key is derived
from `hash_key` (HKDF-SHA256, its own purpose string), which every replica sharing a database
already shares; the customer id and consent version are bound in as associated data, so a sealed
blob copied to another customer or version does not open."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_FORMAT = b"v1"


class SealError(ValueError):
    """A sealed value that does not open under this key (another key, or tampered with)."""


class IdentifierSealer:
    def __init__(self, hash_key: bytes) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"consentry known identifiers v1"
        ).derive(hash_key)
        self._aead = AESGCM(key)

    @staticmethod
    def _context(customer_id: str, version: int) -> bytes:
        return orjson.dumps([customer_id, version])

    def seal(self, identifiers: Mapping[str, list[str]], customer_id: str, version: int) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, orjson.dumps(identifiers), self._context(customer_id, version))
        return (_FORMAT + b"." + base64.b64encode(nonce + sealed)).decode()

    def open(self, sealed: str, customer_id: str, version: int) -> dict[str, list[str]]:
        prefix, _, body = sealed.encode().partition(b".")
        if prefix != _FORMAT:
            raise SealError("unknown sealed format")
        raw = base64.b64decode(body)
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], self._context(customer_id, version))
        except InvalidTag:
            raise SealError("sealed known identifiers do not open with this hash_key") from None
        return dict(orjson.loads(plain))
