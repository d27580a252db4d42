"""Benchmark variants of the fakes in `tests/fakes/`, for `benchmarks.fake_upstream_server --app`.

Each runs in the fake's own process, so adjusting a fake module here touches nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes import gemini_upstream, openai_upstream
from tests.fakes.server import Recorder

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_gemini_app(recorder: Recorder, *, write_gap_s: float = 0.0, **options: Any) -> web.Application:
    """The Gemini fake with `write_gap_s` seconds between its stream writes instead of 5 ms.

    The tests' fake pauses after every stream event so that each leaves in its own TCP segment.
    With ~4-character chunks a 1 KB echo is ~260 events, so the pause alone would be ~1.3 s per
    answer on both sides, and the Gemini case would time `asyncio.sleep` instead of the proxy. The
    OpenAI and Bedrock fakes write without pauses; 0 puts Gemini on the same footing (each write
    still yields to the event loop once).
    """
    if not hasattr(gemini_upstream, "_WRITE_GAP_SECONDS"):
        # Fail loudly rather than silently benchmark a different fake.
        raise RuntimeError(
            "tests.fakes.gemini_upstream no longer has _WRITE_GAP_SECONDS; update this wrapper"
        )
    gemini_upstream._WRITE_GAP_SECONDS = write_gap_s  # this process serves only this fake
    return gemini_upstream.make_gemini_app(recorder, **options)


def make_paced_openai_app(
    recorder: Recorder, *, delay_s: float = 0.3, stream_gap_s: float = 0.0, **options: Any
) -> web.Application:
    """The OpenAI fake answering like a model: `delay_s` before any answer, `stream_gap_s` between
    stream writes.

    The tests' fake answers at once, so a proxy in front of it never holds many requests open;
    a real model takes hundreds of milliseconds before the first token and streams tokens at its
    own pace, and that is what fills the proxy with waiting requests and open streams under load
    (`benchmarks.overload`, `benchmarks.soak`). The wait is a sleep: no CPU is spent on it. It
    wraps the echoing fake, not `tests/fakes/slow_openai_upstream.py` (which answers "tick"), so
    every answer still proves the placeholders were restored.
    """
    app = openai_upstream.make_openai_app(recorder, **options)

    @web.middleware
    async def think(request: web.Request, handler: Handler) -> web.StreamResponse:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return await handler(request)

    async def pace(request: web.Request, response: web.StreamResponse) -> None:
        if stream_gap_s <= 0 or isinstance(response, web.Response):
            return
        write = response.write

        async def paced(data: bytes) -> None:
            await asyncio.sleep(stream_gap_s)
            await write(data)

        response.write = paced  # type: ignore[method-assign]  # this response only

    app.middlewares.append(think)
    app.on_response_prepare.append(pace)
    return app
