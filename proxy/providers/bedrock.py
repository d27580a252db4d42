"""AWS Bedrock runtime: SigV4 in and out, Converse and InvokeModel bodies, event-stream answers.

Callers sign with an access key the proxy issued to their application (`apps.<name>.aws_*`); the
proxy checks that signature over the request exactly as received, masks the body, and signs the
request it sends again with its own AWS credentials. Nothing of the caller's request headers goes
upstream except the Bedrock operation parameters that travel as headers.

InvokeModel bodies are each model family's own format. A family this module does not know is
reported as unscannable, so a new model family is refused by default instead of leaking.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import botocore.session
import orjson
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError
from yarl import URL

from models.target import ProviderTarget
from proxy.auth import KeyRing
from proxy.aws_sigv4 import (
    INCOMPLETE_SIGNATURE,
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION_TOKEN,
    UNRECOGNIZED_CLIENT,
    SigV4Error,
    sign_request,
    verify_request,
)
from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES, PieceTooLarge
from proxy.codecs.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    encode_event,
    encode_exception,
)
from proxy.config import ConfigError, ProviderConfig
from proxy.errors import ProxyError, bad_request, not_found
from proxy.formats.answers import JsonAnswer, PassThrough, ResponseTransformer, StreamAbort, piece_too_large
from proxy.formats.bedrock import REQUEST_METADATA, collect_converse, collect_invoke, model_family
from proxy.formats.bedrock_answers import JSON_TEXT_KEYS, ChunkHandler, ConverseEvents, chunk_handler
from proxy.formats.schema import check_model, collect
from proxy.identity import CUSTOMER_HEADER
from proxy.providers.base import (
    ErrorReply,
    IncomingRequest,
    ProviderAdapter,
    ProviderExchange,
    UpstreamRequest,
)
from proxy.providers.common import allowed_extra, check_path, encode_query, parse_json_object
from proxy.providers.headers import CONTENT_HEADERS, Pseudonymiser
from proxy.restore import Restorer
from proxy.textslots import TextSlots

log = logging.getLogger("consentry.bedrock")

EVENTSTREAM = "application/vnd.amazon.eventstream"
REASON_HEADER = "X-Consentry-Reason"

# ---------------------------------------------------------------- error shape

# Exception names and statuses from botocore's bedrock-runtime service model, so boto3 raises
# ClientError with the code callers already handle.
_ERROR_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    413: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    502: "ServiceUnavailableException",
    503: "ServiceUnavailableException",
    504: "ModelTimeoutException",
}

# A refused caller signature: the proxy's stable code (sharing record, metrics) per AWS error type.
_SIGNATURE_CODES = {
    MISSING_AUTHENTICATION_TOKEN: "missing_signature",
    INCOMPLETE_SIGNATURE: "incomplete_signature",
    INVALID_SIGNATURE: "invalid_signature",
    UNRECOGNIZED_CLIENT: "unknown_access_key",
}
_SIGNATURE_TYPES = {code: error_type for error_type, code in _SIGNATURE_CODES.items()}


def bedrock_error_reply(error: ProxyError) -> ErrorReply:
    error_type = _SIGNATURE_TYPES.get(error.code) or _ERROR_TYPES.get(error.status, "InternalServerException")
    # AWS answers every authentication failure with 403.
    status = 403 if error.status == 401 else error.status
    body: dict[str, Any] = {"message": error.message}
    body.update(error.details)
    # boto3 retries ThrottlingException (429) and 5xx with its own backoff (the pipeline adds
    # Retry-After to every refusal that carries one, as advice).
    headers = {"x-amzn-ErrorType": error_type}
    reason = error.details.get("reason")
    if isinstance(reason, str):
        # boto3 keeps only `message` of a modelled error's body, but every response header.
        headers[REASON_HEADER] = reason
    return ErrorReply(status, orjson.dumps(body), headers)


# ---------------------------------------------------------------- model ids and families

# A model id in the path as boto3 encodes it (unreserved characters and %XX escapes).
_MODEL_SEGMENT = r"(?:[A-Za-z0-9._~:-]|%[0-9A-Fa-f]{2})+"
_MODEL_PATH = re.compile(
    rf"^/model/(?P<model>{_MODEL_SEGMENT})/"
    r"(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)$"
)
_STREAMED = frozenset({"converse-stream", "invoke-with-response-stream"})


def _parse_object(raw: bytes) -> dict[str, Any]:
    # Bedrock's own wording for a body it cannot read, so callers see what Bedrock would say.
    return parse_json_object(
        raw,
        "Malformed input request: the body is not valid JSON",
        "Malformed input request: the body must be a JSON object",
    )


# ---------------------------------------------------------------- event-stream frames


class _EventFrames:
    """ConverseStream frames: JSON events named by their `:event-type` header."""

    def __init__(self, restorer: Restorer) -> None:
        self._events = ConverseEvents(restorer)

    def on_message(self, message: EventStreamMessage) -> bytes:
        if not message.is_event:
            # An exception from upstream ends the stream: release held-back text before it.
            return self._encode(self._events.finish()) + message.encode()
        try:
            event = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return message.encode()
        if not isinstance(event, dict) or message.event_type is None:
            return message.encode()
        before, rewritten = self._events.on_event(message.event_type, event)
        own = (
            message.encode() if rewritten is None else message.with_payload(orjson.dumps(rewritten)).encode()
        )
        return self._encode(before) + own

    @staticmethod
    def _encode(events: list[tuple[str, dict[str, Any]]]) -> bytes:
        return b"".join(encode_event(name, orjson.dumps(event)) for name, event in events)

    def finish(self) -> bytes:
        return self._encode(self._events.finish())


class _ChunkFrames:
    """InvokeModelWithResponseStream frames: `chunk` events with `{"bytes": base64(model JSON)}`."""

    def __init__(self, handler: ChunkHandler) -> None:
        self._handler = handler

    @staticmethod
    def _frame(payload: dict[str, Any], chunk: dict[str, Any]) -> bytes:
        data = base64.b64encode(orjson.dumps(chunk)).decode()
        return encode_event("chunk", orjson.dumps({**payload, "bytes": data}))

    def on_message(self, message: EventStreamMessage) -> bytes:
        if not message.is_event:
            return self.finish() + message.encode()
        try:
            payload = orjson.loads(message.payload)
            chunk = orjson.loads(base64.b64decode(payload["bytes"], validate=True))
        except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError):
            return message.encode()  # not a chunk this module can read: relay it as it came
        if message.event_type != "chunk" or not isinstance(chunk, dict):
            return message.encode()
        before, rewritten = self._handler.on_chunk(chunk)
        extra = b"".join(self._frame({}, c) for c in before)
        if rewritten is None:
            return extra + message.encode()
        data = base64.b64encode(orjson.dumps(rewritten)).decode()
        # The original frame keeps its other fields (Bedrock's length-hiding padding `p`).
        return extra + message.with_payload(orjson.dumps({**payload, "bytes": data})).encode()

    def finish(self) -> bytes:
        return b"".join(self._frame({}, c) for c in self._handler.finish())


class _CheckedFrames:
    """Nothing to restore: frames are still decoded, so a corrupt one never reaches the caller."""

    def on_message(self, message: EventStreamMessage) -> bytes:
        return message.encode()

    def finish(self) -> bytes:
        return b""


FrameHandler = _EventFrames | _ChunkFrames | _CheckedFrames


class EventStreamAnswer(ResponseTransformer):
    """An `application/vnd.amazon.eventstream` answer, decoded and re-encoded frame by frame."""

    streaming = True

    def __init__(self, handler: FrameHandler, *, max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES) -> None:
        self._decoder = EventStreamDecoder(max_event_bytes)
        self._handler = handler
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> bytes:
        try:
            messages = self._decoder.feed(chunk)
        except PieceTooLarge:
            raise piece_too_large(self._max) from None
        except EventStreamError:
            raise StreamAbort(
                "upstream_corrupt_stream",
                "The provider sent a corrupt event stream; the answer is incomplete.",
            ) from None
        return b"".join(self._handler.on_message(m) for m in messages)

    def finish(self) -> bytes:
        try:
            self._decoder.close()
        except (EventStreamError, PieceTooLarge):
            raise StreamAbort(
                "upstream_cut", "The provider's event stream ended inside a frame; the answer is incomplete."
            ) from None
        return self._handler.finish()

    def abort(self, error_json: bytes) -> bytes:
        # An exception frame of a type both stream unions model, so boto3 raises EventStreamError
        # with the message of the error body (`{"message": ...}`, Bedrock's error shape).
        return encode_exception("modelStreamErrorException", error_json)


# ---------------------------------------------------------------- the adapter

# Operation parameters boto3 sends as headers (botocore's bedrock-runtime model); the proxy sends
# them on and signs them. Everything else the caller sent stays here.
# Each with the values botocore's service model allows: settings are enums, ids are bounded ids.
_PARAMETER_HEADERS = {
    "X-Amzn-Bedrock-Trace": re.compile(r"ENABLED|DISABLED|ENABLED_FULL"),
    "X-Amzn-Bedrock-GuardrailIdentifier": re.compile(
        r"[A-Za-z0-9_-]{1,64}|arn:aws(?:-[a-z]+)*:bedrock:[a-z0-9-]{1,20}:\d{12}:guardrail/[A-Za-z0-9_-]{1,64}"
    ),
    "X-Amzn-Bedrock-GuardrailVersion": re.compile(r"[1-9]\d{0,7}|DRAFT"),
    "X-Amzn-Bedrock-PerformanceConfig-Latency": re.compile(r"[a-z]{1,16}"),
    "X-Amzn-Bedrock-Service-Tier": re.compile(r"[a-z]{1,16}"),
    "X-Amzn-Bedrock-ProjectIdentifier": re.compile(r"[A-Za-z0-9][A-Za-z0-9:/._-]{0,255}"),
}
# Accept: one media type ("application/json", "*/*").
_MEDIA_TYPE = re.compile(r"[a-z*][a-z0-9.+*-]{0,63}/[a-z*][a-z0-9.+*-]{0,127}")
_ACCEPT_HEADER = {"invoke": "Accept", "invoke-with-response-stream": "X-Amzn-Bedrock-Accept"}
# What botocore reads from an answer: the request id (ResponseMetadata), the error code, its retry
# advice, and the operation's output headers (all X-Amzn-Bedrock-*: content type, latency mode,
# service tier; the token counts and latency InvokeModel reports).
BEDROCK_RESPONSE_HEADERS = CONTENT_HEADERS.extended(
    names=("x-amzn-requestid", "x-amzn-errortype", "x-amz-retry-after", "retry-after"),
    prefixes=("x-amzn-bedrock-",),
)
_METADATA_HEADER = "X-Amzn-Bedrock-Request-Metadata"


class BedrockExchange(ProviderExchange):
    response_allowlist = BEDROCK_RESPONSE_HEADERS

    def __init__(
        self, adapter: BedrockAdapter, incoming: IncomingRequest, operation: str, encoded_model: str
    ) -> None:
        self._adapter = adapter
        self._incoming = incoming
        self.operation = operation
        self.scanned = operation != "passthrough"
        self.streamed = operation in _STREAMED
        self._encoded_model = encoded_model
        self._model = unquote(encoded_model)
        self._family = model_family(self._model) if operation.startswith("invoke") else None
        self._body: dict[str, Any] | None = None
        self._raw = b""
        self._metadata: dict[str, Any] | None = None

    def authenticate(self, body: bytes) -> str:
        incoming = self._incoming
        apps: list[str] = []

        def secret_for(access_key_id: str) -> str | None:
            entry = self._adapter.keys.aws_secret(access_key_id)
            if entry is None:
                return None
            apps.append(entry[0])
            return entry[1]

        try:
            caller = verify_request(
                incoming.method, incoming.raw_path, incoming.headers, body, secret_for, now=datetime.now(UTC)
            )
        except SigV4Error as exc:
            log.info("bedrock caller refused: %s (%s)", exc.code, exc.reason)
            raise ProxyError(403, _SIGNATURE_CODES.get(exc.code, "invalid_signature"), exc.message) from None
        if CUSTOMER_HEADER in incoming.headers and CUSTOMER_HEADER.lower() not in caller.signed_headers:
            # An unsigned customer id could be swapped on the way; boto3 signs it when it is set
            # in a before-sign hook.
            raise ProxyError(
                403,
                "incomplete_signature",
                f"{CUSTOMER_HEADER} must be a signed header: set it in a before-sign event hook",
            )
        return apps[-1]

    def parse(self, body: bytes) -> None:
        self._raw = body
        if self.operation == "passthrough":
            return
        self._model = check_model(self._model, "the model id in the path")
        if not self.operation.startswith("invoke") or self._family is not None:
            self._body = _parse_object(body)
        metadata = self._incoming.headers.get(_METADATA_HEADER)
        if metadata is not None and self.operation.startswith("invoke"):
            try:
                parsed = orjson.loads(metadata)
            except orjson.JSONDecodeError:
                parsed = None
            if not isinstance(parsed, dict):
                raise bad_request(f"{_METADATA_HEADER} must be a JSON object")
            self._metadata = parsed

    @property
    def target(self) -> ProviderTarget:
        model = "" if self.operation == "passthrough" else self._model
        return ProviderTarget(
            self._adapter.name, self.operation, model, self._adapter.region, carries_data=bool(self._raw)
        )

    def collect(self, slots: TextSlots) -> None:
        if self.operation.startswith("converse"):
            assert self._body is not None
            collect_converse(self._body, slots)
        elif self._body is not None and self._family is not None:
            collect_invoke(self._family, self._body, slots)
        elif self._raw:
            slots.add_unscannable("InvokeModel body of an unrecognised model family")
        if self._metadata is not None:
            # Keys scanned, values pseudonymised: the same as `requestMetadata` in a body.
            collect(REQUEST_METADATA, self._metadata, slots)

    def upstream_request(self, pseudonym: Pseudonymiser | None = None) -> UpstreamRequest:
        # Bedrock takes no identifier header but the request metadata, pseudonymised with the body.
        adapter = self._adapter
        incoming = self._incoming.headers
        headers: dict[str, str] = {}
        if self.operation == "passthrough":
            # An allowed extra path (unscanned by the operator's choice) keeps its query, in the
            # encoding SigV4 signs; the four model operations take none.
            url = adapter.base_url + self._incoming.subpath
            query = encode_query(self._incoming.query.items())
            if query:
                url += "?" + query
        else:
            url = f"{adapter.base_url}/model/{self._encoded_model}/{self.operation}"
        if self.operation in _ACCEPT_HEADER:
            checks = {**_PARAMETER_HEADERS, _ACCEPT_HEADER[self.operation]: _MEDIA_TYPE}
            for name, allowed in checks.items():
                value = incoming.get(name)
                if value is None:
                    continue
                if not allowed.fullmatch(value):
                    raise bad_request(f"{name} has a value this operation does not take")
                headers[name] = value
            if self._metadata is not None:
                headers[_METADATA_HEADER] = orjson.dumps(self._metadata).decode()
        if self._body is not None:
            body = orjson.dumps(self._body)
            headers["Content-Type"] = "application/json"
        else:
            body = self._raw
            if "Content-Type" in incoming:
                headers["Content-Type"] = incoming["Content-Type"]
        signed = sign_request(
            self._incoming.method, url, headers, body, adapter.signing_credentials(), adapter.region
        )
        # encoded=True: the path must go out exactly as signed (%3A stays %3A).
        return UpstreamRequest(self._incoming.method, URL(url, encoded=True), signed, body or None)

    def response_transformer(
        self,
        status: int,
        headers: Mapping[str, str],
        restorer: Restorer,
        *,
        max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES,
    ) -> ResponseTransformer:
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        if not 200 <= status < 300:
            return PassThrough(streaming=False)
        if content_type.startswith(EVENTSTREAM):
            handler: FrameHandler = _CheckedFrames()
            if restorer.active and self.operation == "converse-stream":
                handler = _EventFrames(restorer)
            elif restorer.active:
                handler = _ChunkFrames(chunk_handler(self._family, restorer))
            return EventStreamAnswer(handler, max_event_bytes=max_event_bytes)
        if restorer.active and self.operation != "passthrough":
            return JsonAnswer(restorer, JSON_TEXT_KEYS)
        return PassThrough(streaming=False)


def _configured_credentials(config: ProviderConfig) -> Credentials | None:
    """The proxy's own AWS credentials if the configuration names them."""
    env, extra = config.env, config.extra

    def setting(name: str) -> str:
        return str(env.get(f"CONSENTRY_BEDROCK_{name.upper()}") or extra.get(name) or "")

    key, secret = setting("aws_access_key_id"), setting("aws_secret_access_key")
    if key or secret:
        if not (key and secret):
            raise ConfigError("providers.bedrock.aws_access_key_id and aws_secret_access_key go together")
        return Credentials(key, secret, setting("aws_session_token") or None)
    return None


