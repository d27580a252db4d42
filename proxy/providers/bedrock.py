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
from collections.abc import Callable, Mapping
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
from proxy.codecs.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    encode_event,
    encode_exception,
)
from proxy.config import ConfigError, ProviderConfig
from proxy.errors import ProxyError, bad_request, not_found
from proxy.identity import CUSTOMER_HEADER
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
    JsonAnswer,
    add_identifier,
    add_text,
    allowed_extra,
    check_path,
    encode_query,
    parse_json_object,
    restore_json,
    scan_field,
    scan_other_fields,
)
from proxy.restore import Restorer, StreamKey, StreamRestorers
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
    headers = {"x-amzn-ErrorType": error_type}
    reason = error.details.get("reason")
    if isinstance(reason, str):
        # boto3 keeps only `message` of a modelled error's body, but every response header.
        headers[REASON_HEADER] = reason
    return ErrorReply(status, orjson.dumps(body), headers)


def _stream_abort(reason: str, message: str) -> StreamAbort:
    # An exception frame of a type both stream unions model, so boto3 raises EventStreamError.
    tail = encode_exception("modelStreamErrorException", orjson.dumps({"message": message}))
    return StreamAbort(reason, tail)


# ---------------------------------------------------------------- model ids and families

# A model id in the path as boto3 encodes it (unreserved characters and %XX escapes).
_MODEL_SEGMENT = r"(?:[A-Za-z0-9._~:-]|%[0-9A-Fa-f]{2})+"
_MODEL_PATH = re.compile(
    rf"^/model/(?P<model>{_MODEL_SEGMENT})/"
    r"(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)$"
)
_STREAMED = frozenset({"converse-stream", "invoke-with-response-stream"})
_GEOGRAPHY = re.compile(r"^[a-z]{2,6}(?:-[a-z]+)?$")

_FAMILIES: tuple[tuple[str, str], ...] = (
    ("anthropic.", "anthropic"),
    ("amazon.nova-", "nova"),
    ("amazon.titan-text", "titan"),
    ("amazon.titan-tg1", "titan"),
    ("amazon.titan-embed-text", "titan-embed"),
    ("amazon.titan-embed-g1-text", "titan-embed"),
    ("meta.llama", "llama"),
    ("mistral.", "mistral"),
    ("cohere.command", "cohere"),
    ("cohere.embed", "cohere-embed"),
)
_VENDORS = frozenset(prefix.split(".", 1)[0] for prefix, _ in _FAMILIES)


def model_family(model_id: str) -> str | None:
    """The InvokeModel body format of a model id, inference-profile id or ARN; None if unknown.

    An ARN is read by its last segment; an application inference profile or a provisioned or
    custom model ARN names no family, so its bodies count as unscannable.
    """
    name = model_id.rsplit("/", 1)[-1].lower()
    head, _, rest = name.partition(".")
    if rest and head not in _VENDORS and _GEOGRAPHY.match(head):
        name = rest  # a cross-region inference profile: "eu.", "us-gov.", "global." ...
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return None


# ---------------------------------------------------------------- where text lives in requests


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'{what}' must be a list")
    return value


def _block_object(value: Any, what: str) -> dict[str, Any]:
    # A block member of the wrong shape could only be forwarded unread.
    if not isinstance(value, dict):
        raise bad_request(f"'{what}' must be an object")
    return value


def _text_list(slots: TextSlots, items: Any, what: str) -> None:
    """A list of `{"text": ...}` items (search results, cited content)."""
    for item in _as_list(items, what):
        add_text(slots, _block_object(item, f"{what}[]"), "text", f"{what}[].text")
        scan_other_fields(slots, item, ("text", "type"))


_SEARCH_RESULT_FIELDS = frozenset({"type", "source", "title", "content", "citations", "cache_control"})


def _search_result(slots: TextSlots, block: dict[str, Any]) -> None:
    for key in ("source", "title"):
        add_text(slots, block, key, f"searchResult '{key}'")
    _text_list(slots, block.get("content"), "searchResult.content")
    scan_other_fields(slots, block, _SEARCH_RESULT_FIELDS)


