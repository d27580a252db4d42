"""OpenAI: paths, where user text lives in its bodies, its SSE streams and its error shape.

Azure OpenAI speaks the same body and stream format, so its adapter reuses the format half of
this module (`collect_body`, `answer_transformer`, `openai_error_reply`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from models.target import ProviderTarget
from proxy.auth import bearer_token
from proxy.codecs.sse import SseEvent
from proxy.errors import ProxyError, bad_request, not_found
from proxy.providers.base import (
    ErrorReply,
    IncomingRequest,
    PassThrough,
    ProviderAdapter,
    ProviderExchange,
    ResponseTransformer,
    UpstreamRequest,
)
from proxy.providers.common import (
    JsonAnswer,
    SseAnswer,
    allowed_extra,
    authenticate_app,
    event_json,
    managed_key,
    parse_json_object,
    restore_json,
    upstream_body,
)
from proxy.restore import Restorer, StreamRestorers
from proxy.textslots import TextSlots

# ---------------------------------------------------------------- error shape

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    413: "invalid_request_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout",
}


def openai_error_reply(error: ProxyError) -> ErrorReply:
    body: dict[str, Any] = {
        "message": error.message,
        "type": _ERROR_TYPES.get(error.status, "api_error"),
        "param": None,
        "code": error.code,
    }
    body.update(error.details)
    return ErrorReply(error.status, orjson.dumps({"error": body}))


# ---------------------------------------------------------------- where text lives in requests

_UNSCANNABLE_PARTS = {
    "image_url": "image",
    "input_image": "image",
    "input_audio": "audio",
    "audio": "audio",
    "input_file": "file",
    "file": "file",
}
_TEXT_PARTS = {"text": "text", "input_text": "text", "output_text": "text", "refusal": "refusal"}
_IDENTIFIER_FIELDS = ("user", "safety_identifier", "prompt_cache_key")


def _content(slots: TextSlots, holder: dict[str, Any], key: str) -> None:
    content = holder.get(key)
    if isinstance(content, str):
        slots.add(holder, key)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            if isinstance(part, str):
                slots.add(content, index)
            elif isinstance(part, dict):
                ptype = part.get("type")
                if ptype in _TEXT_PARTS:
                    slots.add(part, _TEXT_PARTS[ptype])
                else:
                    # An unknown part type might carry data we cannot read: treat it as unscannable.
                    slots.add_unscannable(_UNSCANNABLE_PARTS.get(str(ptype), "unknown content part"))


def _identifiers(slots: TextSlots, body: dict[str, Any]) -> None:
    for name in _IDENTIFIER_FIELDS:
        if name in body:
            slots.add_identifier(body, name)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for key in metadata:
            slots.add_identifier(metadata, key)


def _chat(body: dict[str, Any], slots: TextSlots) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("'messages' must be a list")
    for message in messages:
        if not isinstance(message, dict):
            raise bad_request("each message must be an object")
        _content(slots, message, "content")
        for field in ("name", "refusal"):
            if field in message:
                slots.add(message, field)
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                slots.add_json_string(call["function"], "arguments")
            if isinstance(call, dict) and isinstance(call.get("custom"), dict):
                slots.add(call["custom"], "input")
        if isinstance(message.get("function_call"), dict):
            slots.add_json_string(message["function_call"], "arguments")
    if isinstance(body.get("prediction"), dict):
        _content(slots, body["prediction"], "content")


def _responses_item(slots: TextSlots, items: list[Any], index: int) -> None:
    item = items[index]
    if isinstance(item, str):
        slots.add(items, index)
        return
    if not isinstance(item, dict):
        raise bad_request("each input item must be an object")
    itype = item.get("type", "message")
    if itype == "message":
        _content(slots, item, "content")
    elif itype == "function_call":
        slots.add_json_string(item, "arguments")
    elif itype in ("function_call_output", "custom_tool_call_output"):
        if isinstance(item.get("output"), str):
            slots.add_json_string(item, "output")
        else:
            _content(slots, item, "output")
    elif itype == "custom_tool_call":
        slots.add(item, "input")
    elif itype == "reasoning":
        for part in item.get("summary") or ():
            if isinstance(part, dict):
                slots.add(part, "text")
    elif itype != "item_reference":
        slots.add_unscannable("unknown input item")


def _responses(body: dict[str, Any], slots: TextSlots) -> None:
    if "instructions" in body:
        slots.add(body, "instructions")
    given = body.get("input")
    if isinstance(given, str):
        slots.add(body, "input")
    elif isinstance(given, list):
        for index in range(len(given)):
            _responses_item(slots, given, index)
    elif given is not None:
        raise bad_request("'input' must be a string or a list of items")
    prompt = body.get("prompt")
    if isinstance(prompt, dict) and isinstance(prompt.get("variables"), dict):
        slots.add_strings_in(prompt["variables"])


def _text_or_tokens(slots: TextSlots, body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if isinstance(value, str):
        slots.add(body, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                slots.add(value, index)
            elif isinstance(item, int | list):
                slots.add_unscannable("token ids")  # token arrays cannot be read without the tokenizer
            else:
                raise bad_request(f"'{key}' items must be strings or token arrays")
    elif value is not None:
        raise bad_request(f"'{key}' must be a string or a list")


def _embeddings(body: dict[str, Any], slots: TextSlots) -> None:
    _text_or_tokens(slots, body, "input")


def _completions(body: dict[str, Any], slots: TextSlots) -> None:
    _text_or_tokens(slots, body, "prompt")
    if "suffix" in body:
        slots.add(body, "suffix")


_COLLECTORS: dict[str, Callable[[dict[str, Any], TextSlots], None]] = {
    "chat": _chat,
    "responses": _responses,
    "embeddings": _embeddings,
    "completions": _completions,
}
# Operations whose bodies carry user text; every other operation is forwarded without a scan.
SCANNED_OPERATIONS = frozenset(_COLLECTORS)


def collect_body(operation: str, body: dict[str, Any], slots: TextSlots) -> None:
    collector = _COLLECTORS.get(operation)
    if collector is not None:
        collector(body, slots)
        _identifiers(slots, body)


# ---------------------------------------------------------------- restoring answers

# Function-call arguments are JSON text inside a JSON string.
JSON_TEXT_KEYS = frozenset({"arguments"})


def _dump(event: SseEvent, obj: Any) -> SseEvent:
    return event.with_data(orjson.dumps(obj).decode())


class ChoicesStream:
    """Chat completion and legacy completion chunks: text in choices[].delta or choices[].text."""

    def __init__(self, restorer: Restorer, legacy: bool) -> None:
        self._streams = StreamRestorers(restorer)
        self._legacy = legacy
        self._template: dict[str, Any] | None = None

    def _choice(self, choice: dict[str, Any]) -> None:
        index = choice.get("index", 0)
        target = choice if self._legacy else (choice.get("delta") or {})
        for field in ("text",) if self._legacy else ("content", "refusal"):
            if isinstance(target.get(field), str):
                target[field] = self._streams.feed((field, index), target[field])
        for call in target.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                key = ("tool", index, call.get("index", 0))
                function["arguments"] = self._streams.feed(key, function["arguments"], json_text=True)
        if choice.get("finish_reason") is not None:
            for field in ("text",) if self._legacy else ("content", "refusal"):
                rest = self._streams.flush_one((field, index))
                if rest:
                    target[field] = (target.get(field) or "") + rest
            for key, rest in self._streams.flush(lambda k: k[0] == "tool" and k[1] == index):
                self._append_tool_text(target, key[2], rest)

    @staticmethod
    def _append_tool_text(delta: dict[str, Any], tool_index: int, text: str) -> None:
        calls = delta.setdefault("tool_calls", [])
        for call in calls:
            if call.get("index", 0) == tool_index:
                function = call.setdefault("function", {})
                function["arguments"] = (function.get("arguments") or "") + text
                return
        calls.append({"index": tool_index, "function": {"arguments": text}})

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        if event.data is not None and event.data.strip() == "[DONE]":
            return [*self.finish(), event]
        obj = event_json(event)
        if not isinstance(obj, dict) or not obj.get("choices"):
            return [event]
        for choice in obj["choices"]:
            if isinstance(choice, dict):
                self._choice(choice)
        self._template = obj
        return [_dump(event, obj)]

    def finish(self) -> list[SseEvent]:
        """Text still held back when the stream ends goes out in one last chunk of the same shape."""
        leftovers = self._streams.flush()
        if not leftovers or self._template is None:
            return []
        template = {k: v for k, v in self._template.items() if k not in ("choices", "usage")}
        events = []
        for key, text in leftovers:
            index = key[1]
            if self._legacy:
                choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": None}
            elif key[0] == "tool":
                choice = {"index": index, "delta": {}, "finish_reason": None}
                self._append_tool_text(choice["delta"], key[2], text)
            else:
                choice = {"index": index, "delta": {key[0]: text}, "finish_reason": None}
            events.append(SseEvent([("data", orjson.dumps({**template, "choices": [choice]}).decode())]))
        return events


_RESPONSES_DELTAS = {
    "response.output_text.delta": ("text", False),
    "response.refusal.delta": ("refusal", False),
    "response.function_call_arguments.delta": ("arguments", True),
}
_RESPONSES_DONE = {
    "response.output_text.done": "response.output_text.delta",
    "response.refusal.done": "response.refusal.delta",
    "response.function_call_arguments.done": "response.function_call_arguments.delta",
}


class ResponsesStream:
    """Responses API events: deltas restored incrementally, every other event restored whole."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    @staticmethod
    def _key(kind: str, obj: dict[str, Any]) -> tuple[Any, ...]:
        return (kind, obj.get("item_id"), obj.get("output_index"), obj.get("content_index"))

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        obj = event_json(event)
        if not isinstance(obj, dict):
            return [event]
        etype = obj.get("type")
        if etype in _RESPONSES_DELTAS and isinstance(obj.get("delta"), str):
            kind, json_text = _RESPONSES_DELTAS[etype]
            obj["delta"] = self._streams.feed(self._key(kind, obj), obj["delta"], json_text)
            return [_dump(event, obj)]
        out: list[SseEvent] = []
        if etype in _RESPONSES_DONE:
            delta_type = _RESPONSES_DONE[etype]
            rest = self._streams.flush_one(self._key(_RESPONSES_DELTAS[delta_type][0], obj))
            if rest:
                # The held-back tail goes out as one more delta right before its "done" event.
                extra = {
                    k: obj[k]
                    for k in ("item_id", "output_index", "content_index", "sequence_number")
                    if k in obj
                }
                extra.update(type=delta_type, delta=rest)
                out.append(SseEvent([("event", delta_type), ("data", orjson.dumps(extra).decode())]))
        out.append(_dump(event, restore_json(obj, self._restorer, JSON_TEXT_KEYS)))
        return out

    def finish(self) -> list[SseEvent]:
        return []


