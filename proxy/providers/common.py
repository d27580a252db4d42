"""What every provider adapter does the same way: reading a JSON request body, telling which
application is calling, allowed extra paths, and restoring whole JSON and SSE answers.

Nothing here knows a provider's wire format; adapters say where text sits and how errors read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

import orjson

from proxy.codecs.sse import SseDecoder, SseEvent
from proxy.config import ProviderConfig
from proxy.errors import ProxyError, bad_request, unauthorized
from proxy.providers.base import ProviderAdapter, ResponseTransformer
from proxy.restore import Restorer, json_escape

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


def restore_json(value: Any, restorer: Restorer, json_text_keys: frozenset[str] = frozenset()) -> Any:
    """Every string in a JSON value restored. Strings under `json_text_keys` are JSON text (tool
    call arguments in OpenAI's and Mistral's shapes), so values go into them JSON-escaped."""
    if isinstance(value, str):
        return restorer.restore(value)
    if isinstance(value, dict):
        return {
            k: restorer.restore(v, json_escape)
            if k in json_text_keys and isinstance(v, str)
            else restore_json(v, restorer, json_text_keys)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [restore_json(v, restorer, json_text_keys) for v in value]
    return value


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