# Converse (and Amazon Nova's InvokeModel messages, which use the same blocks).

_CONVERSE_MEDIA = frozenset({"image", "document", "video", "audio"})
# Blocks that carry no user text: prompt-cache markers, tool availability changes.
_CONVERSE_SILENT = frozenset({"cachePoint", "toolAddition", "toolRemoval"})


def _converse_tool_result(slots: TextSlots, item: Any) -> None:
    if not isinstance(item, dict):
        raise bad_request("each toolResult content item must be an object")
    for key, value in item.items():
        if key == "text":
            add_text(slots, item, "text", "a toolResult item's 'text'", required=True)
        elif key == "json":
            scan_field(slots, item, "json")
        elif key == "searchResult" and isinstance(value, dict):
            _search_result(slots, value)
        else:
            slots.add_unscannable(key if key in _CONVERSE_MEDIA else "unknown tool result content")


def _converse_block(slots: TextSlots, block: Any) -> None:
    if not isinstance(block, dict):
        raise bad_request("each content block must be an object")
    for key, value in block.items():
        if key == "text":
            add_text(slots, block, "text", "a content block's 'text'", required=True)
        elif key in _CONVERSE_MEDIA:
            slots.add_unscannable(key)
        elif key == "toolUse":
            # `input` may be any JSON value: scanned with every other field but the tool's ids.
            scan_other_fields(slots, _block_object(value, key), ("toolUseId", "name", "type"))
        elif key == "toolResult":
            result = _block_object(value, key)
            for item in _as_list(result.get("content"), "toolResult.content"):
                _converse_tool_result(slots, item)
            scan_other_fields(slots, result, ("toolUseId", "content", "status", "type"))
        elif key == "guardContent":
            guarded = _block_object(value, key)
            if guarded.get("text") is not None:
                text = _block_object(guarded["text"], "guardContent.text")
                add_text(slots, text, "text", "guardContent 'text'", required=True)
                scan_other_fields(slots, text, ("text", "qualifiers"))
            if "image" in guarded:
                slots.add_unscannable("image")
            scan_other_fields(slots, guarded, ("text", "image"))
        elif key == "reasoningContent":
            # redactedContent is the model's own encrypted reasoning: opaque to everyone.
            reasoning = _block_object(value, key)
            text = reasoning.get("reasoningText")
            if text is not None:
                text = _block_object(text, "reasoningContent.reasoningText")
                add_text(slots, text, "text", "reasoningText 'text'")
                scan_other_fields(slots, text, ("text", "signature"))
            scan_other_fields(slots, reasoning, ("reasoningText", "redactedContent"))
        elif key == "citationsContent":
            # The citations (sources, titles, quoted spans) are scanned whole.
            cited = _block_object(value, key)
            _text_list(slots, cited.get("content"), "citationsContent.content")
            scan_other_fields(slots, cited, ("content",))
        elif key == "searchResult":
            _search_result(slots, _block_object(value, key))
        elif key not in _CONVERSE_SILENT:
            slots.add_unscannable("unknown content block")


def _converse_messages(slots: TextSlots, body: dict[str, Any]) -> None:
    for message in _as_list(body.get("messages"), "messages"):
        if not isinstance(message, dict):
            raise bad_request("each message must be an object")
        for block in _as_list(message.get("content"), "content"):
            _converse_block(slots, block)
        scan_other_fields(slots, message, ("role", "content"))
    for block in _as_list(body.get("system"), "system"):
        if not isinstance(block, dict):
            raise bad_request("each system block must be an object")
        _converse_block(slots, block)


_CONVERSE_KNOWN = frozenset(
    {
        "messages",
        "system",
        "promptVariables",
        "requestMetadata",
        # Parameters, not user text. additionalModelRequestFields holds model settings such as
        # beta flag names with dates in them, which masking would break.
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
        "projectIdentifier",
    }
)


