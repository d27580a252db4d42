"""A fake OpenAI chat upstream that takes its time: for drain and shutdown tests.

The request's `model` says how long: ``slow-<seconds>`` streams (with ``stream: true``) one content
event every `TICK_S` for that many seconds and then ends properly with ``[DONE]``; without
``stream`` it waits that long before a normal JSON answer. Any other model answers at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

TICK_S = 0.2


def _duration(model: str) -> float:
    prefix, _, seconds = model.partition("-")
    try:
        return float(seconds) if prefix == "slow" else 0.0
    except ValueError:
        return 0.0


def _chunk(chunk_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = str(body.get("model", ""))
    deadline = time.monotonic() + _duration(model)
    chunk_id = "chatcmpl-" + uuid.uuid4().hex
    if not body.get("stream"):
        # Waits in ticks, so a caller that left is noticed and the test's server stops at once.
        while time.monotonic() < deadline and not _gone(request):
            await asyncio.sleep(TICK_S)
        message = {"role": "assistant", "content": "done", "refusal": None}
        return web.json_response(
            {
                "id": chunk_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    try:
        await response.write(_chunk(chunk_id, model, {"role": "assistant", "content": ""}))
        while time.monotonic() < deadline:
            await asyncio.sleep(TICK_S)
            await response.write(_chunk(chunk_id, model, {"content": "tick "}))
        await response.write(_chunk(chunk_id, model, {}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionError:
        pass  # the proxy went away (cut at its drain deadline, or killed)
    return response


def make_slow_openai_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app
