"""Run an aiohttp application on a loopback port in a background thread.

Tests drive the proxy with the official, synchronous SDKs (boto3 has no async
client), so every server under test lives on its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ReceivedRequest:
    """One request exactly as a fake upstream saw it on the wire."""

    method: str
    path: str  # raw path as sent, percent-encoding kept
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """What a fake upstream received, for assertions on the bytes, and when (time.monotonic())
    it saw a client hang up on an answer it was holding back (`wait_for_disconnect`)."""

    requests: list[ReceivedRequest] = field(default_factory=list)
    disconnects: list[float] = field(default_factory=list)

    async def record(self, request: web.Request) -> ReceivedRequest:
        body = await request.read()
        received = ReceivedRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0],
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        self.requests.append(received)
        return received

    def all_bytes(self) -> bytes:
        return b"\n".join(r.body + repr(r.headers).encode() + r.path.encode() for r in self.requests)

    def clear(self) -> None:
        self.requests.clear()
        self.disconnects.clear()


def client_left(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def wait_for_disconnect(request: web.BaseRequest, recorder: Recorder, seconds: float) -> bool:
    """Say nothing for up to `seconds`, the way a stalled provider does; True (and the moment
    noted in `recorder.disconnects`) as soon as the client hangs up.

    Polled rather than slept: aiohttp does not cancel handlers when the client goes, and a long
    orphaned sleep would stall the server's shutdown.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if client_left(request):
            recorder.disconnects.append(time.monotonic())
            return True
        await asyncio.sleep(0.02)
    return False


@dataclass
class Tweaks:
    """Changes a test makes to any fake upstream's answers (see `apply_tweaks`).

    `extra_headers` are added to every answer, streamed ones too, the way a provider's edge adds
    cookies, CORS or routing headers; `redirect` (status, Location) answers every request with that
    redirect instead, after recording it, the way a moved endpoint or a misconfigured edge does.
    """

    extra_headers: dict[str, str] = field(default_factory=dict)
    redirect: tuple[int, str] | None = None

    def clear(self) -> None:
        self.extra_headers.clear()
        self.redirect = None


def apply_tweaks(app: web.Application, recorder: Recorder, tweaks: Tweaks) -> web.Application:
    """`app` (not yet started) with `tweaks` applied to its answers; returns it."""

    @web.middleware
    async def redirect(request: web.Request, handler: Handler) -> web.StreamResponse:
        if tweaks.redirect is None:
            return await handler(request)
        await recorder.record(request)
        status, location = tweaks.redirect
        return web.Response(
            status=status,
            headers={"Location": location, "Content-Type": "text/html; charset=UTF-8"},
            text=f'<a href="{location}">Moved</a>.\n',
        )

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(tweaks.extra_headers)

    app.middlewares.append(redirect)
    app.on_response_prepare.append(add_headers)
    return app


class BackgroundServer:
    """Serves `app_factory()` on 127.0.0.1 in a daemon thread until `stop()`."""

    def __init__(self, app_factory: Callable[[], web.Application | Awaitable[web.Application]]) -> None:
        self._app_factory = app_factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self.port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> BackgroundServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout)
        return self

    async def _start(self) -> None:
        app = self._app_factory()
        if asyncio.iscoroutine(app):
            app = await app
        assert isinstance(app, web.Application)
        self.app = app
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]

    def call(self, coro: Awaitable[object], timeout: float = 30.0) -> object:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