def _converse(body: dict[str, Any], slots: TextSlots) -> None:
    _converse_messages(slots, body)
    variables = body.get("promptVariables")
    if variables is not None:
        for value in _block_object(variables, "promptVariables").values():
            variable = _block_object(value, "promptVariables values")
            add_text(slots, variable, "text", "a prompt variable's 'text'")
            scan_other_fields(slots, variable, ("text",))
    metadata = body.get("requestMetadata")
    if metadata is not None:
        for key in _block_object(metadata, "requestMetadata"):
            add_identifier(slots, metadata, key, "requestMetadata values")
    scan_other_fields(slots, body, _CONVERSE_KNOWN)


# InvokeModel bodies, one collector per family. Each refuses (as unscannable) a body without the
# fields its family's text lives in: a different API behind the same model-id prefix (an image
# model, say) must not pass as "no text found".


def _anthropic_block(slots: TextSlots, block: Any) -> None:
    if not isinstance(block, dict):
        raise bad_request("each content block must be an object")
    btype = block.get("type")
    if btype == "text":
        add_text(slots, block, "text", "a text block's 'text'", required=True)
        scan_other_fields(slots, block, ("type", "text", "cache_control"))  # citations too
    elif btype == "thinking":
        add_text(slots, block, "thinking", "a thinking block's 'thinking'", required=True)
        scan_other_fields(slots, block, ("type", "thinking", "signature"))
    elif btype == "redacted_thinking":
        pass  # the model's own encrypted reasoning
    elif btype == "tool_use":
        scan_other_fields(slots, block, ("type", "id", "name", "cache_control"))  # input too
    elif btype == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            slots.add(block, "content")
        else:
            for inner in _as_list(content, "tool_result.content"):
                _anthropic_block(slots, inner)
        scan_other_fields(slots, block, ("type", "tool_use_id", "content", "is_error", "cache_control"))
    elif btype == "search_result":
        _search_result(slots, block)
    elif btype in ("image", "document"):
        slots.add_unscannable(str(btype))
    else:
        slots.add_unscannable("unknown content block")


def _anthropic_content(slots: TextSlots, holder: dict[str, Any], key: str) -> None:
    content = holder.get(key)
    if isinstance(content, str):
        slots.add(holder, key)
    else:
        for block in _as_list(content, key):
            _anthropic_block(slots, block)


_ANTHROPIC_KNOWN = frozenset(
    {
        "messages",
        "system",
        "prompt",
        "metadata",
        "anthropic_version",
        "anthropic_beta",
        "max_tokens",
        "max_tokens_to_sample",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "thinking",
    }
)


def _anthropic(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("messages"), list) and not isinstance(body.get("prompt"), str):
        slots.add_unscannable("unrecognised Anthropic body")
    for message in _as_list(body.get("messages"), "messages"):
        if not isinstance(message, dict):
            raise bad_request("each message must be an object")
        _anthropic_content(slots, message, "content")
        scan_other_fields(slots, message, ("role", "content"))
    _anthropic_content(slots, body, "system")
    if "prompt" in body:  # the legacy text-completions format
        scan_field(slots, body, "prompt")
    metadata = body.get("metadata")
    if metadata is not None:
        add_identifier(slots, _block_object(metadata, "metadata"), "user_id", "metadata.user_id")
        scan_other_fields(slots, metadata, frozenset({"user_id"}))
    scan_other_fields(slots, body, _ANTHROPIC_KNOWN)


_NOVA_KNOWN = frozenset({"messages", "system", "schemaVersion", "inferenceConfig", "toolConfig"})


def _nova(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("messages"), list):
        slots.add_unscannable("unrecognised Amazon Nova body")
    _converse_messages(slots, body)
    scan_other_fields(slots, body, _NOVA_KNOWN)


def _single_text(
    field: str, label: str, known: frozenset[str]
) -> Callable[[dict[str, Any], TextSlots], None]:
    """A family whose whole prompt is one string field."""

    def collect(body: dict[str, Any], slots: TextSlots) -> None:
        if isinstance(body.get(field), str):
            slots.add(body, field)
        else:
            slots.add_unscannable(f"unrecognised {label} body")
        if "images" in body:
            slots.add_unscannable("image")
        scan_other_fields(slots, body, known | {"images"})

    return collect


