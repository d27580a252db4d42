"""Google Gemini (Generative Language API): paths, where user text lives in its bodies, its two
stream formats and its error shape.

`:streamGenerateContent?alt=sse` answers with SSE `data:` events; without `alt=sse` the answer is
one JSON array whose elements are sent as they are generated, so it is cut into elements here as
they complete and each is restored and relayed at once. Both carry the same response objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from models.target import ProviderTarget
from proxy.codecs.sse import SseDecoder, SseEvent
from proxy.errors import ProxyError, bad_request, not_found, unauthorized
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
from proxy.providers.openai import PASSTHROUGH_KEY_HEADER, allowed_extra, parse_json_object
from proxy.restore import Restorer, StreamRestorer
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


def _add_fields(slots: TextSlots, holder: object, name: str) -> None:
    if isinstance(holder, dict):
        for key, _ in _fields(holder, name):
            slots.add(holder, key)


def _strings_in_fields(slots: TextSlots, holder: object, name: str) -> None:
    for _, value in _fields(holder, name):
        slots.add_strings_in(value)


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
            _strings_in_fields(slots, value, "args")
        elif field in ("functionResponse", "toolResponse"):
            _strings_in_fields(slots, value, "response")
            for _, inner_parts in _fields(value, "parts"):
                # Function results may carry media of their own.
                for inner in inner_parts if isinstance(inner_parts, list) else ():
                    for inner_key, media in inner.items() if isinstance(inner, dict) else ():
                        if _camel(inner_key) in ("inlineData", "fileData"):
                            slots.add_unscannable(_media_kind(media))
        elif field == "executableCode":
            _add_fields(slots, value, "code")
        elif field == "codeExecutionResult":
            _add_fields(slots, value, "output")
        elif field in ("audioTranscription", "partMetadata"):
            slots.add_strings_in(value)
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


def _generate(body: dict[str, Any], slots: TextSlots) -> None:
    _contents(slots, body, required=True)
    _system_instruction(slots, body)


def _count_tokens(body: dict[str, Any], slots: TextSlots) -> None:
    _contents(slots, body, required=False)
    for _, inner in _fields(body, "generateContentRequest"):
        if not isinstance(inner, dict):
            raise bad_request("'generateContentRequest' must be an object")
        _contents(slots, inner, required=False)
        _system_instruction(slots, inner)


def _embed_request(request: object, slots: TextSlots) -> None:
    if not isinstance(request, dict):
        raise bad_request("each embedding request must be an object")
    for _, content in _fields(request, "content"):
        _content(slots, content, "content")
    _add_fields(slots, request, "title")


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


def _restore_all(value: Any, restorer: Restorer) -> Any:
    """Every string value restored (function-call args are plain JSON values here, not JSON text)."""
    if isinstance(value, str):
        return restorer.restore(value)
    if isinstance(value, dict):
        return {k: _restore_all(v, restorer) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_all(v, restorer) for v in value]
    return value


class JsonAnswer(ResponseTransformer):
    """A whole generateContent answer."""

    streaming = False

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
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
        return orjson.dumps(_restore_all(parsed, self._restorer))


class CandidateStream:
    """The response objects of one stream, restored as they come, whatever carries them.

    A chunk's parts are continuation pieces of the candidate's text, and a part's position in one
    chunk says nothing about its position in the next, so each candidate has one text stream (and
    one for thought summaries, which the SDK keeps apart): text held back as a possible
    placeholder start goes out in the next piece of the same stream, even if that is another part.
    """

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams: dict[tuple[int, bool], StreamRestorer] = {}
        self._template: dict[str, Any] = {}

    def on_chunk(self, obj: Any) -> tuple[list[dict[str, Any]], Any]:
        """(objects to send before this one, this one restored)."""
        if not isinstance(obj, dict):
            return [], _restore_all(obj, self._restorer)
        if "error" in obj:
            # An in-band error ends the stream: held-back text goes out before it.
            return self.finish(), _restore_all(obj, self._restorer)
        for key, value in obj.items():
            if key == "candidates" and isinstance(value, list):
                for position, candidate in enumerate(value):
                    if isinstance(candidate, dict):
                        self._candidate(candidate, position)
            else:
                obj[key] = _restore_all(value, self._restorer)
        self._template = {k: v for k, v in obj.items() if k not in ("candidates", "promptFeedback")}
        return [], obj

    def finish(self) -> list[dict[str, Any]]:
        """Text still held back at the end, as one last response object of the same shape."""
        leftovers: dict[int, list[dict[str, Any]]] = {}
        for (index, thought), stream in self._streams.items():
            text = stream.flush()
            if text:
                leftovers.setdefault(index, []).append(self._new_part(text, thought))
        self._streams.clear()
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
                candidate[key] = _restore_all(value, self._restorer)
        content = candidate.get("content")
        if isinstance(content, dict):
            for key, value in content.items():
                if key != "parts":
                    content[key] = _restore_all(value, self._restorer)
            parts = content.get("parts")
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict):
                    self._part(part, index)
        if candidate.get("finishReason"):
            for thought in (True, False):
                stream = self._streams.pop((index, thought), None)
                rest = stream.flush() if stream else ""
                if rest:
                    self._append(candidate, rest, thought)

    def _part(self, part: dict[str, Any], index: int) -> None:
        for key, value in part.items():
            if key == "text" and isinstance(value, str):
                stream_key = (index, part.get("thought") is True)
                stream = self._streams.get(stream_key)
                if stream is None:
                    stream = self._streams[stream_key] = self._restorer.stream()
                part["text"] = stream.feed(value)
            else:
                part[key] = _restore_all(value, self._restorer)

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


class SseAnswer(ResponseTransformer):
    """`alt=sse`: one response object per `data:` event, no end marker."""

    streaming = True

    def __init__(self, restorer: Restorer) -> None:
        self._decoder = SseDecoder()
        self._chunks = CandidateStream(restorer)

    def _on_event(self, event: SseEvent) -> list[SseEvent]:
        data = event.data
        if data is None:
            return [event]
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return [event]
        before, restored = self._chunks.on_chunk(obj)
        return [*(SseEvent([("data", _dump(b))]) for b in before), event.with_data(_dump(restored))]

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(out.encode() for ev in self._decoder.feed(chunk) for out in self._on_event(ev))

    def finish(self) -> bytes:
        events = [out for ev in self._decoder.finish() for out in self._on_event(ev)]
        events.extend(SseEvent([("data", _dump(obj))]) for obj in self._chunks.finish())
        return b"".join(e.encode() for e in events)


@dataclass(frozen=True)
class ArrayPiece:
    kind: str  # "gap" (whitespace, '[' and ','), "element" (one whole value), "end" (the closing ']')
    raw: bytes


_STRUCTURAL = re.compile(rb'[\[\]{}"]')
_STRING_STOP = re.compile(rb'["\\]')
_WHITESPACE = frozenset(b" \t\r\n")


class JsonArraySplitter:
    """Cuts a top-level JSON array of objects, arriving in arbitrary pieces, into its elements as
    each one completes. Raises ValueError when the bytes are not such an array."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._resume = 0  # offset in _buf where scanning continues
        self._state = "before"  # before | open | element | closed
        self._expect = "value_or_end"  # inside the array: value_or_end | comma_or_end | value
        self._depth = 0
        self._in_string = False

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    def feed(self, chunk: bytes) -> list[ArrayPiece]:
        buf = self._buf
        buf.extend(chunk)
        pieces: list[ArrayPiece] = []
        start = 0  # first byte not yet handed out
        i = self._resume
        n = len(buf)
        while i < n:
            if self._state == "element":
                i = self._scan_element(buf, i)
                if self._state == "element":
                    break  # the element is not complete yet
                pieces.append(ArrayPiece("element", bytes(buf[start:i])))
                start = i
                continue
            byte = buf[i]
            if byte in _WHITESPACE:
                i += 1
            elif self._state == "closed":
                raise ValueError("data after the end of the array")
            elif self._state == "before":
                if byte != ord("["):
                    raise ValueError("the answer is not a JSON array")
                self._state = "open"
                i += 1
            elif byte == ord(","):
                if self._expect != "comma_or_end":
                    raise ValueError("misplaced ',' in the array")
                self._expect = "value"
                i += 1
            elif byte == ord("]"):
                if self._expect == "value":
                    raise ValueError("trailing ',' in the array")
                pieces.append(ArrayPiece("end", bytes(buf[start : i + 1])))
                self._state = "closed"
                i += 1
                start = i
            elif byte in b"{[":
                if self._expect == "comma_or_end":
                    raise ValueError("missing ',' between array elements")
                if start < i:
                    pieces.append(ArrayPiece("gap", bytes(buf[start:i])))
                start = i
                self._state, self._expect = "element", "comma_or_end"
                self._depth, self._in_string = 0, False
            else:
                raise ValueError("array elements must be objects")
        if self._state != "element" and start < i:
            pieces.append(ArrayPiece("gap", bytes(buf[start:i])))
            start = i
        del buf[:start]
        self._resume = i - start
        return pieces

    def _scan_element(self, buf: bytearray, i: int) -> int:
        """Scan from i; the offset just past the element if it completed, else where to resume."""
        n = len(buf)
        while i < n:
            if self._in_string:
                found = _STRING_STOP.search(buf, i)
                if found is None:
                    return n
                if found.group() == b"\\":
                    if found.end() >= n:
                        return found.start()  # the escaped byte has not arrived yet
                    i = found.end() + 1
                    continue
                self._in_string = False
                i = found.end()
                continue
            found = _STRUCTURAL.search(buf, i)
            if found is None:
                return n
            i = found.end()
            token = found.group()
            if token == b'"':
                self._in_string = True
            elif token in (b"{", b"["):
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._state = "open"
                    return i
        return i


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
        if self._adapter.config.auth_mode == "passthrough":
            if not self._callers_key():
                raise unauthorized("passthrough mode needs the caller's Gemini key in x-goog-api-key")
            presented = self._incoming.headers.get(PASSTHROUGH_KEY_HEADER)
        else:
            presented = self._callers_key()
        app = self._adapter.keys.app_for(presented)
        if app is None:
            raise unauthorized()
        return app

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
        url = (config.base_url or DEFAULT_BASE_URL).rstrip("/") + self._incoming.subpath
        # The caller's key never travels in the URL; only the query the API needs is kept.
        query = [
            (name, value)
            for name, value in self._incoming.query.items()
            if name != KEY_QUERY and (self._route is None or name in _FORWARDED_QUERY)
        ]
        if query:
            url += "?" + urlencode(query)
        incoming = self._incoming.headers
        headers = {name: incoming[name] for name in _FORWARDED_HEADERS if name in incoming}
        key = self._callers_key() if config.auth_mode == "passthrough" else config.api_key
        if key:
            headers[KEY_HEADER] = key
        body: bytes | None = None
        if self._body is not None:
            body = orjson.dumps(self._body)
            headers["Content-Type"] = "application/json"
        elif self._raw:
            body = self._raw
            if "Content-Type" in incoming:
                headers["Content-Type"] = incoming["Content-Type"]
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
        route = route_for(incoming.method, incoming.subpath)
        if route is None and not allowed_extra(incoming.subpath.lstrip("/"), self.config.allow_paths):
            raise not_found(
                f"Consentry does not forward {incoming.method} {incoming.subpath[:80]} "
                "(not allowed by configuration)"
            )
        return GeminiExchange(self, incoming, route)

    def error_reply(self, error: ProxyError) -> ErrorReply:
        return gemini_error_reply(error)
