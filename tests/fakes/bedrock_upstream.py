"""A fake AWS Bedrock runtime that checks SigV4 and echoes prompts back.

Answers are "Echo: " + the text of the last user message, so a test can send a
masked prompt through the proxy and see the placeholders come back. Streams are
cut into `chunk_size`-character deltas, each its own event stream frame written
separately, so a placeholder such as `<PERSON_1>` straddles frames the way real
token streams split it.

Every request must carry a valid SigV4 signature for `access_key`/`secret_key`
(service `bedrock`, scope region `region`); otherwise 403 with
`x-amzn-ErrorType` set, which boto3 turns into a ClientError with that code.
The fake is the judge of the proxy's re-signing and of its event-stream
re-encoding, so it shares no code with the proxy: it recomputes signatures
with botocore's SigV4Auth over the raw path and query as received, and writes
its frames with its own small encoder. A bug in the proxy's verifier or codec
therefore cannot cancel out against the same bug here.

Routes: `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke`,
`/invoke-with-response-stream`. The model id arrives percent-encoded
(`...-v1%3A0`, ARNs with `%2F`); it is decoded from the raw path, because a
decoded `%2F` would split the route segment.

InvokeModel bodies are in the model family's own format, chosen by model id
(an inference-profile prefix such as `eu.` or an ARN is looked through):
`anthropic.` messages API, `amazon.nova` messages, `amazon.titan-text`
(`inputText`), `meta.llama` (`prompt`), `mistral.` (`prompt`), `cohere.command`
(`message`, Command R; legacy Command `prompt` too). Prompt-string families echo
the whole prompt string, template tokens included.

Fault behaviour, chosen by a marker anywhere in the model id:

- ``error-throttle``: 429 ``ThrottlingException``.
- ``corrupt-stream``: streaming routes; the second frame's message CRC is wrong.
- ``error-midstream``: streaming routes; after the first delta an exception
  frame (``:exception-type: modelStreamErrorException``) ends the stream.
- ``split-frames``: streaming routes; every frame is written in two halves, so
  a reader's buffer boundaries fall inside frames.

Misbehaving upstreams, for the proxy's answer limits (streaming routes):

- ``stall-midstream``: everything up to the first delta, then silence with the
  connection open until the client hangs up (noted in ``recorder.disconnects``)
  or 30 s pass.
- ``huge-frame``: the first delta carries ``huge_bytes`` characters of text, its
  frame written in 64 KiB pieces (within the event-stream limit of 16 MiB).
- ``huge-json``: InvokeModel answers with ``huge_bytes`` characters of text.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDictProxy

from tests.fakes.server import Recorder, wait_for_disconnect

__all__ = [
    "FAULT_MARKERS",
    "check_signature",
    "echo_text",
    "encode_event",
    "encode_exception",
    "make_bedrock_app",
    "model_family",
]

FAULT_MARKERS = frozenset(
    {
        "error-throttle",
        "corrupt-stream",
        "error-midstream",
        "split-frames",
        "stall-midstream",
        "huge-frame",
        "huge-json",
    }
)
_HANG_SECONDS = 30.0
_PIECE = 64 * 1024

_ROUTE = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)$"
)
_EVENTSTREAM = "application/vnd.amazon.eventstream"
# Real Bedrock stream events carry a "p" field of filler characters so that
# frame sizes do not reveal token lengths; boto3 ignores it. Keep it so the
# proxy's stream rewriting is tested against unknown extra fields.
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_GEOGRAPHIES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"})


class _Refusal(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _error_response(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
    )


# ---------------------------------------------------------------- event-stream frames
#
# Layout (big-endian): total_length u32 | headers_length u32 | prelude CRC32 u32 |
# headers | payload | message CRC32 u32 over everything before it. Each header:
# name_length u8 | name | type u8 (7 = string) | value_length u16 | value.

_STRING_HEADER = 7


def _encode_header(name: str, value: str) -> bytes:
    # Bedrock only ever sends string-valued headers in these streams.
    name_bytes, value_bytes = name.encode(), value.encode()
    return (
        struct.pack("!B", len(name_bytes))
        + name_bytes
        + struct.pack("!BH", _STRING_HEADER, len(value_bytes))
        + value_bytes
    )


def _encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_encode_header(name, value) for name, value in headers.items())
    total = 4 + 4 + 4 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    before_crc = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return before_crc + struct.pack("!I", zlib.crc32(before_crc))


def encode_event(event_type: str, payload: bytes) -> bytes:
    """An `event` frame with the three headers boto3's Bedrock parsers read."""
    return _encode_frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def encode_exception(exception_type: str, payload: bytes) -> bytes:
    """An in-stream `exception` frame; boto3 raises EventStreamError with this code."""
    return _encode_frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        payload,
    )