_TITAN_KNOWN = frozenset({"inputText", "textGenerationConfig"})
_TITAN_EMBED_KNOWN = frozenset({"inputText", "dimensions", "normalize", "embeddingTypes"})
_LLAMA_KNOWN = frozenset({"prompt", "temperature", "top_p", "max_gen_len"})

_MISTRAL_KNOWN = frozenset(
    {
        "prompt",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "random_seed",
        "safe_prompt",
    }
)


_MISTRAL_MESSAGE_FIELDS = frozenset({"role", "content", "tool_calls", "tool_call_id", "name", "prefix"})


def _mistral_arguments(slots: TextSlots, function: dict[str, Any]) -> None:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        slots.add_json_string(function, "arguments")  # JSON text
    else:
        slots.add_strings_in(arguments)  # also taken as a JSON object


def _mistral(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("prompt"), str) and not isinstance(body.get("messages"), list):
        slots.add_unscannable("unrecognised Mistral body")
    if "prompt" in body:
        scan_field(slots, body, "prompt")
    for message in _as_list(body.get("messages"), "messages"):
        if not isinstance(message, dict):
            raise bad_request("each message must be an object")
        content = message.get("content")
        if isinstance(content, str):
            slots.add(message, "content")
        else:
            for part in _as_list(content, "content"):
                if isinstance(part, dict) and part.get("type") == "text":
                    add_text(slots, part, "text", "a text part's 'text'", required=True)
                    scan_other_fields(slots, part, ("type", "text"))
                else:
                    slots.add_unscannable("image" if isinstance(part, dict) else "unknown content part")
        for call in _as_list(message.get("tool_calls"), "tool_calls"):
            call = _block_object(call, "tool_calls[]")
            function = call.get("function")
            if function is not None:
                function = _block_object(function, "tool_calls[].function")
                _mistral_arguments(slots, function)
                scan_other_fields(slots, function, ("name", "arguments"))
            scan_other_fields(slots, call, ("id", "type", "index", "function"))
        scan_other_fields(slots, message, _MISTRAL_MESSAGE_FIELDS)
    scan_other_fields(slots, body, _MISTRAL_KNOWN)


_COHERE_KNOWN = frozenset(
    {
        "message",
        "prompt",
        "preamble",
        "chat_history",
        "documents",
        "tool_results",
        "search_queries_only",
        "max_tokens",
        "temperature",
        "p",
        "k",
        "prompt_truncation",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "return_prompt",
        "tools",
        "stop_sequences",
        "raw_prompting",
        "force_single_step",
        "return_likelihoods",
        "stream",
        "num_generations",
        "logit_bias",
        "truncate",
    }
)


def _cohere(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("message"), str) and not isinstance(body.get("prompt"), str):
        slots.add_unscannable("unrecognised Cohere body")
    for key in ("message", "prompt", "preamble"):
        if key in body:
            scan_field(slots, body, key)
    # Past turns, grounding documents and tool outputs: every string value in them.
    for key in ("chat_history", "documents", "tool_results"):
        if key in body:
            slots.add_strings_in(_as_list(body[key], key))
    scan_other_fields(slots, body, _COHERE_KNOWN)


_COHERE_EMBED_KNOWN = frozenset({"texts", "images", "input_type", "truncate", "embedding_types"})


def _cohere_embed(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("texts"), list) and "images" not in body:
        slots.add_unscannable("unrecognised Cohere Embed body")
    texts = _as_list(body.get("texts"), "texts")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise bad_request("'texts' must be a list of strings")
        slots.add(texts, index)
    if body.get("images"):
        slots.add_unscannable("image")
    scan_other_fields(slots, body, _COHERE_EMBED_KNOWN)