class BedrockAdapter(ProviderAdapter):
    # How long to wait before asking botocore's credential chain again after it found nothing.
    CHAIN_RETRY_S = 30.0

    def __init__(self, config: ProviderConfig, keys: KeyRing) -> None:
        super().__init__(config, keys)
        if config.auth_mode != "managed":
            # Masking changes the body, so only the proxy's own signature can be valid upstream.
            raise ConfigError("providers.bedrock.auth_mode must be 'managed'")
        self.region = str(
            config.env.get("CONSENTRY_BEDROCK_REGION")
            or config.extra.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        default_url = f"https://bedrock-runtime.{self.region}.amazonaws.com"
        self.base_url = (config.base_url or default_url).rstrip("/")
        self._credentials = _configured_credentials(config)
        self._next_chain_lookup = 0.0

    def _from_chain(self) -> Credentials | None:
        """botocore's standard chain: environment, shared profile, container or instance role.

        Asked on the first Bedrock request rather than at start-up, so that a proxy which never
        talks to Bedrock never probes the instance metadata service. The lookup blocks once (it
        is quick where a role exists); refreshable credentials then renew themselves.
        """
        if time.monotonic() < self._next_chain_lookup:
            return None
        try:
            found = botocore.session.get_session().get_credentials()
        except BotoCoreError as exc:
            log.error("looking up AWS credentials failed (%s)", type(exc).__name__)
            found = None
        if found is None:
            self._next_chain_lookup = time.monotonic() + self.CHAIN_RETRY_S
            log.warning("no AWS credentials found: Bedrock requests are refused with 503")
        return found

    def signing_credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self._from_chain()
        if self._credentials is None:
            raise ProxyError(
                503, "upstream_credentials_missing", "the proxy has no AWS credentials for Bedrock"
            )
        try:
            # One consistent snapshot: a refresh between reading the key and the secret would
            # otherwise sign with half old, half new credentials.
            frozen = self._credentials.get_frozen_credentials()
        except BotoCoreError:
            log.error("refreshing the proxy's AWS credentials failed")
            raise ProxyError(
                503, "upstream_credentials_missing", "the proxy's AWS credentials could not be refreshed"
            ) from None
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def open(self, incoming: IncomingRequest) -> ProviderExchange:
        # Model ARNs travel with their slashes encoded (%2F): data to Bedrock, not separators.
        check_path(
            incoming.subpath, "Bedrock requests go to /bedrock/model/{modelId}/...", encoded_slashes=True
        )
        match = _MODEL_PATH.match(incoming.subpath)
        if match is not None and incoming.method == "POST":
            return BedrockExchange(self, incoming, match["op"], match["model"])
        subpath = incoming.subpath
        if allowed_extra(subpath.removeprefix("/"), self.config.allow_paths):
            return BedrockExchange(self, incoming, "passthrough", "")
        raise not_found(
            f"Consentry does not forward {incoming.method} {incoming.subpath[:80]}"
            " (not allowed by configuration)"
        )

    def error_reply(self, error: ProxyError) -> ErrorReply:
        return bedrock_error_reply(error)
