"""A fake OpenAI and Azure OpenAI upstream that echoes prompts back.

The answers echo the last user text so a test can send a masked prompt through
the proxy and check that the placeholders the upstream saw come back restored.
Streams are cut into `chunk_size`-character deltas, so placeholders such as
`<PERSON_1>` straddle chunk boundaries the way real token streams split them.

Fault behaviour is chosen by the request's `model` (for Azure deployment
routes, the body's `model` or else the deployment name):

- ``error-429``: 429 with an OpenAI error body.
- ``error-500``: 500 with an OpenAI error body.
- ``hang``: waits 30 s before answering normally.
- ``garbage``: 200, ``content-type: application/json``, body ``not json{``.
- ``stream-cut``: streaming only; two content events, then the connection is
  aborted without the terminating ``[DONE]`` (or ``response.completed``).

Misbehaving upstreams, for the proxy's answer limits (chat completions and Responses text
streams; `huge_bytes` is set per app):

- ``stall-midstream``: two content events, then silence with the connection open until the
  client hangs up (noted in ``recorder.disconnects``) or 30 s pass.
- ``endless-stream``: content events every 10 ms that never end, until the client hangs up.
- ``huge-line``: one content event of ``huge_bytes`` characters, written in 64 KiB pieces, then
  the normal end of the stream.
- ``huge-json``: a non-streamed chat completion whose content is ``huge_bytes`` characters, sent
  chunked (no Content-Length) in 64 KiB pieces.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import struct
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import Recorder, client_left, wait_for_disconnect

__all__ = ["EMBEDDING_DIMENSIONS", "FAULT_MODELS", "fake_embedding", "make_openai_app"]

EMBEDDING_DIMENSIONS = 8
STREAM_MISBEHAVIOURS = frozenset({"stall-midstream", "endless-stream", "huge-line"})
FAULT_MODELS = frozenset(
    {"error-429", "error-500", "hang", "garbage", "stream-cut", "huge-json", *STREAM_MISBEHAVIOURS}
)
HANG_SECONDS = 30.0
_PIECE = 64 * 1024
_ENDLESS_GAP_S = 0.01

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Azure attaches these to every prompt and every choice when its content
# filters are on, which is the default; proxies must pass them through.
_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}


def _prompt_filter_results() -> list[JSON]:
    return [
        {
            "prompt_index": 0,
            "content_filter_results": {
                "hate": dict(_SAFE),
                "jailbreak": dict(_NOT_DETECTED),
                "self_harm": dict(_SAFE),
                "sexual": dict(_SAFE),
                "violence": dict(_SAFE),
            },
        }
    ]


def _choice_filter_results() -> JSON:
    return {
        "hate": dict(_SAFE),
        "protected_material_code": dict(_NOT_DETECTED),
        "protected_material_text": dict(_NOT_DETECTED),
        "self_harm": dict(_SAFE),
        "sexual": dict(_SAFE),
        "violence": dict(_SAFE),
    }


def fake_embedding(item: str | list[int], dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The vector the fake returns for one input, so tests can predict it.

    Values are rounded to float32 so the "float" and "base64" encodings decode
    to exactly the same numbers.
    """
    seed = item.encode() if isinstance(item, str) else orjson.dumps(item)
    raw = b""
    block = 0
    while len(raw) < 4 * dimensions:
        raw += hashlib.sha256(block.to_bytes(4, "big") + seed).digest()
        block += 1
    values: list[float] = []
    for (word,) in struct.iter_unpack(">I", raw[: 4 * dimensions]):
        value = word / 2**31 - 1.0
        values.append(struct.unpack("<f", struct.pack("<f", value))[0])
    return values