_INVOKE_COLLECTORS: dict[str, Callable[[dict[str, Any], TextSlots], None]] = {
    "anthropic": _anthropic,
    "nova": _nova,
    "titan": _single_text("inputText", "Amazon Titan", _TITAN_KNOWN),
    "titan-embed": _single_text("inputText", "Amazon Titan Embeddings", _TITAN_EMBED_KNOWN),
    "llama": _single_text("prompt", "Meta Llama", _LLAMA_KNOWN),
    "mistral": _mistral,
    "cohere": _cohere,
    "cohere-embed": _cohere_embed,
}


def _parse_object(raw: bytes) -> dict[str, Any]:
    # Bedrock's own wording for a body it cannot read, so callers see what Bedrock would say.
    return parse_json_object(
        raw,
        "Malformed input request: the body is not valid JSON",
        "Malformed input request: the body must be a JSON object",
    )


# ---------------------------------------------------------------- restoring answers

# `arguments` strings are JSON text (Mistral tool calls).
JSON_TEXT_KEYS = frozenset({"arguments"})


def _index(value: Any, default: int = 0) -> int:
    """A stream position from the answer (an int), or `default`: a stream key must be hashable."""
    return value if isinstance(value, int) else default


def _restored_or_none(value: dict[str, Any], restorer: Restorer) -> dict[str, Any] | None:
    restored = restore_json(value, restorer, JSON_TEXT_KEYS)
    return None if restored == value else restored


# A handler turns one event into (extra events to send first, the event rewritten or None when
# it is to be relayed untouched). Extra events carry text held back until its block ended.
Rewrite = tuple[list[tuple[str, dict[str, Any]]], dict[str, Any] | None]

