"""What every provider adapter does the same way: reading a JSON request body, telling which
application is calling, allowed extra paths, and restoring whole JSON and SSE answers.

Nothing here knows a provider's wire format; adapters say where text sits and how errors read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

import orjson

from proxy.config import ProviderConfig
from proxy.errors import ProxyError, bad_request, not_found, unauthorized
from proxy.providers.base import ProviderAdapter

# In passthrough mode the caller's own provider credential goes upstream, so the proxy key that
# names the calling application travels in this header instead.
PASSTHROUGH_KEY_HEADER = "X-Consentry-Key"


# ---------------------------------------------------------------- requests


def parse_json_object(
    raw: bytes,
    not_json: str = "request body is not valid JSON",
    not_object: str = "request body must be a JSON object",
) -> dict[str, Any]:
    """The request body as a JSON object, or ProxyError(400) worded as the provider words it."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request(not_json, "invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request(not_object, "invalid_json")
    return body


# ---------------------------------------------------------------- paths and queries

# RFC 3986 path characters (unreserved, sub-delims, ':' and '@') and well-formed %XX escapes.
_PATH_CHARS = re.compile(r"(?:/(?:[A-Za-z0-9._~:@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)+")


def unsafe_path(path: str, *, encoded_slashes: bool = False) -> bool:
    """Whether `path` (percent-encoding kept) could reach the upstream as another path than the
    one it was routed and checked by: dot segments (also percent-encoded, or with `;params`),
    encoded slashes or backslashes, control characters, characters outside RFC 3986 paths.

    `encoded_slashes`: `%2F` inside a segment is data to this upstream (Bedrock model ARNs), not
    a separator; dot segments between them are still refused.
    """
    if not _PATH_CHARS.fullmatch(path):
        return True
    for segment in path.split("/"):
        decoded = unquote(segment)
        if "\\" in decoded or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
            return True
        if "/" in decoded and not encoded_slashes:
            return True
        if any(piece.split(";", 1)[0] in (".", "..") for piece in decoded.split("/")):
            return True
    return False


def check_path(path: str, provider_hint: str, *, encoded_slashes: bool = False) -> None:
    """ProxyError(404) for a path `unsafe_path` refuses; every adapter calls this before routing."""
    if unsafe_path(path, encoded_slashes=encoded_slashes):
        raise not_found(f"unknown path: {provider_hint}")


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """A query string in which every character but the unreserved ones is percent-encoded, so it
    reads the same to every parser (and is already in SigV4's canonical encoding)."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def upstream_url(base_url: str, path: str, query: Iterable[tuple[str, str]] = ()) -> str:
    """`base_url` + `path` (percent-encoding kept, checked by `check_path`) + the encoded query.

    The upstream client sends it exactly as written (never normalised), so the path that goes out
    is the path that was routed.
    """
    encoded = encode_query(query)
    return base_url.rstrip("/") + path + ("?" + encoded if encoded else "")


def allowed_extra(path: str, allow_paths: tuple[str, ...]) -> bool:
    """Whether `path` (below the provider prefix, without its leading '/') is at or below one of
    the configured `allow_paths`."""
    normalized = "/" + path
    return any(normalized == p.rstrip("/") or normalized.startswith(p.rstrip("/") + "/") for p in allow_paths)


def authenticate_app(
    adapter: ProviderAdapter, headers: Mapping[str, str], credential: str | None, missing: str
) -> str:
    """The calling application's name, or ProxyError(401).

    `credential` is what the caller put where the provider's SDK sends its key. In passthrough
    mode that is the caller's own provider credential (it must be there; `missing` says where),
    and the proxy key comes in PASSTHROUGH_KEY_HEADER; otherwise it is the proxy key itself.
    """
    if adapter.config.auth_mode == "passthrough":
        if not credential:
            raise unauthorized(missing)
        presented = headers.get(PASSTHROUGH_KEY_HEADER)
    else:
        presented = credential
    app = adapter.keys.app_for(presented)
    if app is None:
        raise unauthorized()
    return app


def managed_key(config: ProviderConfig) -> str:
    """The proxy's own provider key; without one a request would only be refused upstream."""
    if not config.api_key:
        raise ProxyError(
            502,
            "upstream_not_configured",
            f"no {config.name} API key is configured on the proxy; nothing was sent",
        )
    return config.api_key


def upstream_body(
    parsed: dict[str, Any] | None, raw: bytes, incoming: Mapping[str, str], headers: dict[str, str]
) -> bytes | None:
    """The body to send upstream, with its Content-Type set in `headers`: the (masked) parsed
    body re-encoded, else the caller's bytes as they came, else none."""
    if parsed is not None:
        body = orjson.dumps(parsed)
        headers["Content-Type"] = "application/json"
        return body
    if raw:
        if "Content-Type" in incoming:
            headers["Content-Type"] = incoming["Content-Type"]
        return raw
    return None
