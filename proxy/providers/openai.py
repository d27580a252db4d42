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
from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES
from proxy.config import ConfigError, ProviderConfig, env_prefix
from proxy.errors import ProxyError, not_found
from proxy.formats.answers import ResponseTransformer
from proxy.formats.openai import FORMATS, SCANNED_OPERATIONS, collect_body
from proxy.formats.openai_answers import answer_transformer
from proxy.formats.schema import check_model
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
from proxy.providers.headers import CONTENT_HEADERS, Pseudonymiser, forward_headers
from proxy.restore import Restorer
from proxy.textslots import TextSlots

# ---------------------------------------------------------------- error shape

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "requests",
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
    headers: dict[str, str] = {}
    if error.retry_after_s is not None:
        # Beside the Retry-After the pipeline adds to every refusal: the openai SDK reads these
        # first, and retries when told to.
        headers["retry-after-ms"] = str(error.retry_after_s * 1000)
        headers["x-should-retry"] = "true"
    elif error.status == 413:
        headers["x-should-retry"] = "false"
    return ErrorReply(error.status, orjson.dumps({"error": body}), headers)


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
        variable = f"{env_prefix(config.name)}{key.upper()}"
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
        return ProviderTarget(self._adapter.name, self.operation, self._model, carries_data=bool(self._raw))

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
        self,
        status: int,
        headers: Mapping[str, str],
        restorer: Restorer,
        *,
        max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES,
    ) -> ResponseTransformer:
        return answer_transformer(self.operation, status, headers, restorer, max_event_bytes=max_event_bytes)


class OpenAIAdapter(ProviderAdapter):
    def __init__(self, config: ProviderConfig, keys: KeyRing) -> None:
        super().__init__(config, keys)
        self.account_headers = account_headers(config)

    def open(self, incoming: IncomingRequest) -> ProviderExchange:
        hint = f"requests to this provider go to /{self.name}/v1/..."
        check_path(incoming.subpath, hint)
        if not incoming.subpath.startswith("/v1/"):
            raise not_found(f"unknown path: {hint}")
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