_CONVERSE_EVENTS = frozenset(
    {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
)


class ConverseEvents:
    """ConverseStream events (also the chunks of Amazon Nova's InvokeModel streams)."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    def on_event(self, event_type: str, event: dict[str, Any]) -> Rewrite:
        if event_type == "contentBlockDelta":
            return [], self._delta(event)
        if event_type == "contentBlockStop":
            index = _index(event.get("contentBlockIndex"))
            return self._leftovers(lambda key: key[0] == index), _restored_or_none(event, self._restorer)
        if event_type == "messageStop":
            return self._leftovers(), _restored_or_none(event, self._restorer)
        return [], _restored_or_none(event, self._restorer)

    def _delta(self, event: dict[str, Any]) -> dict[str, Any] | None:
        index = _index(event.get("contentBlockIndex"))
        delta = event.get("delta")
        if not isinstance(delta, dict):
            return None
        changed = False
        for kind, value in list(delta.items()):
            if kind == "text" and isinstance(value, str):
                changed |= self._streams.feed_into(delta, kind, (index, kind))
            elif kind == "toolUse" and isinstance(value, dict) and isinstance(value.get("input"), str):
                changed |= self._streams.feed_into(value, "input", (index, kind), json_text=True)
            elif (
                kind == "reasoningContent" and isinstance(value, dict) and isinstance(value.get("text"), str)
            ):
                changed |= self._streams.feed_into(value, "text", (index, kind))
            else:  # citations, tool results of server-side tools: small and whole
                restored = restore_json(value, self._restorer, JSON_TEXT_KEYS)
                if restored != value:
                    delta[kind], changed = restored, True
        # An unchanged event goes out as the very bytes that came in.
        return event if changed else None

    def _leftovers(
        self, match: Callable[[StreamKey], bool] = lambda _: True
    ) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for (index, kind), text in self._streams.flush(match):
            if kind == "text":
                delta: dict[str, Any] = {"text": text}
            elif kind == "toolUse":
                delta = {"toolUse": {"input": text}}
            else:
                delta = {"reasoningContent": {"text": text}}
            out.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        return out

    def finish(self) -> list[tuple[str, dict[str, Any]]]:
        return self._leftovers()


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


# InvokeModelWithResponseStream: each `chunk` event carries the model's own JSON, base64'd.
ChunkRewrite = tuple[list[dict[str, Any]], dict[str, Any] | None]


class _AnthropicChunks:
    _FIELDS = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        ctype = chunk.get("type")
        index = _index(chunk.get("index"))
        if ctype == "content_block_delta" and isinstance(chunk.get("delta"), dict):
            delta = chunk["delta"]
            dtype = delta.get("type")
            field = self._FIELDS.get(dtype) if isinstance(dtype, str) else None
            if field is not None and isinstance(delta.get(field), str):
                key = (index, delta["type"])
                changed = self._streams.feed_into(delta, field, key, json_text=field == "partial_json")
                return [], chunk if changed else None
        if ctype == "content_block_stop":
            return self._leftovers(lambda key: key[0] == index), None
        if ctype in ("message_delta", "message_stop"):
            return self._leftovers(), _restored_or_none(chunk, self._restorer)
        return [], _restored_or_none(chunk, self._restorer)

    def _leftovers(self, match: Callable[[StreamKey], bool] = lambda _: True) -> list[dict[str, Any]]:
        return [
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": dtype, self._FIELDS[dtype]: text},
            }
            for (index, dtype), text in self._streams.flush(match)
        ]

    def finish(self) -> list[dict[str, Any]]:
        return self._leftovers()


class _NovaChunks:
    """Nova chunks are ConverseStream events wrapped in an object named by the event type."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._events = ConverseEvents(restorer)

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        name = next((k for k in chunk if k in _CONVERSE_EVENTS and isinstance(chunk[k], dict)), None)
        if name is None:
            return [], _restored_or_none(chunk, self._restorer)
        before, rewritten = self._events.on_event(name, chunk[name])
        extra = [{event_type: event} for event_type, event in before]
        return extra, None if rewritten is None else {**chunk, name: rewritten}

    def finish(self) -> list[dict[str, Any]]:
        return [{event_type: event} for event_type, event in self._events.finish()]


class _FlatChunks:
    """Families whose chunks carry one text field and say in the same chunk that it was the last.

    Titan (`outputText`, `completionReason`), Llama (`generation`, `stop_reason`), Mistral
    (`outputs[]` or `choices[]` with `stop_reason`/`finish_reason`) and Cohere (`text` of
    `text-generation` events, then a `stream-end` event with the whole response).
    """

    def __init__(self, family: str, restorer: Restorer) -> None:
        self._family = family
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    def _text(self, holder: dict[str, Any], field: str, key: StreamKey, last: bool) -> bool:
        """Restore holder[field]; on the stream's last chunk append what was held back."""
        changed = isinstance(holder.get(field), str) and self._streams.feed_into(holder, field, key)
        if last:
            rest = self._streams.flush_one(key)
            if rest:
                holder[field] = (holder.get(field) or "") + rest
                changed = True
        return changed

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        family = self._family
        if family == "titan" and "outputText" in chunk:
            key = ("outputText", _index(chunk.get("index")))
            changed = self._text(chunk, "outputText", key, chunk.get("completionReason") is not None)
            return [], chunk if changed else None
        if family == "llama" and "generation" in chunk:
            changed = self._text(chunk, "generation", ("generation",), chunk.get("stop_reason") is not None)
            return [], chunk if changed else None
        if family == "mistral" and isinstance(chunk.get("outputs") or chunk.get("choices"), list):
            changed = False
            for position, item in enumerate(chunk.get("outputs") or chunk.get("choices")):
                if not isinstance(item, dict):
                    continue
                last = item.get("stop_reason") is not None or item.get("finish_reason") is not None
                index = _index(item.get("index"), position)
                if "text" in item:
                    changed |= self._text(item, "text", ("text", index), last)
                for part in ("message", "delta"):
                    if isinstance(item.get(part), dict):
                        changed |= self._text(item[part], "content", ("content", index), last)
            return [], chunk if changed else None
        if family == "cohere":
            generating = chunk.get("event_type", "text-generation") == "text-generation"
            if generating and not chunk.get("is_finished") and isinstance(chunk.get("text"), str):
                return [], chunk if self._text(chunk, "text", ("text",), False) else None
            if chunk.get("is_finished") or chunk.get("event_type") == "stream-end":
                return self.finish(), _restored_or_none(chunk, self._restorer)
        return [], _restored_or_none(chunk, self._restorer)

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key, text in self._streams.flush():
            if self._family == "titan":
                out.append({"outputText": text, "index": key[1]})
            elif self._family == "llama":
                out.append({"generation": text})
            elif self._family == "mistral":
                if key[0] == "text":
                    out.append({"outputs": [{"text": text}]})
                else:
                    out.append({"choices": [{"index": key[1], "message": {"content": text}}]})
            else:
                out.append({"is_finished": False, "event_type": "text-generation", "text": text})
        return out


class _WholeChunks:
    """A family without streamed text fields (embeddings): restore each chunk whole."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        return [], _restored_or_none(chunk, self._restorer)

    def finish(self) -> list[dict[str, Any]]:
        return []


ChunkHandler = _AnthropicChunks | _NovaChunks | _FlatChunks | _WholeChunks


def _chunk_handler(family: str | None, restorer: Restorer) -> ChunkHandler:
    if family == "anthropic":
        return _AnthropicChunks(restorer)
    if family == "nova":
        return _NovaChunks(restorer)
    if family in ("titan", "llama", "mistral", "cohere"):
        return _FlatChunks(family, restorer)
    return _WholeChunks(restorer)


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

    def __init__(self, handler: FrameHandler) -> None:
        self._decoder = EventStreamDecoder()
        self._handler = handler

    def feed(self, chunk: bytes) -> bytes:
        try:
            messages = self._decoder.feed(chunk)
        except EventStreamError:
            raise _stream_abort(
                "upstream_corrupt_stream",
                "The provider sent a corrupt event stream; the answer is incomplete.",
            ) from None
        return b"".join(self._handler.on_message(m) for m in messages)

    def finish(self) -> bytes:
        try:
            self._decoder.close()
        except EventStreamError:
            raise _stream_abort(
                "upstream_cut", "The provider's event stream ended inside a frame; the answer is incomplete."
            ) from None
        return self._handler.finish()


# ---------------------------------------------------------------- the adapter

# Operation parameters boto3 sends as headers (botocore's bedrock-runtime model); the proxy sends
# them on and signs them. Everything else the caller sent stays here.
_PARAMETER_HEADERS = (
    "X-Amzn-Bedrock-Trace",
    "X-Amzn-Bedrock-GuardrailIdentifier",
    "X-Amzn-Bedrock-GuardrailVersion",
    "X-Amzn-Bedrock-PerformanceConfig-Latency",
    "X-Amzn-Bedrock-Service-Tier",
    "X-Amzn-Bedrock-ProjectIdentifier",
)
_ACCEPT_HEADER = {"invoke": "Accept", "invoke-with-response-stream": "X-Amzn-Bedrock-Accept"}
_METADATA_HEADER = "X-Amzn-Bedrock-Request-Metadata"


class BedrockExchange(ProviderExchange):
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
        return ProviderTarget("bedrock", self.operation, model, self._adapter.region)

    def collect(self, slots: TextSlots) -> None:
        if self.operation.startswith("converse"):
            assert self._body is not None
            _converse(self._body, slots)
        elif self._body is not None and self._family is not None:
            _INVOKE_COLLECTORS[self._family](self._body, slots)
        elif self._raw:
            slots.add_unscannable("InvokeModel body of an unrecognised model family")
        if self._metadata is not None:
            for key in self._metadata:
                slots.add_identifier(self._metadata, key)

    def upstream_request(self) -> UpstreamRequest:
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
            for name in (*_PARAMETER_HEADERS, _ACCEPT_HEADER[self.operation]):
                if name in incoming:
                    headers[name] = incoming[name]
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
        self, status: int, headers: Mapping[str, str], restorer: Restorer
    ) -> ResponseTransformer:
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        if not 200 <= status < 300:
            return PassThrough(streaming=False)
        if content_type.startswith(EVENTSTREAM):
            if not restorer.active:
                return EventStreamAnswer(_CheckedFrames())
            if self.operation == "converse-stream":
                return EventStreamAnswer(_EventFrames(restorer))
            return EventStreamAnswer(_ChunkFrames(_chunk_handler(self._family, restorer)))
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
    name = "bedrock"
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