# ---------------------------------------------------------------- SigV4


_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)"
    r"/(?P<service>[^/,\s]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;._-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_MAX_SKEW_S = 300


def check_signature(
    method: str,
    raw_path_and_query: str,
    headers: CIMultiDictProxy[str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    service: str = "bedrock",
) -> _Refusal | None:
    """None when the request is signed as AWS would accept it, else the refusal AWS would send."""
    authorizations = headers.getall("Authorization", [])
    if not authorizations:
        return _Refusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    parsed = _AUTHORIZATION.match(authorizations[0].strip()) if len(authorizations) == 1 else None
    amz_dates = headers.getall("X-Amz-Date", [])
    if parsed is None or len(amz_dates) != 1:
        return _Refusal(403, "IncompleteSignatureException", "Authorization header is malformed.")
    amz_date = amz_dates[0].strip()
    try:
        signed_at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return _Refusal(403, "IncompleteSignatureException", "X-Amz-Date is malformed.")
    if (parsed["date"], parsed["region"], parsed["service"]) != (amz_date[:8], region, service):
        return _Refusal(403, "InvalidSignatureException", "Credential should be scoped correctly.")
    skew = (now - signed_at).total_seconds()
    now_text = now.astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    if skew > _MAX_SKEW_S:
        # AWS's wording, which botocore's clock-skew handling recognises.
        return _Refusal(
            403,
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {now_text} - 5 min.",
        )
    if skew < -_MAX_SKEW_S:
        return _Refusal(
            403,
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {now_text} + 5 min.",
        )
    if parsed["key"] != access_key:
        return _Refusal(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    mismatch = _Refusal(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    )
    signed_names = parsed["signed"].split(";")
    if "host" not in signed_names or "x-amz-date" not in signed_names:
        # Otherwise the request could be replayed to another host, or later than signed.
        return _Refusal(403, "IncompleteSignatureException", "'Host' and 'X-Amz-Date' must be signed.")
    # Only the headers the caller listed go into the canonical request, with the values received.
    request = AWSRequest(method=method, url=f"http://{headers['Host']}{raw_path_and_query}", data=body)
    for name in signed_names:
        values = headers.getall(name, [])
        if not values:
            return mismatch
        for value in values:
            request.headers[name] = value  # HTTPHeaders appends repeats, botocore joins them with ","
    # botocore takes a sent payload hash at its word; AWS compares it with the body.
    claimed = request.headers.get("X-Amz-Content-SHA256")
    if claimed is not None and not hmac.compare_digest(claimed, hashlib.sha256(body).hexdigest()):
        return mismatch
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    # botocore leaves out headers it never signs (user-agent, ...); a caller that listed
    # one of them, or left out one it must list, signed another canonical request.
    if signer.signed_headers(signer.headers_to_sign(request)) != parsed["signed"]:
        return mismatch
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, parsed["signature"]):
        return mismatch
    return None


def echo_text(text: str) -> str:
    return "Echo: " + text


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _padded(event: dict[str, Any]) -> bytes:
    # Vary the padding length like the real service does.
    size = 1 + len(orjson.dumps(event)) % len(_PADDING)
    return orjson.dumps({**event, "p": _PADDING[:size]})


def model_family(model_id: str) -> str:
    """The InvokeModel body format for a model id, profile ARN or cross-region id."""
    name = model_id.rsplit("/", 1)[-1].lower()
    # Cross-region inference profiles prefix a geography: "eu.", "us.", "apac.", "global." ...
    geography, _, rest = name.partition(".")
    if geography in _GEOGRAPHIES:
        name = rest
    for prefix, family in (
        ("anthropic.", "anthropic"),
        ("amazon.nova", "nova"),
        ("amazon.titan-text", "titan"),
        ("meta.llama", "llama"),
        ("mistral.", "mistral"),
        ("cohere.command", "cohere"),
    ):
        if name.startswith(prefix):
            return family
    return "unknown"


# ---------------------------------------------------------------- request text


def _converse_last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Refusal(
            400, "ValidationException", "The model returned the following errors: messages is required"
        )
    for message in reversed(messages):
        if message.get("role") == "user":
            parts: list[str] = []
            for block in message.get("content") or []:
                if "text" in block:
                    parts.append(block["text"])
                elif "toolResult" in block:
                    for item in block["toolResult"].get("content") or []:
                        if "text" in item:
                            parts.append(item["text"])
                        elif "json" in item:
                            parts.append(orjson.dumps(item["json"]).decode())
            return "\n".join(parts)
    return ""


def _anthropic_last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        parts: list[str] = []
        for block in content or []:
            if block.get("type") == "text":
                parts.append(block.get("text", ""))
            elif block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    parts.append(inner)
                else:
                    parts.extend(b.get("text", "") for b in inner or [] if b.get("type") == "text")
        return "\n".join(parts)
    return ""


def _tool_use_id(text: str) -> str:
    # Deterministic, so tests can compare whole answers.
    return "tooluse_" + hashlib.sha256(text.encode()).hexdigest()[:22]


# ---------------------------------------------------------------- Converse


def _converse_tool_name(body: dict[str, Any]) -> str | None:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    for tool in tools:
        spec = tool.get("toolSpec")
        if spec and spec.get("name"):
            return str(spec["name"])
    return None


def _converse_answer(body: dict[str, Any]) -> dict[str, Any]:
    text = _converse_last_user_text(body)
    answer = echo_text(text)
    tool = _converse_tool_name(body)
    if tool is not None:
        content = [{"toolUse": {"toolUseId": _tool_use_id(text), "name": tool, "input": {"echo": text}}}]
        stop = "tool_use"
    else:
        content = [{"text": answer}]
        stop = "end_turn"
    usage = _tokens(text), _tokens(answer)
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
        "metrics": {"latencyMs": 12},
    }