def _token_estimate(text: str) -> int:
    return max(1, len(text.split()))


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _sse(payload: JSON | str, event: str | None = None) -> bytes:
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + data + b"\n\n"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _openai_error(
    status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _azure_error(status: int, message: str) -> web.Response:
    # Azure's gateway answers with its own, shorter error shape (string code).
    body = {"error": {"code": str(status), "message": message}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _text_of_content(content: Any, part_types: tuple[str, ...]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") in part_types and isinstance(part.get("text"), str)
        ]
        return " ".join(texts)
    return ""


def _last_user_chat_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of_content(message.get("content"), ("text",))
    return ""


def _last_user_responses_text(input_: Any) -> str:
    if isinstance(input_, str):
        return input_
    if not isinstance(input_, list):
        return ""
    for item in reversed(input_):
        # Message items may omit `type`; function_call_output and other items are skipped.
        if isinstance(item, dict) and item.get("role") == "user" and item.get("type", "message") == "message":
            return _text_of_content(item.get("content"), ("input_text", "text"))
    return ""


def _first_tool_name(tools: Any) -> str | None:
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    tool = tools[0]
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return function["name"]
    # Responses API function tools are flat: {"type": "function", "name": ...}.
    name = tool.get("name")
    return name if isinstance(name, str) else None


def _completion_prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        first = prompt[0]
        if isinstance(first, str):
            return first
        if isinstance(first, int):  # a single token array
            return " ".join(str(token) for token in prompt)
        if isinstance(first, list):  # a list of token arrays
            return " ".join(str(token) for token in first)
    return ""


def _embedding_inputs(input_: Any) -> list[str | list[int]] | None:
    if isinstance(input_, str):
        return [input_]
    if isinstance(input_, list) and input_:
        if all(isinstance(x, int) for x in input_):
            return [list(input_)]
        if all(isinstance(x, str) for x in input_):
            return list(input_)
        if all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in input_):
            return [list(x) for x in input_]
    return None


@dataclass
class _Call:
    """One parsed, authenticated request and the flavour of upstream it hit."""

    request: web.Request
    body: JSON
    model: str
    azure: bool

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    @property
    def stream_cut(self) -> bool:
        return self.stream and self.model == "stream-cut"


class _FakeOpenAI:
    def __init__(self, recorder: Recorder, api_key: str, chunk_size: int, huge_bytes: int) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.recorder = recorder
        self.api_key = api_key
        self.chunk_size = chunk_size
        self.huge_bytes = huge_bytes

    # ---- plumbing -------------------------------------------------------

    def _authorized(self, request: web.Request, azure: bool) -> bool:
        if request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return True
        return azure and request.headers.get("api-key") == self.api_key

    def endpoint(
        self,
        operation: Callable[[_Call], Awaitable[web.StreamResponse]],
        *,
        azure: bool,
        needs_api_version: bool = False,
    ) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            received = await self.recorder.record(request)
            if needs_api_version and "api-version" not in request.query:
                return _azure_error(404, "Resource not found")
            if not self._authorized(request, azure):
                if azure:
                    return _azure_error(
                        401,
                        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                        "provide a valid key for an active subscription and use a correct regional API "
                        "endpoint for your resource.",
                    )
                return _openai_error(
                    401,
                    "Incorrect API key provided. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                )
            try:
                body = orjson.loads(received.body)
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                return _openai_error(
                    400,
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                    "sent was not valid JSON.)",
                    "invalid_request_error",
                    None,
                )
            model = body.get("model")
            if not isinstance(model, str) or not model:
                model = request.match_info.get("deployment", "")
            if not model:
                return _openai_error(
                    400, "you must provide a model parameter", "invalid_request_error", None, "model"
                )
            fault = await self._fault(request, model)
            if fault is not None:
                return fault
            response = await operation(_Call(request=request, body=body, model=model, azure=azure))
            if isinstance(response, web.Response):
                response.headers.setdefault("x-request-id", "req_" + uuid.uuid4().hex)
            return response

        return handle

    async def _fault(self, request: web.Request, model: str) -> web.StreamResponse | None:
        if model == "error-429":
            return _openai_error(
                429,
                "Rate limit reached for requests. Please try again in 20ms.",
                "requests",
                "rate_limit_exceeded",
            )
        if model == "error-500":
            return _openai_error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        if model == "garbage":
            return web.Response(status=200, body=b"not json{", headers={"Content-Type": "application/json"})
        if model == "hang":
            await wait_for_disconnect(request, self.recorder, HANG_SECONDS)
        if model == "huge-json":
            return await self._huge_json(request, model)
        return None

    async def _huge_json(self, request: web.Request, model: str) -> web.StreamResponse:
        message = {"role": "assistant", "content": "x" * self.huge_bytes, "refusal": None}
        payload = {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "length"}],
        }
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await self._write_in_pieces(request, response, orjson.dumps(payload))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _write_in_pieces(self, request: web.Request, response: web.StreamResponse, data: bytes) -> bool:
        """Write `data` in 64 KiB pieces, as separate reads for the client; False if it left."""
        for start in range(0, len(data), _PIECE):
            try:
                await response.write(data[start : start + _PIECE])
            except ConnectionError:
                self.recorder.disconnects.append(time.monotonic())
                return False
            await asyncio.sleep(0)
        return True

    async def _misbehave(
        self, call: _Call, response: web.StreamResponse, content_event: Callable[[str], bytes]
    ) -> bool:
        """A stream misbehaving as `call.model` says; True when it is to end normally after."""
        request = call.request
        if call.model == "huge-line":
            return await self._write_in_pieces(request, response, content_event("x" * self.huge_bytes))
        if call.model == "stall-midstream":
            for piece in ("Ech", "o: "):
                await response.write(content_event(piece))
            await wait_for_disconnect(request, self.recorder, HANG_SECONDS)
            return False
        # endless-stream
        while not client_left(request):
            try:
                await response.write(content_event("more "))
            except ConnectionError:
                break
            await asyncio.sleep(_ENDLESS_GAP_S)
        self.recorder.disconnects.append(time.monotonic())
        return False

    async def _open_sse(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": "req_" + uuid.uuid4().hex,
            },
        )
        await response.prepare(request)
        return response

    @staticmethod
    def _cut(request: web.Request) -> None:
        # Abort (RST) rather than close, so the client sees a truncated chunked
        # body instead of a clean end of stream.
        transport = request.transport
        if transport is not None:
            transport.abort()

    @staticmethod
    def _json(payload: JSON) -> web.Response:
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    @staticmethod
    def _chat_usage(prompt: str, answer: str) -> JSON:
        prompt_tokens, completion_tokens = _token_estimate(prompt), _token_estimate(answer)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    # ---- chat completions -----------------------------------------------

    async def chat(self, call: _Call) -> web.StreamResponse:
        messages = call.body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _openai_error(
                400,
                "Missing required parameter: 'messages'.",
                "invalid_request_error",
                "missing_required_parameter",
                "messages",
            )
        text = _last_user_chat_text(messages)
        tool_name = _first_tool_name(call.body.get("tools"))
        if call.stream:
            return await self._chat_stream(call, text, tool_name)

        answer = "Echo: " + text
        message: JSON = {"role": "assistant", "content": answer, "refusal": None, "annotations": []}
        finish_reason = "stop"
        if tool_name is not None:
            arguments = orjson.dumps({"echo": text}).decode()
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": _new_id("call_"),
                        "type": "function",
                        "function": {"name": tool_name, "arguments": arguments},
                    }
                ],
            }
            answer, finish_reason = arguments, "tool_calls"
        choice: JSON = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        if call.azure:
            choice["content_filter_results"] = _choice_filter_results()
        payload: JSON = {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [choice],
            "usage": self._chat_usage(text, answer),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if call.azure:
            payload["prompt_filter_results"] = _prompt_filter_results()
        return self._json(payload)

    async def _chat_stream(self, call: _Call, text: str, tool_name: str | None) -> web.StreamResponse:
        response = await self._open_sse(call.request)
        chunk_id, created = _new_id("chatcmpl-"), int(time.time())

        def chunk(delta: JSON, finish_reason: str | None = None) -> JSON:
            choice: JSON = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            if call.azure:
                choice["content_filter_results"] = _choice_filter_results() if delta else {}
            payload: JSON = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": call.model,
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
                "choices": [choice],
            }
            if call.include_usage:
                payload["usage"] = None
            return payload

        if call.azure:
            # Azure's first event reports the prompt filter verdict, with blank identity fields.
            first = {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": _prompt_filter_results(),
            }
            await response.write(_sse(first))

        if tool_name is None:
            answer = "Echo: " + text
            head: JSON = {"role": "assistant", "content": "", "refusal": None}
            deltas: list[JSON] = [{"content": piece} for piece in _pieces(answer, self.chunk_size)]
            finish_reason = "stop"
        else:
            answer = orjson.dumps({"echo": text}).decode()
            # OpenAI names the call in the first chunk, then streams bare argument fragments.
            head = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": _new_id("call_"),
                        "type": "function",
                        "function": {"name": tool_name, "arguments": ""},
                    }
                ],
            }
            deltas = [
                {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                for piece in _pieces(answer, self.chunk_size)
            ]
            finish_reason = "tool_calls"

        await response.write(_sse(chunk(head)))
        if call.model in STREAM_MISBEHAVIOURS:
            deltas = []
            if not await self._misbehave(call, response, lambda piece: _sse(chunk({"content": piece}))):
                return response
        for sent, delta in enumerate(deltas):
            if call.stream_cut and sent == 2:
                self._cut(call.request)
                return response
            await response.write(_sse(chunk(delta)))
        if call.stream_cut:
            self._cut(call.request)
            return response
        await response.write(_sse(chunk({}, finish_reason)))
        if call.include_usage:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self._chat_usage(text, answer)
            await response.write(_sse(usage_chunk))
        await response.write(_sse("[DONE]"))
        await response.write_eof()
        return response

    # ---- responses ------------------------------------------------------

    async def responses(self, call: _Call) -> web.StreamResponse:
        if "input" not in call.body:
            return _openai_error(
                400, "Missing required parameter: 'input'.", "invalid_request_error", None, "input"
            )
        text = _last_user_responses_text(call.body.get("input"))
        tool_name = _first_tool_name(call.body.get("tools"))
        response_id = "resp_" + uuid.uuid4().hex
        created = int(time.time())
        if tool_name is None:
            answer = "Echo: " + text
            item: JSON = {
                "id": "msg_" + uuid.uuid4().hex,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": answer, "annotations": [], "logprobs": []}],
            }
        else:
            answer = orjson.dumps({"echo": text}).decode()
            item = {
                "id": "fc_" + uuid.uuid4().hex,
                "type": "function_call",
                "status": "completed",
                "call_id": _new_id("call_"),
                "name": tool_name,
                "arguments": answer,
            }

        def envelope(status: str, output: list[JSON], usage: JSON | None) -> JSON:
            return {
                "id": response_id,
                "object": "response",
                "created_at": created,
                "status": status,
                "background": False,
                "completed_at": int(time.time()) if status == "completed" else None,
                "error": None,
                "incomplete_details": None,
                "instructions": call.body.get("instructions"),
                "max_output_tokens": call.body.get("max_output_tokens"),
                "model": call.model,
                "output": output,
                "parallel_tool_calls": True,
                "previous_response_id": call.body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "service_tier": "default",
                "store": True,
                "temperature": 1.0,
                "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto",
                "tools": call.body.get("tools") or [],
                "top_p": 1.0,
                "truncation": "disabled",
                "usage": usage,
                "user": None,
                "metadata": call.body.get("metadata") or {},
            }

        input_tokens, output_tokens = _token_estimate(text), _token_estimate(answer)
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }
        if not call.stream:
            return self._json(envelope("completed", [item], usage))

        response = await self._open_sse(call.request)
        sequence = 0

        async def emit(type_: str, **fields: Any) -> None:
            nonlocal sequence
            await response.write(_sse({"type": type_, "sequence_number": sequence, **fields}, event=type_))
            sequence += 1

        await emit("response.created", response=envelope("in_progress", [], None))
        await emit("response.in_progress", response=envelope("in_progress", [], None))
        item_id = item["id"]
        pieces = _pieces(answer, self.chunk_size)
        if item["type"] == "message":
            await emit(
                "response.output_item.added",
                output_index=0,
                item={**item, "status": "in_progress", "content": []},
            )
            empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            await emit(
                "response.content_part.added",
                item_id=item_id,
                output_index=0,
                content_index=0,
                part=empty_part,
            )
            if call.model in STREAM_MISBEHAVIOURS:

                def delta_event(piece: str) -> bytes:
                    nonlocal sequence
                    sequence += 1
                    fields = {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece}
                    delta_type = "response.output_text.delta"
                    return _sse(
                        {"type": delta_type, "sequence_number": sequence - 1, **fields}, event=delta_type
                    )

                pieces = []
                if not await self._misbehave(call, response, delta_event):
                    return response
            for sent, piece in enumerate(pieces):
                if call.stream_cut and sent == 2:
                    self._cut(call.request)
                    return response
                await emit(
                    "response.output_text.delta",
                    item_id=item_id,
                    output_index=0,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            if call.stream_cut:
                self._cut(call.request)
                return response
            await emit(
                "response.output_text.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                text=answer,
                logprobs=[],
            )
            await emit(
                "response.content_part.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                part=item["content"][0],
            )
        else:
            await emit(
                "response.output_item.added",
                output_index=0,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for sent, piece in enumerate(pieces):
                if call.stream_cut and sent == 2:
                    self._cut(call.request)
                    return response
                await emit(
                    "response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece
                )
            if call.stream_cut:
                self._cut(call.request)
                return response
            await emit(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=0,
                name=tool_name,
                arguments=answer,
            )
        await emit("response.output_item.done", output_index=0, item=item)
        await emit("response.completed", response=envelope("completed", [item], usage))
        await response.write_eof()
        return response

    # ---- embeddings -----------------------------------------------------

    async def embeddings(self, call: _Call) -> web.StreamResponse:
        inputs = _embedding_inputs(call.body.get("input"))
        if inputs is None:
            return _openai_error(
                400,
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                "invalid_request_error",
                None,
            )
        encoding = call.body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return _openai_error(
                400,
                f"Invalid value for 'encoding_format': '{encoding}'. "
                "Supported values are: 'float' and 'base64'.",
                "invalid_request_error",
                None,
                "encoding_format",
            )
        dimensions = call.body.get("dimensions")
        if not isinstance(dimensions, int) or dimensions < 1:
            dimensions = EMBEDDING_DIMENSIONS
        data: list[JSON] = []
        tokens = 0
        for index, item in enumerate(inputs):
            vector = fake_embedding(item, dimensions)
            encoded: list[float] | str = vector
            if encoding == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
            tokens += len(item) if isinstance(item, list) else _token_estimate(item)
        return self._json(
            {
                "object": "list",
                "data": data,
                "model": call.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # ---- legacy completions ---------------------------------------------

    async def completions(self, call: _Call) -> web.StreamResponse:
        if "prompt" not in call.body:
            return _openai_error(
                400, "Missing required parameter: 'prompt'.", "invalid_request_error", None, "prompt"
            )
        prompt = _completion_prompt_text(call.body.get("prompt"))
        answer = "Echo: " + prompt
        prompt_tokens, completion_tokens = _token_estimate(prompt), _token_estimate(answer)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id, created = _new_id("cmpl-"), int(time.time())

        def choice(text: str, finish_reason: str | None) -> JSON:
            entry: JSON = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
            if call.azure:
                entry["content_filter_results"] = _choice_filter_results() if text else {}
            return entry

        def envelope(choices: list[JSON]) -> JSON:
            return {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": call.model,
                "system_fingerprint": "fp_fake",
                "choices": choices,
            }

        if not call.stream:
            payload = envelope([choice(answer, "stop")])
            payload["usage"] = usage
            if call.azure:
                payload["prompt_filter_results"] = _prompt_filter_results()
            return self._json(payload)

        response = await self._open_sse(call.request)
        for sent, piece in enumerate(_pieces(answer, self.chunk_size)):
            if call.stream_cut and sent == 2:
                self._cut(call.request)
                return response
            await response.write(_sse(envelope([choice(piece, None)])))
        if call.stream_cut:
            self._cut(call.request)
            return response
        await response.write(_sse(envelope([choice("", "stop")])))
        if call.include_usage:
            usage_chunk = envelope([])
            usage_chunk["usage"] = usage
            await response.write(_sse(usage_chunk))
        await response.write(_sse("[DONE]"))
        await response.write_eof()
        return response

    # ---- models ---------------------------------------------------------

    async def models(self, request: web.Request) -> web.StreamResponse:
        await self.recorder.record(request)
        if not self._authorized(request, azure=False):
            return _openai_error(
                401,
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        models = [
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
            {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
        ]
        return self._json({"object": "list", "data": models})

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        await self.recorder.record(request)
        return _openai_error(
            404,
            f"Invalid URL ({request.method} {request.raw_path.split('?', 1)[0]})",
            "invalid_request_error",
            None,
        )


def make_openai_app(
    recorder: Recorder,
    *,
    api_key: str = "sk-upstream-test",
    chunk_size: int = 3,
    huge_bytes: int = 8 * 1024 * 1024,
) -> web.Application:
    """Build the fake OpenAI / Azure OpenAI upstream.

    OpenAI routes live under ``/v1``; Azure ones under ``/openai/deployments/{deployment}``
    (``api-version`` query required), ``/openai`` (Azure's Responses API, also needs
    ``api-version``) and ``/openai/v1``.
    """
    fake = _FakeOpenAI(recorder, api_key, chunk_size, huge_bytes)
    operations: dict[str, Callable[[_Call], Awaitable[web.StreamResponse]]] = {
        "chat/completions": fake.chat,
        "responses": fake.responses,
        "embeddings": fake.embeddings,
        "completions": fake.completions,
    }
    app = web.Application(client_max_size=64 * 1024 * 1024)
    for path, operation in operations.items():
        app.router.add_post(f"/v1/{path}", fake.endpoint(operation, azure=False))
        app.router.add_post(f"/openai/v1/{path}", fake.endpoint(operation, azure=True))
        if path == "responses":
            # The AzureOpenAI client sends non-deployment operations to /openai/{operation}.
            app.router.add_post(
                f"/openai/{path}", fake.endpoint(operation, azure=True, needs_api_version=True)
            )
        else:
            app.router.add_post(
                f"/openai/deployments/{{deployment}}/{path}",
                fake.endpoint(operation, azure=True, needs_api_version=True),
            )
    app.router.add_get("/v1/models", fake.models)
    app.router.add_route("*", "/{tail:.*}", fake.not_found)
    return app