_TEXT_ANSWERS = frozenset({"chat", "responses", "completions"})


def answer_transformer(
    operation: str, status: int, headers: Mapping[str, str], restorer: Restorer
) -> ResponseTransformer:
    content_type = headers.get("Content-Type", headers.get("content-type", ""))
    is_sse = content_type.startswith("text/event-stream")
    if not restorer.active or operation not in _TEXT_ANSWERS or not 200 <= status < 300:
        return PassThrough(streaming=is_sse)
    if is_sse:
        if operation == "responses":
            return SseAnswer(ResponsesStream(restorer))
        return SseAnswer(ChoicesStream(restorer, legacy=operation == "completions"))
    return JsonAnswer(restorer, JSON_TEXT_KEYS)


# ---------------------------------------------------------------- the adapter

_OPERATIONS = {
    ("POST", "chat/completions"): "chat",
    ("POST", "responses"): "responses",
    ("POST", "embeddings"): "embeddings",
    ("POST", "completions"): "completions",
    ("GET", "models"): "models",
}
_FORWARDED_HEADERS = ("openai-organization", "openai-project", "openai-beta", "idempotency-key", "accept")


def operation_for(method: str, path: str) -> str | None:
    operation = _OPERATIONS.get((method, path))
    if operation is None and method == "GET" and path.startswith("models/") and path.count("/") == 1:
        operation = "models"
    return operation