def _converse_stream_events(body: dict[str, Any], chunk_size: int) -> Iterator[tuple[str, dict[str, Any]]]:
    text = _converse_last_user_text(body)
    answer = echo_text(text)
    tool = _converse_tool_name(body)
    yield "messageStart", {"role": "assistant"}
    if tool is not None:
        # Bedrock opens tool blocks with contentBlockStart (text blocks get none)
        # and streams the input as JSON text fragments.
        yield (
            "contentBlockStart",
            {
                "contentBlockIndex": 0,
                "start": {"toolUse": {"toolUseId": _tool_use_id(text), "name": tool}},
            },
        )
        for piece in _chunks(orjson.dumps({"echo": text}).decode(), chunk_size):
            yield "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}
        stop = "tool_use"
    else:
        for piece in _chunks(answer, chunk_size):
            yield "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}
        stop = "end_turn"
    yield "contentBlockStop", {"contentBlockIndex": 0}
    yield "messageStop", {"stopReason": stop}
    usage = _tokens(text), _tokens(answer)
    yield (
        "metadata",
        {
            "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
            "metrics": {"latencyMs": 12},
        },
    )


# ---------------------------------------------------------------- InvokeModel families


def _require(body: dict[str, Any], key: str) -> Any:
    if key not in body:
        raise _Refusal(
            400, "ValidationException", f"Malformed input request: #: required key [{key}] not found"
        )
    return body[key]


