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
from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES
from proxy.errors import ProxyError, bad_request, not_found
from proxy.formats.answers import JsonAnswer, PassThrough, ResponseTransformer
from proxy.formats.gemini import collect_request
from proxy.formats.gemini_answers import ArrayAnswer, SseAnswer
from proxy.formats.schema import MODEL_PATTERN
from proxy.providers.base import (
    ErrorReply,
    IncomingRequest,
    ProviderAdapter,
    ProviderExchange,
    UpstreamRequest,
)
from proxy.providers.common import (
    allowed_extra,
    authenticate_app,
    check_path,
    managed_key,
    parse_json_object,
    upstream_body,
    upstream_url,
)
from proxy.providers.headers import CONTENT_HEADERS, Pseudonymiser, forward_headers, sdk_version_string
from proxy.restore import Restorer
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
# How Google's APIs say when to retry (google.rpc.RetryInfo), beside the Retry-After header.
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


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
    details: list[dict[str, Any]] = [info]
    if error.retry_after_s is not None:
        details.append({"@type": _RETRY_INFO, "retryDelay": f"{error.retry_after_s}s"})
    body = {"error": {"code": error.status, "message": message, "status": status, "details": details}}
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
        model = self._route.model if self._route else ""
        return ProviderTarget(self._adapter.name, self.operation, model, carries_data=bool(self._raw))

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
        self,
        status: int,
        headers: Mapping[str, str],
        restorer: Restorer,
        *,
        max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES,
    ) -> ResponseTransformer:
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        is_sse = content_type.startswith("text/event-stream")
        if self._route is None:
            return PassThrough(streaming=is_sse)
        if not 200 <= status < 300:
            return PassThrough(streaming=False)
        method = self._route.method
        restoring = restorer if restorer.active else None
        if method == "streamGenerateContent":
            # Decoded also with nothing to restore: the proxy can only end a stream with an error
            # the SDK raises on where it knows the stream's boundaries.
            if is_sse:
                return SseAnswer(restoring, max_event_bytes=max_event_bytes)
            return ArrayAnswer(restoring, max_event_bytes=max_event_bytes)
        if restoring is not None and method in _TEXT_ANSWERS:
            return JsonAnswer(restorer)
        return PassThrough(streaming=False)


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
