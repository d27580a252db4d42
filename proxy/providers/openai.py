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
    add_identifier,
    add_text,
    allowed_extra,
    authenticate_app,
    check_path,
    event_json,
    managed_key,
    parse_json_object,
    restore_json,
    scan_other_fields,
    upstream_body,
    upstream_url,
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

# Every place that carries text is checked for its shape before it is registered: a value of the
# wrong type in a text field is refused (400), never forwarded unread. Inside the objects walked
# below, fields other than these (which are read here, or name and tag things) are scanned too.
_MESSAGE_FIELDS = frozenset(
    {"role", "content", "name", "refusal", "tool_calls", "function_call", "tool_call_id", "audio"}
)
_TOOL_CALL_FIELDS = frozenset({"id", "type", "index", "function", "custom"})
_FUNCTION_FIELDS = frozenset({"name", "arguments"})
_CUSTOM_FIELDS = frozenset({"name", "input"})
_ITEM_FIELDS = {
    "message": frozenset({"type", "role", "id", "status", "content"}),
    "function_call": frozenset({"type", "id", "call_id", "name", "arguments", "status"}),
    "function_call_output": frozenset({"type", "id", "call_id", "output", "status"}),
    "custom_tool_call_output": frozenset({"type", "id", "call_id", "output", "status"}),
    "custom_tool_call": frozenset({"type", "id", "call_id", "name", "input"}),
    # encrypted_content is the model's own reasoning, opaque to everyone.
    "reasoning": frozenset({"type", "id", "status", "summary", "content", "encrypted_content"}),
    "item_reference": frozenset({"type", "id"}),
}


def _part(slots: TextSlots, content: list[Any], index: int) -> None:
    part = content[index]
    if isinstance(part, str):
        slots.add(content, index)
        return
    if not isinstance(part, dict):
        raise bad_request("each content part must be an object")
    ptype = part.get("type")
    if not isinstance(ptype, str):
        raise bad_request("each content part needs a string 'type'")
    field = _TEXT_PARTS.get(ptype)
    if field is not None:
        add_text(slots, part, field, f"a text part's '{field}'", required=True)
        scan_other_fields(slots, part, ("type", field))
    else:
        # An unknown part type might carry data we cannot read: treat it as unscannable.
        slots.add_unscannable(_UNSCANNABLE_PARTS.get(ptype, "unknown content part"))


def _content(slots: TextSlots, holder: dict[str, Any], key: str) -> None:
    content = holder.get(key)
    if isinstance(content, str):
        slots.add(holder, key)
    elif isinstance(content, list):
        for index in range(len(content)):
            _part(slots, content, index)
    elif content is not None:
        raise bad_request(f"'{key}' must be a string, a list of content parts or null")


def _object(holder: dict[str, Any], key: str) -> dict[str, Any] | None:
    """holder[key] when it is an object, None when absent or null, else ProxyError(400)."""
    value = holder.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise bad_request(f"'{key}' must be an object")


def _list(holder: dict[str, Any], key: str) -> list[Any]:
    value = holder.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{key}' must be a list")
    return value


def _arguments(slots: TextSlots, holder: dict[str, Any]) -> None:
    # Function-call arguments are JSON text: its string values are scanned and it stays JSON.
    value = holder.get("arguments")
    if isinstance(value, str):
        slots.add_json_string(holder, "arguments")
    elif value is not None:
        raise bad_request("'arguments' must be a string")


def _identifiers(slots: TextSlots, body: dict[str, Any]) -> None:
    for name in _IDENTIFIER_FIELDS:
        add_identifier(slots, body, name, f"'{name}'")
    metadata = _object(body, "metadata") or {}
    for key in metadata:
        add_identifier(slots, metadata, key, "'metadata' values")


def _user_location(slots: TextSlots, holder: dict[str, Any]) -> None:
    """A web search's approximate user location (city, region, country, timezone) is personal data."""
    location = _object(holder, "user_location")
    if location is not None:
        scan_other_fields(slots, location, ("type",))


def _tool_call(slots: TextSlots, call: Any) -> None:
    if not isinstance(call, dict):
        raise bad_request("each tool call must be an object")
    scan_other_fields(slots, call, _TOOL_CALL_FIELDS)
    function = _object(call, "function")
    if function is not None:
        _arguments(slots, function)
        scan_other_fields(slots, function, _FUNCTION_FIELDS)
    custom = _object(call, "custom")
    if custom is not None:
        add_text(slots, custom, "input", "a custom tool call's 'input'")
        scan_other_fields(slots, custom, _CUSTOM_FIELDS)