def _invocation_metrics(text: str, answer: str) -> dict[str, int]:
    return {
        "inputTokenCount": _tokens(text),
        "outputTokenCount": _tokens(answer),
        "invocationLatency": 12,
        "firstByteLatency": 5,
    }


class _Family:
    """One model family's InvokeModel body and stream chunk formats."""

    def __init__(self, family: str, body: dict[str, Any], model_id: str) -> None:
        self.family = family
        self.body = body
        self.model_id = model_id
        self.tool: str | None = None
        if family == "anthropic":
            _require(body, "anthropic_version")
            _require(body, "messages")
            self.text = _anthropic_last_user_text(body)
            tools = body.get("tools") or []
            self.tool = tools[0].get("name") if tools else None
        elif family == "nova":
            self.text = _converse_last_user_text(body)
        elif family == "titan":
            self.text = str(_require(body, "inputText"))
        elif family in ("llama", "mistral"):
            if family == "mistral" and "messages" in body and "prompt" not in body:
                raise _Refusal(400, "ValidationException", "fake Bedrock: only the Mistral prompt format")
            self.text = str(_require(body, "prompt"))
        elif family == "cohere":
            if "message" in body:
                self.text = str(body["message"])
            else:
                self.text = str(_require(body, "prompt"))
        else:
            raise _Refusal(400, "ValidationException", "The provided model identifier is invalid.")
        self.answer = echo_text(self.text)

    # -- whole answers

    def response(self) -> dict[str, Any]:
        text, answer = self.text, self.answer
        if self.family == "anthropic":
            if self.tool is not None:
                content: list[dict[str, Any]] = [
                    {"type": "tool_use", "id": _tool_use_id(text), "name": self.tool, "input": {"echo": text}}
                ]
            else:
                content = [{"type": "text", "text": answer}]
            return {
                "id": "msg_bdrk_" + uuid.uuid4().hex[:24],
                "type": "message",
                "role": "assistant",
                "model": self.model_id.rsplit("/", 1)[-1],
                "content": content,
                "stop_reason": "tool_use" if self.tool else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": _tokens(text), "output_tokens": _tokens(answer)},
            }
        if self.family == "nova":
            return {
                "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                "stopReason": "end_turn",
                "usage": {
                    "inputTokens": _tokens(text),
                    "outputTokens": _tokens(answer),
                    "totalTokens": _tokens(text) + _tokens(answer),
                },
            }
        if self.family == "titan":
            return {
                "inputTextTokenCount": _tokens(text),
                "results": [
                    {"tokenCount": _tokens(answer), "outputText": answer, "completionReason": "FINISH"}
                ],
            }
        if self.family == "llama":
            return {
                "generation": answer,
                "prompt_token_count": _tokens(text),
                "generation_token_count": _tokens(answer),
                "stop_reason": "stop",
            }
        if self.family == "mistral":
            return {"outputs": [{"text": answer, "stop_reason": "stop"}]}
        # cohere
        if "message" in self.body:
            return {
                "response_id": str(uuid.uuid4()),
                "text": answer,
                "generation_id": str(uuid.uuid4()),
                "chat_history": [
                    *(self.body.get("chat_history") or []),
                    {"role": "USER", "message": text},
                    {"role": "CHATBOT", "message": answer},
                ],
                "finish_reason": "COMPLETE",
            }
        return {
            "id": str(uuid.uuid4()),
            "prompt": text,
            "generations": [{"id": str(uuid.uuid4()), "text": answer, "finish_reason": "COMPLETE"}],
        }

    # -- stream chunks (each is the model's own JSON, base64'd into a `chunk` event)

    @property
    def first_delta_index(self) -> int:
        """Where the first text (or tool input) delta sits in `stream_chunks()`."""
        return {"anthropic": 2, "nova": 1}.get(self.family, 0)

    def stream_chunks(self, chunk_size: int) -> list[dict[str, Any]]:
        text, answer = self.text, self.answer
        pieces = _chunks(answer, chunk_size)
        metrics = {"amazon-bedrock-invocationMetrics": _invocation_metrics(text, answer)}
        if self.family == "anthropic":
            out: list[dict[str, Any]] = [
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_bdrk_" + uuid.uuid4().hex[:24],
                        "type": "message",
                        "role": "assistant",
                        "model": self.model_id.rsplit("/", 1)[-1],
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": _tokens(text), "output_tokens": 1},
                    },
                }
            ]
            if self.tool is not None:
                out.append(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {
                            "type": "tool_use",
                            "id": _tool_use_id(text),
                            "name": self.tool,
                            "input": {},
                        },
                    }
                )
                for piece in _chunks(orjson.dumps({"echo": text}).decode(), chunk_size):
                    out.append(
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        }
                    )
            else:
                out.append(
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
                )
                for piece in pieces:
                    out.append(
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": piece},
                        }
                    )
            out.append({"type": "content_block_stop", "index": 0})
            out.append(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use" if self.tool else "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": _tokens(answer)},
                }
            )
            out.append({"type": "message_stop", **metrics})
            return out
        if self.family == "nova":
            usage = {"inputTokens": _tokens(text), "outputTokens": _tokens(answer)}
            return [
                {"messageStart": {"role": "assistant"}},
                *({"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in pieces),
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                {"metadata": {"usage": usage, "metrics": {}, "trace": {}}, **metrics},
            ]
        chunks: list[dict[str, Any]] = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            if self.family == "titan":
                chunk: dict[str, Any] = {
                    "outputText": piece,
                    "index": 0,
                    "totalOutputTextTokenCount": _tokens(answer) if last else None,
                    "completionReason": "FINISH" if last else None,
                    "inputTextTokenCount": _tokens(text) if index == 0 else None,
                }
            elif self.family == "llama":
                chunk = {
                    "generation": piece,
                    "prompt_token_count": _tokens(text) if index == 0 else None,
                    "generation_token_count": index + 1,
                    "stop_reason": "stop" if last else None,
                }
            elif self.family == "mistral":
                chunk = {"outputs": [{"text": piece, "stop_reason": "stop" if last else None}]}
            else:  # cohere Command R stream events
                chunk = {"is_finished": False, "event_type": "text-generation", "text": piece}
            if last and self.family != "cohere":
                chunk.update(metrics)
            chunks.append(chunk)
        if self.family == "cohere":
            chunks.append(
                {
                    "is_finished": True,
                    "event_type": "stream-end",
                    "finish_reason": "COMPLETE",
                    "response": {"text": answer, "finish_reason": "COMPLETE"},
                    **metrics,
                }
            )
        return chunks


# ---------------------------------------------------------------- the app


def make_bedrock_app(
    recorder: Recorder,
    *,
    access_key: str = "AKIDUPSTREAM",
    secret_key: str = "upstream-secret",
    region: str = "eu-west-1",
    chunk_size: int = 3,
    frame_delay_s: float = 0.0,
    huge_bytes: int = 8 * 1024 * 1024,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    """The fake Bedrock runtime; `recorder` sees every request before any check."""

    async def handle(request: web.Request) -> web.StreamResponse:
        received = await recorder.record(request)
        raw_path = request.raw_path.split("?", 1)[0]
        refusal = check_signature(
            request.method,
            request.raw_path,
            request.headers,
            received.body,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            now=clock(),
        )
        if refusal is not None:
            return _error_response(refusal.status, refusal.error_type, refusal.message)
        match = _ROUTE.match(raw_path)
        if match is None:
            return _error_response(404, "UnknownOperationException", "Unknown operation")
        model_id = unquote(match["model"])
        operation = match["op"]
        try:
            body = orjson.loads(received.body)
            if not isinstance(body, dict):
                raise orjson.JSONDecodeError("not an object", "", 0)
        except orjson.JSONDecodeError:
            return _error_response(
                400, "ValidationException", "Malformed input request, please reformat your input"
            )
        if "error-throttle" in model_id:
            return _error_response(
                429, "ThrottlingException", "Too many requests, please wait before trying again."
            )
        try:
            if operation == "converse":
                return web.json_response(
                    _converse_answer(body), headers={"x-amzn-RequestId": str(uuid.uuid4())}
                )
            if operation == "converse-stream":
                events = list(_converse_stream_events(body, chunk_size))
                if "huge-frame" in model_id:
                    events = [
                        (name, {**event, "delta": {"text": "x" * huge_bytes}})
                        if name == "contentBlockDelta"
                        else (name, event)
                        for name, event in events
                    ]
                frames = [encode_event(name, _padded(payload)) for name, payload in events]
                first_delta = next(i for i, (name, _) in enumerate(events) if name == "contentBlockDelta")
                return await _stream(request, frames, model_id, {}, first_delta)
            family = _Family(model_family(model_id), body, model_id)
            if "huge-json" in model_id:
                family.answer = "x" * huge_bytes
            if operation == "invoke":
                answer = orjson.dumps(family.response())
                return web.Response(
                    body=answer,
                    content_type="application/json",
                    headers={
                        "x-amzn-RequestId": str(uuid.uuid4()),
                        "X-Amzn-Bedrock-Input-Token-Count": str(_tokens(family.text)),
                        "X-Amzn-Bedrock-Output-Token-Count": str(_tokens(family.answer)),
                        "X-Amzn-Bedrock-Invocation-Latency": "12",
                    },
                )
            frames = [
                encode_event("chunk", _padded({"bytes": base64.b64encode(orjson.dumps(chunk)).decode()}))
                for chunk in family.stream_chunks(chunk_size)
            ]
            headers = {"X-Amzn-Bedrock-Content-Type": "application/json"}
            return await _stream(request, frames, model_id, headers, family.first_delta_index)
        except _Refusal as refusal:
            return _error_response(refusal.status, refusal.error_type, refusal.message)

    async def _stream(
        request: web.Request,
        frames: list[bytes],
        model_id: str,
        extra_headers: dict[str, str],
        first_delta: int,
    ) -> web.StreamResponse:
        if "error-midstream" in model_id:
            # Everything up to and including the first delta, then the failure.
            frames = [
                *frames[: first_delta + 1],
                encode_exception(
                    "modelStreamErrorException", orjson.dumps({"message": "model stream failed"})
                ),
            ]
        if "corrupt-stream" in model_id and len(frames) > 1:
            second = bytearray(frames[1])
            second[-1] ^= 0xFF  # the message CRC
            frames[1] = bytes(second)
        stall = "stall-midstream" in model_id
        if stall:
            frames = frames[: first_delta + 1]
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": _EVENTSTREAM, "x-amzn-RequestId": str(uuid.uuid4()), **extra_headers},
        )
        await response.prepare(request)
        for frame in frames:
            if len(frame) > _PIECE:
                try:
                    for start in range(0, len(frame), _PIECE):
                        await response.write(frame[start : start + _PIECE])
                        await asyncio.sleep(0)
                except ConnectionResetError:
                    return response
            elif "split-frames" in model_id:
                half = len(frame) // 2
                await response.write(frame[:half])
                await asyncio.sleep(0)
                await response.write(frame[half:])
            else:
                await response.write(frame)
            if frame_delay_s:
                await asyncio.sleep(frame_delay_s)
        if stall:
            await wait_for_disconnect(request, recorder, _HANG_SECONDS)
            return response
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
