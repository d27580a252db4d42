"""Google Gemini (Generative Language API): paths, where user text lives in its bodies, its two
stream formats and its error shape.

`:streamGenerateContent?alt=sse` answers with SSE `data:` events; without `alt=sse` the answer is
one JSON array whose elements are sent as they are generated, so it is cut into elements as they
complete (`proxy.codecs.json_array`) and each is restored and relayed at once. Both carry the
same response objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from models.providers import BUILTIN_PROVIDERS
from models.target import ProviderTarget
from proxy.codecs.json_array import JsonArraySplitter
from proxy.codecs.sse import SseEvent
from proxy.errors import ProxyError, bad_request, not_found
from proxy.formats.gemini import collect_request
from proxy.formats.schema import MODEL_PATTERN
from proxy.providers import common
from proxy.providers.base import (
    ErrorReply,
    IncomingRequest,
    PassThrough,
    ProviderAdapter,
    ProviderExchange,
    ResponseTransformer,
    StreamAbort,
    UpstreamRequest,
)
from proxy.providers.common import (
    NOT_JSON,
    JsonAnswer,
    allowed_extra,
    authenticate_app,
    check_path,
    event_json,
    managed_key,
    parse_json_object,
    restore_json,
    upstream_body,
    upstream_url,
)
from proxy.providers.headers import CONTENT_HEADERS, Pseudonymiser, forward_headers, sdk_version_string
from proxy.restore import Restorer, StreamRestorers
from proxy.textslots import TextSlots

DEFAULT_BASE_URL = BUILTIN_PROVIDERS["gemini"]
KEY_HEADER = "x-goog-api-key"
KEY_QUERY = "key"

# ---------------------------------------------------------------- error shape

# google.rpc.Code names by HTTP status, as Google's front end pairs them.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def _metadata_value(value: object) -> str:
    # ErrorInfo metadata is a map of strings.
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def gemini_error_reply(error: ProxyError) -> ErrorReply:
    message = error.message
    if error.status == 403:
        # Callers often log only the message, so the refusal's reason code travels in it too.
        message = f"{message} (reason: {error.code})"
    info: dict[str, Any] = {"@type": _ERROR_INFO, "reason": error.code, "domain": "consentry"}
    metadata = {k: _metadata_value(v) for k, v in error.details.items() if k != "reason"}
    if metadata:
        info["metadata"] = metadata
    status = _STATUS_NAMES.get(error.status, "INTERNAL" if error.status >= 500 else "INVALID_ARGUMENT")
    body = {"error": {"code": error.status, "message": message, "status": status, "details": [info]}}
    return ErrorReply(error.status, orjson.dumps(body))


# method -> operation name for records and metrics
_METHODS: dict[str, str] = {
    "generateContent": "generate_content",
    "streamGenerateContent": "generate_content",
    "embedContent": "embed_content",
    "batchEmbedContents": "batch_embed_contents",
    "countTokens": "count_tokens",
}
_TEXT_ANSWERS = frozenset({"generateContent", "streamGenerateContent"})


# ---------------------------------------------------------------- restoring answers

# Whole answers (JsonAnswer) and every value that is not streamed text go through `restore_json`
# with no JSON-text keys: function-call args are plain JSON values here, not JSON text.


class CandidateStream:
    """The response objects of one stream, restored as they come, whatever carries them.

    A chunk's parts are continuation pieces of the candidate's text, and a part's position in one
    chunk says nothing about its position in the next, so each candidate has one text stream (and
    one for thought summaries, which the SDK keeps apart): text held back as a possible
    placeholder start goes out in the next piece of the same stream, even if that is another part.
    """

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        # Keyed by (candidate index, is a thought summary).
        self._streams = StreamRestorers(restorer)
        self._template: dict[str, Any] = {}

    def on_chunk(self, obj: Any) -> tuple[list[dict[str, Any]], Any]:
        """(objects to send before this one, this one restored)."""
        if not isinstance(obj, dict):
            return [], restore_json(obj, self._restorer)
        if "error" in obj:
            # An in-band error ends the stream: held-back text goes out before it.
            return self.finish(), restore_json(obj, self._restorer)
        for key, value in obj.items():
            if key == "candidates" and isinstance(value, list):
                for position, candidate in enumerate(value):
                    if isinstance(candidate, dict):
                        self._candidate(candidate, position)
            else:
                obj[key] = restore_json(value, self._restorer)
        self._template = {k: v for k, v in obj.items() if k not in ("candidates", "promptFeedback")}
        return [], obj

    def finish(self) -> list[dict[str, Any]]:
        """Text still held back at the end, as one last response object of the same shape."""
        leftovers: dict[int, list[dict[str, Any]]] = {}
        for (index, thought), text in self._streams.flush():
            leftovers.setdefault(index, []).append(self._new_part(text, thought))
        if not leftovers:
            return []
        candidates = [
            {"content": {"parts": parts, "role": "model"}, "index": index}
            for index, parts in sorted(leftovers.items())
        ]
        return [{"candidates": candidates, **self._template}]

    def _candidate(self, candidate: dict[str, Any], position: int) -> None:
        index = candidate.get("index")
        if not isinstance(index, int):
            index = position
        for key, value in candidate.items():
            if key != "content":
                candidate[key] = restore_json(value, self._restorer)
        content = candidate.get("content")
        if isinstance(content, dict):
            for key, value in content.items():
                if key != "parts":
                    content[key] = restore_json(value, self._restorer)
            parts = content.get("parts")
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict):
                    self._part(part, index)
        if candidate.get("finishReason"):
            for thought in (True, False):
                rest = self._streams.flush_one((index, thought))
                if rest:
                    self._append(candidate, rest, thought)

    def _part(self, part: dict[str, Any], index: int) -> None:
        for key, value in part.items():
            if key == "text" and isinstance(value, str):
                part["text"] = self._streams.feed((index, part.get("thought") is True), value)
            else:
                part[key] = restore_json(value, self._restorer)

    @staticmethod
    def _new_part(text: str, thought: bool) -> dict[str, Any]:
        return {"text": text, "thought": True} if thought else {"text": text}

    def _append(self, candidate: dict[str, Any], text: str, thought: bool) -> None:
        content = candidate.get("content")
        if not isinstance(content, dict):
            content = candidate["content"] = {"parts": [], "role": "model"}
        parts = content.get("parts")
        if not isinstance(parts, list):
            parts = content["parts"] = []
        for part in reversed(parts):
            if (
                isinstance(part, dict)
                and isinstance(part.get("text"), str)
                and (part.get("thought") is True) == thought
            ):
                part["text"] += text
                return
        parts.append(self._new_part(text, thought))


def _dump(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class _CandidateEvents:
    """`alt=sse` events: one response object per `data:` event, no end marker."""

    def __init__(self, restorer: Restorer) -> None:
        self._chunks = CandidateStream(restorer)

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        obj = event_json(event)
        if obj is NOT_JSON:
            return [event]
        before, restored = self._chunks.on_chunk(obj)
        return [*(SseEvent([("data", _dump(b))]) for b in before), event.with_data(_dump(restored))]

    def finish(self) -> list[SseEvent]:
        return [SseEvent([("data", _dump(obj))]) for obj in self._chunks.finish()]


class SseAnswer(common.SseAnswer):
    """`alt=sse`: the shared SSE answer driven by this stream's response objects."""

    def __init__(self, restorer: Restorer) -> None:
        super().__init__(_CandidateEvents(restorer))


