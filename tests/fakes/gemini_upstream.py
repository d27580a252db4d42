"""A fake Google Generative Language API (Gemini Developer API) on loopback.

It answers the way generativelanguage.googleapis.com does, byte for byte where
the official google-genai SDK or a proxy adapter could notice:

* `POST /{v1|v1beta|v1alpha}/models/{model}:{method}` with the method after the
  last ':' (the SDK sends the ':' unencoded).
* Auth by `x-goog-api-key` header or `?key=` query. A wrong key gives 400
  INVALID_ARGUMENT "API key not valid..." (what Google returns), no key at all
  gives 403 PERMISSION_DENIED "Method doesn't allow unregistered callers...".
* Non-streaming bodies are pretty-printed JSON (2-space indent) with
  `application/json; charset=UTF-8`, like Google's front end.
* `:streamGenerateContent?alt=sse` sends `data: {json}\\r\\n\\r\\n` events (CRLF,
  no `event:` lines, no `[DONE]`); the stream just ends. Without `alt=sse` the
  answer is one JSON array whose elements are pretty-printed objects separated
  by `\\n,\\r\\n`, each element written separately so a client sees it split.
  Errors on that array endpoint are wrapped in an array too (`[{"error":...}]`).

The model answers "Echo: " + the text parts of the last user content, so tests
can see exactly what reached the upstream after masking. Special model names
inject faults: "error-429", "error-500", "error-midstream" (SSE/array stream
that fails after its first chunk, as Google does with an in-band error object)
and "hang" (waits 30 s, or until the app shuts down). Misbehaving upstreams, for
the proxy's answer limits: "stall-midstream" (a stream that goes silent after its
first chunk, connection open, until the client hangs up (noted in
`recorder.disconnects`) or 30 s pass) and "huge-json" (a generateContent answer
whose text is `huge_bytes` characters, sent chunked in 64 KiB pieces).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from .server import Recorder, wait_for_disconnect

JSONDict = dict[str, Any]

_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents", "countTokens"}
)
_DEFAULT_EMBED_DIM = 8
_HANG_SECONDS = 30.0
# A short pause between stream writes so the pieces leave in separate TCP
# segments; without it the client may read the whole answer in one recv().
_WRITE_GAP_SECONDS = 0.005
_JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
_HUGE_PIECE = 64 * 1024

_SHUTDOWN_KEY = web.AppKey("gemini_fake_shutdown", asyncio.Event)

_BAD_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
_NO_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_INTERNAL_MESSAGE = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)
_OVERLOADED_MESSAGE = "The model is overloaded. Please try again later."


def _pretty(obj: object) -> bytes:
    # Google's JSON front end pretty-prints with two spaces; adapters must not
    # assume one object per line or compact separators.
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


def _error_body(code: int, status: str, message: str, details: list[JSONDict] | None = None) -> JSONDict:
    error: JSONDict = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _error_response(
    code: int, status: str, message: str, *, as_array: bool, details: list[JSONDict] | None = None
) -> web.Response:
    body: object = _error_body(code, status, message, details)
    # The non-SSE stream endpoint reports errors inside its JSON array; the
    # SDK's APIError unwraps a one-element list for exactly this reason.
    if as_array:
        body = [body]
    return web.Response(status=code, body=_pretty(body) + b"\n", headers={"Content-Type": _JSON_CONTENT_TYPE})


def _bad_key_details() -> list[JSONDict]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": _BAD_KEY_MESSAGE,
        },
    ]


def _iter_texts(node: object) -> Iterator[str]:
    """Every string under a "text" key, anywhere in a request body."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _iter_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _iter_texts(item)


def _word_count(node: object) -> int:
    return sum(len(text.split()) for text in _iter_texts(node))


def _content_text(content: object) -> str:
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _last_user_text(contents: object) -> str:
    if not isinstance(contents, list):
        return ""
    for content in reversed(contents):
        # `role` is optional on the wire and then means "user".
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return _content_text(content)
    return ""


def _first_function_name(body: JSONDict) -> str | None:
    """The first declared function, unless tool calling is switched off."""
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode == "NONE":
        return None
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        for declaration in tool.get("functionDeclarations") or []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                return str(declaration["name"])
    return None


def _embedding_values(text: str, dimensions: int) -> list[float]:
    # Deterministic in the text only, so tests can compare a masked prompt's
    # vector with one computed locally.
    values: list[float] = []
    for block in itertools.count():
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        values.extend(round(byte / 127.5 - 1.0, 6) for byte in digest)
        if len(values) >= dimensions:
            return values[:dimensions]
    raise AssertionError("unreachable")


