"""Azure OpenAI: configured resources, deployment paths and `api-key` auth.

Bodies, streams and error shapes are OpenAI's, so everything about where text lives and how
answers are restored comes from `proxy.providers.openai`; this module only knows how Azure
addresses a request: `/azure/{resource}/openai/deployments/{deployment}/{operation}`,
`/azure/{resource}/openai/{operation}` and `/azure/{resource}/openai/v1/{operation}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from models.target import ProviderTarget
from proxy.auth import KeyRing, bearer_token
from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES
from proxy.config import ConfigError, ProviderConfig
from proxy.errors import ProxyError, bad_request, not_found
from proxy.formats.answers import ResponseTransformer
from proxy.formats.openai import AZURE_FORMATS, SCANNED_OPERATIONS, collect_body
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
    parse_json_object,
    upstream_body,
    upstream_url,
)
from proxy.providers.headers import Pseudonymiser, forward_headers
from proxy.providers.openai import OPENAI_RESPONSE_HEADERS, openai_error_reply, operation_for
from proxy.restore import Restorer
from proxy.textslots import TextSlots

# Azure resource names are DNS labels (the resource's custom subdomain).
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?")
_FORWARDED_HEADERS = ("accept", "openai-beta")
# Identifiers a caller picks freely go upstream as pseudonyms; Azure echoes the client request id,
# and the caller gets its own value back.
_CLIENT_REQUEST_ID = "x-ms-client-request-id"
_IDENTIFIER_HEADERS = ("Idempotency-Key", _CLIENT_REQUEST_ID)
# OpenAI's, plus Azure's request ids, region, the deployment and model that served the request
# and its content-filter (responsible AI) headers.
AZURE_RESPONSE_HEADERS = OPENAI_RESPONSE_HEADERS.extended(
    names=("apim-request-id", "x-ms-region", "x-ms-deployment-name", "x-ms-served-model"),
    prefixes=("x-ms-rai-",),
)
_DEPLOYMENTS = "openai/deployments/"
_V1 = "openai/v1/"
_OPENAI = "openai/"
_API_VERSION = "api-version"
_API_VERSION_VALUE = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?|v1|latest|preview")


@dataclass(frozen=True)
class AzureResource:
    name: str
    endpoint: str  # scheme://host[/path], no trailing slash; the only place requests for it go
    api_key: str


def api_key_variable(resource: str) -> str:
    return f"CONSENTRY_AZURE_{resource.upper().replace('-', '_')}_API_KEY"


def parse_resources(config: ProviderConfig) -> dict[str, AzureResource]:
    """`providers.azure.resources`: the allow-list of Azure endpoints a request can name."""
    raw = config.extra.get("resources") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError("providers.azure.resources must map resource names to {endpoint, api_key}")
    resources: dict[str, AzureResource] = {}
    for name, spec in raw.items():
        name = str(name)
        where = f"providers.azure.resources.{name}"
        if not _RESOURCE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: a resource name is letters, digits and inner hyphens")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a mapping with 'endpoint' and 'api_key'")
        endpoint = str(spec.get("endpoint") or "").rstrip("/")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(
                f"{where}.endpoint must be an http(s) URL such as https://{name}.openai.azure.com"
            )
        variable = api_key_variable(name)
        api_key = config.env.get(variable) or str(spec.get("api_key") or "")
        if config.auth_mode == "managed" and not api_key:
            raise ConfigError(f"{where}: no api_key (set it, or the environment variable {variable})")
        resources[name] = AzureResource(name, endpoint, api_key)
    return resources


@dataclass(frozen=True)
class _Route:
    resource: str
    path: str  # below the resource, percent-encoding kept: "openai/deployments/gpt4o/chat/completions"
    operation: str
    deployment: str  # decoded; "" on routes that carry the model in the body


def _route(method: str, subpath: str, allow_paths: tuple[str, ...]) -> _Route:
    hint = "Azure requests go to /azure/{resource}/openai/..."
    check_path(subpath, hint)
    resource, _, path = subpath.lstrip("/").partition("/")
    if not resource:
        raise not_found(f"unknown path: {hint}")
    operation: str | None = None
    deployment = ""
    if path.startswith(_DEPLOYMENTS):
        name, _, op = path[len(_DEPLOYMENTS) :].partition("/")
        deployment = unquote(name)
        operation = operation_for(method, op)
        # Listing models is not a deployment operation; only bodies with text go to a deployment.
        if not deployment or operation not in SCANNED_OPERATIONS:
            operation = None
    elif path.startswith(_V1):
        operation = operation_for(method, path[len(_V1) :])
    elif path.startswith(_OPENAI):
        operation = operation_for(method, path[len(_OPENAI) :])
    if operation is None and allowed_extra(path, allow_paths):
        operation = "passthrough"
    if operation is None:
        raise not_found(f"Consentry does not forward {method} /{path[:80]} (not allowed by configuration)")
    return _Route(resource, path, operation, deployment)


class AzureExchange(ProviderExchange):
    response_allowlist = AZURE_RESPONSE_HEADERS

    def __init__(self, adapter: AzureOpenAIAdapter, incoming: IncomingRequest, route: _Route) -> None:
        self._adapter = adapter
        self._incoming = incoming
        self._route = route
        self._resource: AzureResource | None = None
        self.operation = route.operation
        self.scanned = route.operation in SCANNED_OPERATIONS
        self._body: dict[str, Any] | None = None
        self._raw = b""
        self._model = route.deployment

    def authenticate(self, body: bytes) -> str:
        headers = self._incoming.headers
        app = authenticate_app(
            self._adapter,
            headers,
            headers.get("api-key") or bearer_token(headers.get("Authorization")),
            "passthrough mode needs the caller's Azure credential in api-key",
        )
        # Looked up only after authentication, so a caller without a key cannot probe which
        # resource names are configured.
        self._resource = self._adapter.resources.get(self._route.resource)
        if self._resource is None:
            raise not_found(f"unknown Azure resource '{self._route.resource[:64]}': not configured")
        return app

    def parse(self, body: bytes) -> None:
        self._raw = body
        if self._model:
            self._model = check_model(self._model, "the deployment in the path")
        if self.scanned:
            self._body = parse_json_object(body)
            model = check_model(self._body.get("model"))
            # The deployment in the path is what Azure runs, whatever the body says.
            if not self._model:
                self._model = model
            self.streamed = self._body.get("stream") is True
        elif self.operation == "models":
            _, _, model_id = self._route.path.partition("/models/")
            self._model = check_model(unquote(model_id), "the model in the path") if model_id else ""

    @property
    def target(self) -> ProviderTarget:
        return ProviderTarget(self._adapter.name, self.operation, self._model, carries_data=bool(self._raw))

    def collect(self, slots: TextSlots) -> None:
        if self._body is not None:
            collect_body(self.operation, self._body, slots, AZURE_FORMATS)

    def upstream_request(self, pseudonym: Pseudonymiser | None = None) -> UpstreamRequest:
        assert self._resource is not None, "authenticate() picks the resource"
        query = list(self._incoming.query.items())
        if self.operation != "passthrough":
            # Only what Azure needs to route the call goes upstream; the rest is not scanned.
            query = [(name, value) for name, value in query if name == _API_VERSION]
            if any(not _API_VERSION_VALUE.fullmatch(value) for _, value in query):
                raise bad_request("api-version must be a version such as 2024-10-21 or 2025-04-01-preview")
        url = upstream_url(self._resource.endpoint, "/" + self._route.path, query)
        incoming = self._incoming.headers
        headers = forward_headers(incoming, _FORWARDED_HEADERS, _IDENTIFIER_HEADERS, pseudonym)
        if self._adapter.config.auth_mode == "passthrough":
            # The caller's own Azure credential: an api-key, or an Entra ID bearer token.
            if "api-key" in incoming:
                headers["api-key"] = incoming["api-key"]
            else:
                headers["Authorization"] = incoming["Authorization"]
        else:
            headers["api-key"] = self._resource.api_key
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
        # Content-filter fields (prompt_filter_results, content_filter_results) are kept as they come.
        return answer_transformer(self.operation, status, headers, restorer, max_event_bytes=max_event_bytes)

    def response_headers(self, upstream: Mapping[str, str]) -> dict[str, str]:
        headers = super().response_headers(upstream)
        sent = self._incoming.headers.get(_CLIENT_REQUEST_ID)
        if sent is not None and any(name.lower() == _CLIENT_REQUEST_ID for name in upstream):
            # Azure echoed the pseudonym it was sent; the caller sees the id it chose.
            headers[_CLIENT_REQUEST_ID] = sent
        return headers


class AzureOpenAIAdapter(ProviderAdapter):
    def __init__(self, config: ProviderConfig, keys: KeyRing) -> None:
        super().__init__(config, keys)
        self.resources = parse_resources(config)

    def open(self, incoming: IncomingRequest) -> ProviderExchange:
        route = _route(incoming.method, incoming.subpath, self.config.allow_paths)
        return AzureExchange(self, incoming, route)

    def error_reply(self, error: ProxyError) -> ErrorReply:
        return openai_error_reply(error)