_ELEMENT_SEPARATOR = b"\n,\r\n"  # what Google puts between elements


class ArrayAnswer(ResponseTransformer):
    """`streamGenerateContent` without `alt=sse`: elements restored and relayed as each completes;
    the bytes between them are kept as the provider sent them."""

    streaming = True

    def __init__(self, restorer: Restorer) -> None:
        self._splitter = JsonArraySplitter()
        self._chunks = CandidateStream(restorer)
        self._gap = b""  # held so that an extra element can be put before the next one
        self._ended = False

    def feed(self, chunk: bytes) -> bytes:
        try:
            pieces = self._splitter.feed(chunk)
        except ValueError:
            raise StreamAbort("invalid_upstream_stream") from None
        out: list[bytes] = []
        for piece in pieces:
            if piece.kind == "gap":
                if self._ended:
                    out.append(piece.raw)
                else:
                    self._gap += piece.raw
            elif piece.kind == "element":
                try:
                    obj = orjson.loads(piece.raw)
                except orjson.JSONDecodeError:
                    raise StreamAbort("invalid_upstream_stream") from None
                before, restored = self._chunks.on_chunk(obj)
                out.append(self._gap)
                for extra in before:
                    out += [orjson.dumps(extra), _ELEMENT_SEPARATOR]
                out.append(orjson.dumps(restored))
                self._gap = b""
            else:
                for extra in self._chunks.finish():
                    out += [_ELEMENT_SEPARATOR, orjson.dumps(extra)]
                out += [self._gap, piece.raw]
                self._gap = b""
                self._ended = True
        return b"".join(out)

    def finish(self) -> bytes:
        if not self._splitter.closed:
            # An array that never closed is a cut answer; the caller must not take it as whole.
            raise StreamAbort("upstream_cut")
        return b""


# ---------------------------------------------------------------- the adapter