def _dimensions(request: JSONDict) -> int:
    wanted = request.get("outputDimensionality")
    return wanted if isinstance(wanted, int) and wanted > 0 else _DEFAULT_EMBED_DIM


class _GeminiFake:
    def __init__(self, recorder: Recorder, api_key: str, chunk_size: int, huge_bytes: int) -> None:
        self.recorder = recorder
        self.api_key = api_key
        self.chunk_size = max(1, chunk_size)
        self.huge_bytes = huge_bytes
        self._response_ids = itertools.count(1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self.recorder.record(request)
        rest = request.match_info["rest"]
        model, sep, method = rest.rpartition(":")
        sse = request.query.get("alt") == "sse"
        as_array = method == "streamGenerateContent" and not sse
        if not sep or not model or method not in _METHODS:
            return _error_response(
                404, "NOT_FOUND", f"The requested URL {request.path} was not found.", as_array=False
            )

        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return _error_response(403, "PERMISSION_DENIED", _NO_KEY_MESSAGE, as_array=as_array)
        if key != self.api_key:
            return _error_response(
                400, "INVALID_ARGUMENT", _BAD_KEY_MESSAGE, as_array=as_array, details=_bad_key_details()
            )

        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _error_response(
                400, "INVALID_ARGUMENT", "Invalid JSON payload received.", as_array=as_array
            )

        if model == "error-429":
            return _error_response(429, "RESOURCE_EXHAUSTED", _QUOTA_MESSAGE, as_array=as_array)
        if model == "error-500":
            return _error_response(500, "INTERNAL", _INTERNAL_MESSAGE, as_array=as_array)
        if model == "hang":
            shutdown = request.app[_SHUTDOWN_KEY]
            # Bounded by app shutdown so a test's server.stop() is not held up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shutdown.wait(), _HANG_SECONDS)

        if method == "generateContent" and model == "huge-json":
            return await self._huge(request, model, body)
        if method == "generateContent":
            return self._generate(model, body)
        if method == "streamGenerateContent":
            return await self._stream(request, model, body, sse=sse)
        if method == "embedContent":
            return self._embed(body)
        if method == "batchEmbedContents":
            return self._batch_embed(body)
        return self._count_tokens(body)

    # generateContent / streamGenerateContent

    def _answer(self, body: JSONDict) -> tuple[str, str | None]:
        text = "Echo: " + _last_user_text(body.get("contents"))
        return text, _first_function_name(body)

    def _usage(self, body: JSONDict, answer_words: int) -> JSONDict:
        prompt = _word_count(body.get("contents")) + _word_count(body.get("systemInstruction"))
        return {
            "promptTokenCount": prompt,
            "candidatesTokenCount": answer_words,
            "totalTokenCount": prompt + answer_words,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        }

    def _response(
        self, model: str, parts: list[JSONDict], usage: JSONDict, response_id: str, *, finished: bool
    ) -> JSONDict:
        candidate: JSONDict = {"content": {"parts": parts, "role": "model"}}
        if finished:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        }

    def _next_response_id(self) -> str:
        return f"fake-gemini-{next(self._response_ids):06d}"

    def _generate(self, model: str, body: JSONDict) -> web.Response:
        text, function_name = self._answer(body)
        part: JSONDict = (
            {"functionCall": {"name": function_name, "args": {"echo": text}}}
            if function_name
            else {"text": text}
        )
        usage = self._usage(body, len(text.split()))
        payload = self._response(model, [part], usage, self._next_response_id(), finished=True)
        return web.Response(body=_pretty(payload) + b"\n", headers={"Content-Type": _JSON_CONTENT_TYPE})

    async def _huge(self, request: web.Request, model: str, body: JSONDict) -> web.StreamResponse:
        payload = self._response(
            model,
            [{"text": "x" * self.huge_bytes}],
            self._usage(body, 1),
            self._next_response_id(),
            finished=True,
        )
        response = web.StreamResponse(headers={"Content-Type": _JSON_CONTENT_TYPE})
        await response.prepare(request)
        data = _pretty(payload)
        with contextlib.suppress(ConnectionResetError):
            for start in range(0, len(data), _HUGE_PIECE):
                await response.write(data[start : start + _HUGE_PIECE])
                await asyncio.sleep(0)
            await response.write_eof()
        return response

    def _stream_chunks(self, model: str, body: JSONDict) -> list[JSONDict]:
        text, function_name = self._answer(body)
        response_id = self._next_response_id()
        if function_name:
            # Google sends a function call whole, in one chunk.
            usage = self._usage(body, len(text.split()))
            part = {"functionCall": {"name": function_name, "args": {"echo": text}}}
            return [self._response(model, [part], usage, response_id, finished=True)]
        pieces = [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]
        chunks: list[JSONDict] = []
        sent = ""
        for index, piece in enumerate(pieces):
            sent += piece
            # usageMetadata is cumulative and repeated on every chunk, as Google does.
            usage = self._usage(body, len(sent.split()))
            last = index == len(pieces) - 1
            chunks.append(self._response(model, [{"text": piece}], usage, response_id, finished=last))
        return chunks

    async def _stream(
        self, request: web.Request, model: str, body: JSONDict, *, sse: bool
    ) -> web.StreamResponse:
        chunks = self._stream_chunks(model, body)
        midstream_error = model == "error-midstream"
        stall = model == "stall-midstream"
        if midstream_error or stall:
            chunks = chunks[:1]
        content_type = "text/event-stream" if sse else _JSON_CONTENT_TYPE
        response = web.StreamResponse(
            status=200, headers={"Content-Type": content_type, "Content-Disposition": "attachment"}
        )
        await response.prepare(request)
        error = _error_body(503, "UNAVAILABLE", _OVERLOADED_MESSAGE)
        if sse:
            events = [b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks]
            if midstream_error:
                events.append(b"data: " + orjson.dumps(error) + b"\r\n\r\n")
        else:
            elements = [_pretty(chunk) for chunk in chunks]
            if midstream_error:
                elements.append(_pretty(error))
            events = [(b"[" if i == 0 else b"\n,\r\n") + element for i, element in enumerate(elements)]
            events.append(b"\n]")
        # A client (or the proxy under test) hanging up mid-stream is a case
        # tests provoke on purpose; it must not surface as a fake failure.
        with contextlib.suppress(ConnectionResetError):
            for event in events:
                await response.write(event)
                await asyncio.sleep(_WRITE_GAP_SECONDS)
            if stall:
                await wait_for_disconnect(request, self.recorder, _HANG_SECONDS)
                return response
            await response.write_eof()
        return response

    # embedContent / batchEmbedContents / countTokens

    def _embed(self, body: JSONDict) -> web.Response:
        values = _embedding_values(_content_text(body.get("content")), _dimensions(body))
        return web.Response(
            body=_pretty({"embedding": {"values": values}}) + b"\n",
            headers={"Content-Type": _JSON_CONTENT_TYPE},
        )

    def _batch_embed(self, body: JSONDict) -> web.Response:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return _error_response(
                400,
                "INVALID_ARGUMENT",
                "* BatchEmbedContentsRequest.requests: must not be empty",
                as_array=False,
            )
        embeddings = [
            {"values": _embedding_values(_content_text(item.get("content")), _dimensions(item))}
            for item in requests
            if isinstance(item, dict)
        ]
        return web.Response(
            body=_pretty({"embeddings": embeddings}) + b"\n", headers={"Content-Type": _JSON_CONTENT_TYPE}
        )

    def _count_tokens(self, body: JSONDict) -> web.Response:
        # Either `contents` or a whole `generateContentRequest`; count both ways.
        total = _word_count(body)
        payload = {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
        return web.Response(body=_pretty(payload) + b"\n", headers={"Content-Type": _JSON_CONTENT_TYPE})


def make_gemini_app(
    recorder: Recorder,
    *,
    api_key: str = "gm-upstream-test",
    chunk_size: int = 3,
    huge_bytes: int = 8 * 1024 * 1024,
) -> web.Application:
    """Build the fake; `chunk_size` is how many characters each stream chunk carries."""
    fake = _GeminiFake(recorder, api_key, chunk_size, huge_bytes)
    app = web.Application()
    app[_SHUTDOWN_KEY] = asyncio.Event()

    async def release_hanging(app: web.Application) -> None:
        app[_SHUTDOWN_KEY].set()

    app.on_shutdown.append(release_hanging)
    # One route per version: aiohttp cannot split "{model}:{method}" inside a
    # segment reliably (model ids contain '.', '-' and even ':'), so the handler
    # splits on the last ':' itself.
    app.router.add_post("/{version:v1|v1beta|v1alpha}/models/{rest}", fake.handle)
    return app