class OpenAIExchange(ProviderExchange):
    def __init__(self, adapter: OpenAIAdapter, incoming: IncomingRequest, operation: str, path: str) -> None:
        self._adapter = adapter
        self._incoming = incoming
        self.operation = operation
        self._path = path
        self.scanned = operation in _COLLECTORS
        self._body: dict[str, Any] | None = None
        self._raw = b""
        self._model = ""

    def authenticate(self, body: bytes) -> str:
        headers = self._incoming.headers
        return authenticate_app(
            self._adapter,
            headers,
            bearer_token(headers.get("Authorization")),
            "passthrough mode needs the caller's provider key in Authorization",
        )

    def parse(self, body: bytes) -> None:
        self._raw = body
        if self.scanned:
            self._body = parse_json_object(body)
            model = self._body.get("model")
            self._model = model if isinstance(model, str) else ""
            self.streamed = self._body.get("stream") is True
        elif self.operation == "models" and "/" in self._path:
            self._model = self._path.split("/", 1)[1]

    @property
    def target(self) -> ProviderTarget:
        return ProviderTarget("openai", self.operation, self._model)

    def collect(self, slots: TextSlots) -> None:
        if self._body is not None:
            collect_body(self.operation, self._body, slots)

    def upstream_request(self) -> UpstreamRequest:
        config = self._adapter.config
        url = config.base_url.rstrip("/") + "/" + self._path
        if self._incoming.raw_query:
            url += "?" + self._incoming.raw_query
        incoming = self._incoming.headers
        headers = {name: incoming[name] for name in _FORWARDED_HEADERS if name in incoming}
        if config.auth_mode == "passthrough":
            headers["Authorization"] = incoming["Authorization"]
        else:
            headers["Authorization"] = f"Bearer {managed_key(config)}"
        body = upstream_body(self._body, self._raw, incoming, headers)
        return UpstreamRequest(self._incoming.method, url, headers, body)

    def response_transformer(
        self, status: int, headers: Mapping[str, str], restorer: Restorer
    ) -> ResponseTransformer:
        return answer_transformer(self.operation, status, headers, restorer)


class OpenAIAdapter(ProviderAdapter):
    name = "openai"

    def open(self, incoming: IncomingRequest) -> ProviderExchange:
        if not incoming.subpath.startswith("/v1/"):
            raise not_found("unknown path: OpenAI requests go to /openai/v1/...")
        path = incoming.subpath[len("/v1/") :]
        operation = operation_for(incoming.method, path)
        if operation is None and allowed_extra(path, self.config.allow_paths):
            operation = "passthrough"
        if operation is None:
            raise not_found(
                f"Consentry does not forward {incoming.method} /v1/{path[:80]} (not allowed by configuration)"
            )
        return OpenAIExchange(self, incoming, operation, path)

    def error_reply(self, error: ProxyError) -> ErrorReply:
        return openai_error_reply(error)