def _chat(body: dict[str, Any], slots: TextSlots) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("'messages' must be a list")
    for message in messages:
        if not isinstance(message, dict):
            raise bad_request("each message must be an object")
        _content(slots, message, "content")
        for field in ("name", "refusal"):
            add_text(slots, message, field, f"a message's '{field}'")
        for call in _list(message, "tool_calls"):
            _tool_call(slots, call)
        function_call = _object(message, "function_call")
        if function_call is not None:
            _arguments(slots, function_call)
            scan_other_fields(slots, function_call, _FUNCTION_FIELDS)
        scan_other_fields(slots, message, _MESSAGE_FIELDS)
    prediction = _object(body, "prediction")
    if prediction is not None:
        _content(slots, prediction, "content")
        scan_other_fields(slots, prediction, ("type", "content"))
    web_search = _object(body, "web_search_options")
    if web_search is not None:
        _user_location(slots, web_search)
        scan_other_fields(slots, web_search, ("search_context_size", "user_location"))


def _responses_item(slots: TextSlots, items: list[Any], index: int) -> None:
    item = items[index]
    if isinstance(item, str):
        slots.add(items, index)
        return
    if not isinstance(item, dict):
        raise bad_request("each input item must be an object")
    itype = item.get("type", "message")
    if not isinstance(itype, str):
        raise bad_request("an input item's 'type' must be a string")
    known = _ITEM_FIELDS.get(itype)
    if known is None:
        slots.add_unscannable("unknown input item")
        return
    if itype == "message":
        _content(slots, item, "content")
    elif itype == "function_call":
        _arguments(slots, item)
    elif itype in ("function_call_output", "custom_tool_call_output"):
        if isinstance(item.get("output"), str):
            slots.add_json_string(item, "output")
        else:
            _content(slots, item, "output")
    elif itype == "custom_tool_call":
        add_text(slots, item, "input", "a custom tool call's 'input'")
    elif itype == "reasoning":
        for key in ("summary", "content"):
            for part in _list(item, key):
                if not isinstance(part, dict):
                    raise bad_request(f"each reasoning {key} part must be an object")
                add_text(slots, part, "text", f"a reasoning {key} part's 'text'", required=True)
                scan_other_fields(slots, part, ("type", "text"))
    scan_other_fields(slots, item, known)


def _responses(body: dict[str, Any], slots: TextSlots) -> None:
    add_text(slots, body, "instructions", "'instructions'")
    given = body.get("input")
    if isinstance(given, str):
        slots.add(body, "input")
    elif isinstance(given, list):
        for index in range(len(given)):
            _responses_item(slots, given, index)
    elif given is not None:
        raise bad_request("'input' must be a string or a list of items")
    prompt = _object(body, "prompt")
    if prompt is not None:
        scan_other_fields(slots, prompt, ("id", "version"))  # the variables
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict):
            _user_location(slots, tool)  # web search tools


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, int) for t in value)


