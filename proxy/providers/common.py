"""What every provider adapter does the same way: reading a JSON request body, telling which
application is calling, allowed extra paths, and restoring whole JSON and SSE answers.

Nothing here knows a provider's wire format; adapters say where text sits and how errors read.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote

import orjson

from proxy.codecs.sse import SseDecoder, SseEvent
from proxy.config import ProviderConfig
from proxy.errors import ProxyError, bad_request, not_found, unauthorized
from proxy.providers.base import ProviderAdapter, ResponseTransformer
from proxy.restore import Restorer, restore_json
from proxy.textslots import TextSlots

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


def add_text(
    slots: TextSlots, holder: dict[str, Any], key: str, what: str, *, required: bool = False
) -> None:
    """Register holder[key] as user text: a string, or absent/null where the field is optional.

    Anything else is ProxyError(400): a value in a text field that is not text could only be
    forwarded unscanned, and a missing required text would otherwise fail deep inside the proxy.
    """
    value = holder.get(key)
    if isinstance(value, str):
        slots.add(holder, key)
    elif value is not None or required:
        raise bad_request(f"{what} must be a string")


def add_identifier(slots: TextSlots, holder: dict[str, Any], key: str, what: str) -> None:
    """Register holder[key] as an end-user identifier (a string, or absent/null), else 400."""
    value = holder.get(key)
    if isinstance(value, str):
        slots.add_identifier(holder, key)
    elif value is not None:
        raise bad_request(f"{what} must be a string")


def scan_other_fields(slots: TextSlots, holder: dict[str, Any], known: Collection[str]) -> None:
    """Register every string inside the fields of `holder` not in `known` (the fields the adapter
    reads itself, or knows to carry no text): a field it has not heard of (a new API field, a
    misplaced one) must not take text upstream unread. Scanning one costs little."""
    for key in holder:
        if key not in known:
            scan_field(slots, holder, key)


def scan_field(slots: TextSlots, holder: dict[str, Any], key: str) -> None:
    """holder[key] is any JSON value: register it if a string, else every string inside it."""
    if isinstance(holder[key], str):
        slots.add(holder, key)
    else:
        slots.add_strings_in(holder[key])


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


# ---------------------------------------------------------------- restoring answers


class JsonAnswer(ResponseTransformer):
    """A whole JSON answer, restored everywhere a placeholder can appear."""

    streaming = False

    def __init__(self, restorer: Restorer, json_text_keys: frozenset[str] = frozenset()) -> None:
        self._restorer = restorer
        self._json_text_keys = json_text_keys
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> bytes:
        self._chunks.append(chunk)
        return b""

    def finish(self) -> bytes:
        try:
            parsed = orjson.loads(b"".join(self._chunks))
        except orjson.JSONDecodeError:
            raise ProxyError(
                502, "invalid_upstream_response", "the provider sent an answer that is not JSON"
            ) from None
        return orjson.dumps(restore_json(parsed, self._restorer, self._json_text_keys))


# What `event_json` gives for an event without data or whose data is not JSON (such events are
# relayed as they came); JSON's own `null` is None.
NOT_JSON: Final = object()


def event_json(event: SseEvent) -> Any:
    """An SSE event's data parsed as JSON, or NOT_JSON."""
    data = event.data
    if data is None:
        return NOT_JSON
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return NOT_JSON


class SseHandler(Protocol):
    """A provider's SSE events in, events to send out; `finish` gives what is still held back."""

    def on_event(self, event: SseEvent) -> list[SseEvent]: ...

    def finish(self) -> list[SseEvent]: ...


class SseAnswer(ResponseTransformer):
    """A `text/event-stream` answer, decoded and re-encoded event by event through a handler."""

    streaming = True

    def __init__(self, handler: SseHandler) -> None:
        self._decoder = SseDecoder()
        self._handler = handler

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(
            out.encode() for ev in self._decoder.feed(chunk) for out in self._handler.on_event(ev)
        )

    def finish(self) -> bytes:
        events = [out for ev in self._decoder.finish() for out in self._handler.on_event(ev)]
        events.extend(self._handler.finish())
        return b"".join(e.encode() for e in events)
