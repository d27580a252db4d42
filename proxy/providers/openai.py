"""OpenAI: paths, where user text lives in its bodies, its SSE streams and its error shape.

Azure OpenAI speaks the same body and stream format, so its adapter reuses the format half of
this module (`collect_body`, `answer_transformer`, `openai_error_reply`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import orjson

from models.target import ProviderTarget
from proxy.auth import KeyRing, bearer_token
from proxy.codecs.sse import SseEvent
from proxy.config import ConfigError, ProviderConfig
from proxy.errors import ProxyError, not_found
from proxy.formats.openai import FORMATS, SCANNED_OPERATIONS, collect_body
from proxy.formats.schema import check_model
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
    check_path,
    event_json,
    managed_key,
    parse_json_object,
    restore_json,
    upstream_body,
    upstream_url,
)
from proxy.providers.headers import CONTENT_HEADERS, Pseudonymiser, forward_headers
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
# Request headers taken from the caller. The account headers name the OpenAI organization and
# project a request is billed to: the caller's only with the caller's own key (passthrough), else
# the configured ones. An idempotency key is the caller's free choice: it goes as a pseudonym.
_FORWARDED_HEADERS = ("openai-beta", "accept")
_ACCOUNT_HEADERS = {"organization": "OpenAI-Organization", "project": "OpenAI-Project"}
_IDENTIFIER_HEADERS = ("Idempotency-Key",)
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

# Response headers the openai SDK reads (request id, retry advice, polling) or that tell a caller
# its limits; the organization and project headers name the proxy's account and stay here.
OPENAI_RESPONSE_HEADERS = CONTENT_HEADERS.extended(
    names=(
        "x-request-id",
        "openai-processing-ms",
        "openai-version",
        "openai-poll-after-ms",
        "x-should-retry",
        "retry-after",
        "retry-after-ms",
    ),
    prefixes=("x-ratelimit-",),
)


def account_headers(config: ProviderConfig) -> dict[str, str]:
    """`providers.<name>.organization` and `.project` (or CONSENTRY_<NAME>_ORGANIZATION and
    _PROJECT) as the headers that carry them."""
    headers: dict[str, str] = {}
    for key, header in _ACCOUNT_HEADERS.items():
        variable = f"CONSENTRY_{config.name.upper()}_{key.upper()}"
        value = str(config.env.get(variable) or config.extra.get(key) or "")
        if not value:
            continue
        if not _ACCOUNT_ID.fullmatch(value):
            raise ConfigError(f"providers.{config.name}.{key} must be an id such as org-... or proj_...")
        headers[header] = value
    return headers


def operation_for(method: str, path: str) -> str | None:
    operation = _OPERATIONS.get((method, path))
    if operation is None and method == "GET" and path.startswith("models/") and path.count("/") == 1:
        operation = "models"
    return operation


class OpenAIExchange(ProviderExchange):
    formats = FORMATS
    response_allowlist = OPENAI_RESPONSE_HEADERS

    def __init__(self, adapter: OpenAIAdapter, incoming: IncomingRequest, operation: str, path: str) -> None:
        self._adapter = adapter
        self._incoming = incoming
        self.operation = operation
        self._path = path
        self.scanned = operation in SCANNED_OPERATIONS
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
            self._model = check_model(self._body.get("model"))
            self.streamed = self._body.get("stream") is True
        elif self.operation == "models" and "/" in self._path:
            self._model = check_model(unquote(self._path.split("/", 1)[1]), "the model in the path")

    @property
    def target(self) -> ProviderTarget:
        return ProviderTarget(
            self._adapter.name, self.operation, self._model, carries_data=self.operation != "models"
        )

    def collect(self, slots: TextSlots) -> None:
        if self._body is not None:
            collect_body(self.operation, self._body, slots, self.formats)

    def upstream_request(self, pseudonym: Pseudonymiser | None = None) -> UpstreamRequest:
        config = self._adapter.config
        # No operation this adapter routes takes query parameters, and a query is not scanned: only
        # an allowed extra path (unscanned by the operator's choice) keeps the caller's.
        query = list(self._incoming.query.items()) if self.operation == "passthrough" else []
        url = upstream_url(config.base_url, "/" + self._path, query)
        incoming = self._incoming.headers
        headers = forward_headers(incoming, _FORWARDED_HEADERS, _IDENTIFIER_HEADERS, pseudonym)
        headers.update(self._adapter.account_headers)
        if config.auth_mode == "passthrough":
            headers.update(forward_headers(incoming, _ACCOUNT_HEADERS.values()))
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
    def __init__(self, config: ProviderConfig, keys: KeyRing) -> None:
        super().__init__(config, keys)
        self.account_headers = account_headers(config)

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