def _text_or_tokens(slots: TextSlots, body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if isinstance(value, str):
        slots.add(body, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                slots.add(value, index)
            elif isinstance(item, int) or _is_tokens(item):
                slots.add_unscannable("token ids")  # token arrays cannot be read without the tokenizer
            else:
                raise bad_request(f"'{key}' items must be strings or token arrays")
    elif value is not None:
        raise bad_request(f"'{key}' must be a string or a list")


def _embeddings(body: dict[str, Any], slots: TextSlots) -> None:
    _text_or_tokens(slots, body, "input")


def _completions(body: dict[str, Any], slots: TextSlots) -> None:
    _text_or_tokens(slots, body, "prompt")
    add_text(slots, body, "suffix", "'suffix'")


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

    def _choice(self, choice: dict[str, Any], position: int) -> None:
        index = choice.get("index")
        if not isinstance(index, int):
            index = position
        if self._legacy:
            target = choice
        else:
            delta = choice.get("delta")
            # The finish chunk usually carries `"delta": {}`: held-back text must go into that very
            # dict (or a new one put in its place), not into a throwaway.
            target = delta if isinstance(delta, dict) else {}
        fields = ("text",) if self._legacy else ("content", "refusal")
        for field in fields:
            if isinstance(target.get(field), str):
                target[field] = self._streams.feed((field, index), target[field])
        calls = target.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                key = ("tool", index, self._tool_index(call))
                function["arguments"] = self._streams.feed(key, function["arguments"], json_text=True)
        if choice.get("finish_reason") is None:
            return
        rests = [(field, self._streams.flush_one((field, index))) for field in fields]
        tool_rests = self._streams.flush(lambda k: k[0] == "tool" and k[1] == index)
        if not any(rest for _, rest in rests) and not tool_rests:
            return
        for field, rest in rests:
            if rest:
                existing = target.get(field)
                target[field] = (existing if isinstance(existing, str) else "") + rest
        for key, rest in tool_rests:
            self._append_tool_text(target, key[2], rest)
        if not self._legacy:
            choice["delta"] = target

    @staticmethod
    def _tool_index(call: dict[str, Any]) -> int:
        index = call.get("index", 0)
        return index if isinstance(index, int) else 0

    @classmethod
    def _append_tool_text(cls, delta: dict[str, Any], tool_index: int, text: str) -> None:
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            calls = delta["tool_calls"] = []
        for call in calls:
            if isinstance(call, dict) and cls._tool_index(call) == tool_index:
                function = call.get("function")
                if not isinstance(function, dict):
                    function = call["function"] = {}
                existing = function.get("arguments")
                function["arguments"] = (existing if isinstance(existing, str) else "") + text
                return
        calls.append({"index": tool_index, "function": {"arguments": text}})

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        if event.data is not None and event.data.strip() == "[DONE]":
            return [*self.finish(), event]
        obj = event_json(event)
        if not isinstance(obj, dict) or not obj.get("choices"):
            return [event]
        choices = obj["choices"]
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            if isinstance(choice, dict):
                self._choice(choice, position)
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


# Events after which no more deltas come: text still held back goes out before them.
_RESPONSES_END = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_DELTA_TYPES = {kind: etype for etype, (kind, _) in _RESPONSES_DELTAS.items()}
_DELTA_FIELDS = ("item_id", "output_index", "content_index")


class ResponsesStream:
    """Responses API events: deltas restored incrementally, every other event restored whole."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    @staticmethod
    def _key(kind: str, obj: dict[str, Any]) -> tuple[Any, ...]:
        # Only hashable ids make a stream key; anything else stands for "no id".
        ids = (obj.get(name) for name in _DELTA_FIELDS)
        return (kind, *(v if isinstance(v, str | int) else None for v in ids))

    @staticmethod
    def _delta_event(key: tuple[Any, ...], text: str, sequence_number: Any = None) -> SseEvent:
        delta_type = _DELTA_TYPES[key[0]]
        event: dict[str, Any] = {"type": delta_type}
        event.update(
            (name, value) for name, value in zip(_DELTA_FIELDS, key[1:], strict=True) if value is not None
        )
        if sequence_number is not None:
            event["sequence_number"] = sequence_number
        event["delta"] = text
        return SseEvent([("event", delta_type), ("data", orjson.dumps(event).decode())])

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        obj = event_json(event)
        if not isinstance(obj, dict):
            return [event]
        etype = obj.get("type")
        if isinstance(etype, str) and etype in _RESPONSES_DELTAS and isinstance(obj.get("delta"), str):
            kind, json_text = _RESPONSES_DELTAS[etype]
            obj["delta"] = self._streams.feed(self._key(kind, obj), obj["delta"], json_text)
            return [_dump(event, obj)]
        out: list[SseEvent] = []
        if isinstance(etype, str) and etype in _RESPONSES_DONE:
            key = self._key(_RESPONSES_DELTAS[_RESPONSES_DONE[etype]][0], obj)
            rest = self._streams.flush_one(key)
            if rest:
                # The held-back tail goes out as one more delta right before its "done" event.
                out.append(self._delta_event(key, rest, obj.get("sequence_number")))
        elif etype in _RESPONSES_END:
            out.extend(self.finish())
        out.append(_dump(event, restore_json(obj, self._restorer, JSON_TEXT_KEYS)))
        return out

    def finish(self) -> list[SseEvent]:
        """Text still held back when no "done" event came for it, as one more delta each."""
        return [self._delta_event(key, text) for key, text in self._streams.flush()]


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
        # No operation this adapter routes takes query parameters, and a query is not scanned: only
        # an allowed extra path (unscanned by the operator's choice) keeps the caller's.
        query = list(self._incoming.query.items()) if self.operation == "passthrough" else []
        url = upstream_url(config.base_url, "/" + self._path, query)
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
        check_path(incoming.subpath, "OpenAI requests go to /openai/v1/...")
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
