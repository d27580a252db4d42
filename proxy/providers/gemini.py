"""Google Gemini (Generative Language API): paths, where user text lives in its bodies, its two
stream formats and its error shape.

`:streamGenerateContent?alt=sse` answers with SSE `data:` events; without `alt=sse` the answer is
one JSON array whose elements are sent as they are generated, so it is cut into elements as they
complete (`proxy.codecs.json_array`) and each is restored and relayed at once. Both carry the
same response objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from models.target import ProviderTarget
from proxy.codecs.json_array import JsonArraySplitter
from proxy.codecs.sse import SseEvent
from proxy.errors import ProxyError, bad_request, not_found
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
    scan_field,
    upstream_body,
    upstream_url,
)
from proxy.restore import Restorer, StreamRestorers
from proxy.textslots import TextSlots

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
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


# ---------------------------------------------------------------- where text lives in requests

# Google's JSON front end takes every field by its lowerCamelCase name or by its proto name
# (the SDK itself sends `inlineData.mime_type`), so every field is looked up both ways: a body
# must not get unscanned text past the proxy by spelling a field `system_instruction`.


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


def _fields(holder: object, name: str) -> list[tuple[str, Any]]:
    """(key, value) for each spelling of the lowerCamelCase field `name` present in `holder`."""
    if not isinstance(holder, dict):
        return []
    spellings = (name, _snake(name)) if name != _snake(name) else (name,)
    return [(key, holder[key]) for key in spellings if key in holder]


# Part fields that describe a part but carry no user content.
_PART_METADATA = frozenset(
    {
        "thought",
        "thoughtSignature",
        "videoMetadata",
        "mediaResolution",
        "mediaProcessing",
        "speechMetadata",
        "documentMetadata",
        "spreadsheetMetadata",
        "audioMetadata",
    }
)
_MEDIA_KINDS = ("image", "audio", "video")


def _media_kind(blob: object) -> str:
    for _, mime in _fields(blob, "mimeType"):
        family = mime.split("/", 1)[0] if isinstance(mime, str) else ""
        if family in _MEDIA_KINDS:
            return family
    return "file"


# A value of the wrong shape where text or a structure with text belongs is refused (400): it
# could only be forwarded unread.


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"'{what}' must be an object")
    return value


def _add_fields(slots: TextSlots, holder: dict[str, Any], name: str) -> None:
    """Register each spelling of the text field `name` in `holder` (a string, or null)."""
    for key, value in _fields(holder, name):
        if isinstance(value, str):
            slots.add(holder, key)
        elif value is not None:
            raise bad_request(f"'{name}' must be a string")


def _strings_in_fields(slots: TextSlots, holder: dict[str, Any], name: str) -> None:
    """Every string in each spelling of the field `name` (a Struct, or whatever came instead)."""
    for key, _ in _fields(holder, name):
        scan_field(slots, holder, key)


def _scan_other(slots: TextSlots, holder: dict[str, Any], known: frozenset[str]) -> None:
    """Scan the fields of `holder` not in `known` (lowerCamelCase names, either spelling): one this
    adapter has not heard of must not take text upstream unread."""
    for key in holder:
        if _camel(key) not in known:
            scan_field(slots, holder, key)


# Fields read by the collectors below, or that name and tag things; any other field is scanned.
_CONTENT_FIELDS = frozenset({"parts", "role"})
_CALL_FIELDS = frozenset({"name", "id", "args"})
_RESPONSE_FIELDS = frozenset({"name", "id", "response", "parts", "willContinue", "scheduling"})
_CODE_FIELDS = {
    "executableCode": ("code", frozenset({"id", "language", "code"})),
    "codeExecutionResult": ("output", frozenset({"id", "outcome", "output"})),
}
_EMBED_FIELDS = frozenset({"model", "content", "title", "taskType", "outputDimensionality"})
# GenerateContentRequest: settings and tool declarations are the application's, not user text.
_GENERATE_FIELDS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "labels",
    }
)


def _response_parts(slots: TextSlots, response: dict[str, Any]) -> None:
    # Function results may carry media of their own.
    for _, inner_parts in _fields(response, "parts"):
        if inner_parts is None:
            continue
        if not isinstance(inner_parts, list):
            raise bad_request("'functionResponse.parts' must be a list")
        for inner in inner_parts:
            for inner_key, media in _object(inner, "functionResponse.parts[]").items():
                kind = _camel(inner_key)
                if kind in ("inlineData", "fileData"):
                    slots.add_unscannable(_media_kind(media))
                elif kind not in _PART_METADATA:
                    slots.add_unscannable("unknown content part")


def _part(slots: TextSlots, part: dict[str, Any]) -> None:
    for key, value in part.items():
        field = _camel(key)
        if field in _PART_METADATA:
            continue
        if field == "text":
            if not isinstance(value, str):
                raise bad_request("a part's 'text' must be a string")
            slots.add(part, key)
        elif field in ("functionCall", "toolCall"):
            call = _object(value, field)
            _strings_in_fields(slots, call, "args")
            _scan_other(slots, call, _CALL_FIELDS)
        elif field in ("functionResponse", "toolResponse"):
            response = _object(value, field)
            _strings_in_fields(slots, response, "response")
            _response_parts(slots, response)
            _scan_other(slots, response, _RESPONSE_FIELDS)
        elif field in ("executableCode", "codeExecutionResult"):
            code = _object(value, field)
            text_field, known = _CODE_FIELDS[field]
            _add_fields(slots, code, text_field)
            _scan_other(slots, code, known)
        elif field in ("audioTranscription", "partMetadata"):
            scan_field(slots, part, key)
        elif field in ("inlineData", "fileData"):
            slots.add_unscannable(_media_kind(value))
        else:
            # A part type this adapter does not know might carry data it cannot read.
            slots.add_unscannable("unknown content part")


def _content(slots: TextSlots, content: object, where: str) -> None:
    if content is None:
        return
    if not isinstance(content, dict):
        raise bad_request(f"'{where}' must be a Content object")
    for _, parts in _fields(content, "parts"):
        if not isinstance(parts, list):
            raise bad_request(f"'{where}.parts' must be a list")
        for part in parts:
            if not isinstance(part, dict):
                raise bad_request("each part must be an object")
            _part(slots, part)
    _scan_other(slots, content, _CONTENT_FIELDS)


def _contents(slots: TextSlots, body: dict[str, Any], required: bool) -> None:
    found = _fields(body, "contents")
    if not found and required:
        raise bad_request("'contents' must be a list of Content objects")
    for _, contents in found:
        if not isinstance(contents, list):
            raise bad_request("'contents' must be a list of Content objects")
        for content in contents:
            _content(slots, content, "contents[]")


def _system_instruction(slots: TextSlots, body: dict[str, Any]) -> None:
    for _, instruction in _fields(body, "systemInstruction"):
        _content(slots, instruction, "systemInstruction")


def _tool_config(slots: TextSlots, body: dict[str, Any]) -> None:
    # The caller's latitude and longitude, for grounding with Maps: personal data that is not
    # text, so it counts as unscannable content.
    for _, config in _fields(body, "toolConfig"):
        if config is None:
            continue
        for _, retrieval in _fields(_object(config, "toolConfig"), "retrievalConfig"):
            if retrieval is None:
                continue
            if any(
                value is not None for _, value in _fields(_object(retrieval, "retrievalConfig"), "latLng")
            ):
                slots.add_unscannable("location")


def _generate_request(slots: TextSlots, body: dict[str, Any], required: bool) -> None:
    _contents(slots, body, required)
    _system_instruction(slots, body)
    _tool_config(slots, body)
    _scan_other(slots, body, _GENERATE_FIELDS)


def _generate(body: dict[str, Any], slots: TextSlots) -> None:
    _generate_request(slots, body, required=True)


def _count_tokens(body: dict[str, Any], slots: TextSlots) -> None:
    _contents(slots, body, required=False)
    for _, inner in _fields(body, "generateContentRequest"):
        if not isinstance(inner, dict):
            raise bad_request("'generateContentRequest' must be an object")
        _generate_request(slots, inner, required=False)
    _scan_other(slots, body, frozenset({"contents", "generateContentRequest"}))


def _embed_request(request: object, slots: TextSlots) -> None:
    if not isinstance(request, dict):
        raise bad_request("each embedding request must be an object")
    for _, content in _fields(request, "content"):
        _content(slots, content, "content")
    _add_fields(slots, request, "title")
    _scan_other(slots, request, _EMBED_FIELDS)


def _embed(body: dict[str, Any], slots: TextSlots) -> None:
    _embed_request(body, slots)


def _batch_embed(body: dict[str, Any], slots: TextSlots) -> None:
    found = _fields(body, "requests")
    if not found or not all(isinstance(requests, list) for _, requests in found):
        raise bad_request("'requests' must be a list")
    for _, requests in found:
        for request in requests:
            _embed_request(request, slots)


# method -> (operation name for records and metrics, collector)
_METHODS: dict[str, tuple[str, Callable[[dict[str, Any], TextSlots], None]]] = {
    "generateContent": ("generate_content", _generate),
    "streamGenerateContent": ("generate_content", _generate),
    "embedContent": ("embed_content", _embed),
    "batchEmbedContents": ("batch_embed_contents", _batch_embed),
    "countTokens": ("count_tokens", _count_tokens),
}
_TEXT_ANSWERS = frozenset({"generateContent", "streamGenerateContent"})


def collect_request(method: str, body: dict[str, Any], slots: TextSlots) -> None:
    """Register the user text of a request to `:{method}`."""
    _METHODS[method][1](body, slots)


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
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_FORWARDED_QUERY = frozenset({"alt"})
_FORWARDED_HEADERS = ("x-goog-api-client", "accept")


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
    if not sep or rpc not in _METHODS or not _MODEL.fullmatch(model):
        return None
    return Route(found.group("version"), model, rpc)


class GeminiExchange(ProviderExchange):
    def __init__(self, adapter: GeminiAdapter, incoming: IncomingRequest, route: Route | None) -> None:
        self._adapter = adapter
        self._incoming = incoming
        self._route = route
        self.operation = _METHODS[route.method][0] if route else "passthrough"
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
        return ProviderTarget("gemini", self.operation, self._route.model if self._route else "")

    def collect(self, slots: TextSlots) -> None:
        if self._route is not None and self._body is not None:
            collect_request(self._route.method, self._body, slots)

    def upstream_request(self) -> UpstreamRequest:
        config = self._adapter.config
        # The caller's key never travels in the URL; only the query the API needs is kept.
        query = [
            (name, value)
            for name, value in self._incoming.query.items()
            if name != KEY_QUERY and (self._route is None or name in _FORWARDED_QUERY)
        ]
        url = upstream_url(config.base_url or DEFAULT_BASE_URL, self._incoming.subpath, query)
        incoming = self._incoming.headers
        headers = {name: incoming[name] for name in _FORWARDED_HEADERS if name in incoming}
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
    name = "gemini"

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