_ROUTE = re.compile(r"/(?P<version>v1|v1beta|v1alpha)/models/(?P<rest>[^/]+)")
_FORWARDED_QUERY = frozenset({"alt"})
_FORWARDED_HEADERS = ("accept",)
# The SDK's version string; forwarded only while it looks like one.
_API_CLIENT_HEADER = "x-goog-api-client"
# google-genai reads no response header of a generateContent answer but its type; an upload URL
# (x-goog-upload-url) would send a file straight to Google past the proxy and is never relayed.
GEMINI_RESPONSE_HEADERS = CONTENT_HEADERS.extended(names=("retry-after",))


@dataclass(frozen=True)
class Route:
    version: str
    model: str
    method: str


def route_for(method: str, subpath: str) -> Route | None:
    """`/{version}/models/{model}:{method}` for the methods this adapter scans, else None."""
    found = _ROUTE.fullmatch(subpath)
    if method != "POST" or found is None:
        return None
    model, sep, rpc = found.group("rest").rpartition(":")
    if not sep or rpc not in _METHODS or not MODEL_PATTERN.fullmatch(model):
        return None
    return Route(found.group("version"), model, rpc)


class GeminiExchange(ProviderExchange):
    response_allowlist = GEMINI_RESPONSE_HEADERS

    def __init__(self, adapter: GeminiAdapter, incoming: IncomingRequest, route: Route | None) -> None:
        self._adapter = adapter
        self._incoming = incoming
        self._route = route
        self.operation = _METHODS[route.method] if route else "passthrough"
        self.scanned = route is not None
        self.streamed = route is not None and route.method == "streamGenerateContent"
        self._body: dict[str, Any] | None = None
        self._raw = b""

    def _callers_key(self) -> str | None:
        return self._incoming.headers.get(KEY_HEADER) or self._incoming.query.get(KEY_QUERY)

    def authenticate(self, body: bytes) -> str:
        return authenticate_app(
            self._adapter,
            self._incoming.headers,
            self._callers_key(),
            "passthrough mode needs the caller's Gemini key in x-goog-api-key",
        )

    def parse(self, body: bytes) -> None:
        self._raw = body
        if self._route is not None:
            self._body = parse_json_object(body)

    @property
    def target(self) -> ProviderTarget:
        return ProviderTarget(self._adapter.name, self.operation, self._route.model if self._route else "")

    def collect(self, slots: TextSlots) -> None:
        if self._route is not None and self._body is not None:
            collect_request(self._route.method, self._body, slots)

    def upstream_request(self, pseudonym: Pseudonymiser | None = None) -> UpstreamRequest:
        config = self._adapter.config
        # The caller's key never travels in the URL; only the query the API needs is kept.
        query = [
            (name, value)
            for name, value in self._incoming.query.items()
            if name != KEY_QUERY and (self._route is None or name in _FORWARDED_QUERY)
        ]
        if self._route is not None and any(
            name == "alt" and value not in ("sse", "json") for name, value in query
        ):
            raise bad_request("alt must be 'sse' or 'json'")
        url = upstream_url(config.base_url or DEFAULT_BASE_URL, self._incoming.subpath, query)
        incoming = self._incoming.headers
        headers = forward_headers(incoming, _FORWARDED_HEADERS)
        api_client = sdk_version_string(incoming.get(_API_CLIENT_HEADER))
        if api_client is not None:
            headers[_API_CLIENT_HEADER] = api_client
        key = self._callers_key() if config.auth_mode == "passthrough" else managed_key(config)
        if key:
            headers[KEY_HEADER] = key
        body = upstream_body(self._body, self._raw, incoming, headers)
        return UpstreamRequest(self._incoming.method, url, headers, body)

    def response_transformer(
        self, status: int, headers: Mapping[str, str], restorer: Restorer
    ) -> ResponseTransformer:
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        is_sse = content_type.startswith("text/event-stream")
        ok = 200 <= status < 300
        if self._route is None:
            return PassThrough(streaming=is_sse)
        method = self._route.method
        if not ok or not restorer.active or method not in _TEXT_ANSWERS:
            return PassThrough(streaming=ok and self.streamed)
        if method == "streamGenerateContent":
            return SseAnswer(restorer) if is_sse else ArrayAnswer(restorer)
        return JsonAnswer(restorer)


class GeminiAdapter(ProviderAdapter):
    def open(self, incoming: IncomingRequest) -> ProviderExchange:
        check_path(incoming.subpath, "Gemini requests go to /gemini/{version}/models/{model}:{method}")
        route = route_for(incoming.method, incoming.subpath)
        if route is None and not allowed_extra(incoming.subpath.lstrip("/"), self.config.allow_paths):
            raise not_found(
                f"Consentry does not forward {incoming.method} {incoming.subpath[:80]} "
                "(not allowed by configuration)"
            )
        return GeminiExchange(self, incoming, route)

    def error_reply(self, error: ProxyError) -> ErrorReply:
        return gemini_error_reply(error)
