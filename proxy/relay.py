"""Relaying one streamed answer to the caller, within the answer limits.

Upstream bytes go through the format's transformer to the caller as they come, and the relay
stops a stream that breaks a limit: more bytes than `max_answer_bytes`, a silence longer than
`stream_idle_timeout_s`, a stream running past `max_stream_s` (also while a caller who does not
read holds the writes back). It tells which side failed: a `StreamAbort` names the provider's
failure or the limit, `ClientGone` the caller leaving, noticed within a fraction of a second
also while the provider is silent. Ending the stream (error event, cut) is the caller's job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import aiohttp
from aiohttp import web

from proxy.config import AnswerLimits
from proxy.disconnect import CHECK_INTERVAL_S, ClientGone, client_gone
from proxy.formats.answers import ResponseTransformer, StreamAbort

__all__ = ["StreamRelay"]

# How long the error event that ends an aborted stream may wait for a caller who is not reading.
TAIL_WRITE_S = 1.0


class StreamRelay:
    def __init__(
        self,
        request: web.BaseRequest,
        upstream: aiohttp.ClientResponse,
        transformer: ResponseTransformer,
        response: web.StreamResponse,
        limits: AnswerLimits,
    ) -> None:
        self._request = request
        self._upstream = upstream
        self._transformer = transformer
        self._response = response
        self._limits = limits
        self._deadline = 0.0
        self.received = 0  # bytes from the provider
        self.sent = 0  # bytes to the caller

    async def run(self) -> None:
        """Relay the whole stream; raises StreamAbort or ClientGone when it cannot."""
        self._deadline = asyncio.get_running_loop().time() + self._limits.max_stream_s
        while chunk := await self._next_chunk():
            self.received += len(chunk)
            if self.received > self._limits.max_answer_bytes:
                raise StreamAbort(
                    "upstream_stream_too_large",
                    f"the provider's streamed answer grew past {self._limits.max_answer_bytes} bytes;"
                    " it was cut off",
                )
            await self._send(self._transformer.feed(chunk))
        await self._send(self._transformer.finish())
        await self._within_deadline(self._response.write_eof())

    async def end_with(self, tail: bytes) -> None:
        """Send the last bytes of an aborted stream, if the caller takes them soon."""
        if not tail:
            return
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(TAIL_WRITE_S):
                await self._response.write(tail)
            self.sent += len(tail)

    async def _send(self, data: bytes) -> None:
        if data:
            await self._within_deadline(self._response.write(data))
            self.sent += len(data)

    async def _within_deadline(self, write: Awaitable[None]) -> None:
        try:
            async with asyncio.timeout_at(self._deadline):
                await write
        except TimeoutError:
            raise self._too_long() from None
        except ConnectionError:  # aiohttp's ClientConnectionResetError included
            raise ClientGone from None

    async def _next_chunk(self) -> bytes:
        """The next bytes from the provider, b"" at its end."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._deadline:
            raise self._too_long()
        content = self._upstream.content
        try:
            data = content.read_nowait()  # what already arrived: no task, no timer
        except (aiohttp.ClientError, ConnectionError):
            raise self._cut() from None
        if data or content.at_eof():
            return data
        idle_until = now + self._limits.stream_idle_timeout_s
        reading = asyncio.ensure_future(content.readany())
        try:
            while (left := min(idle_until, self._deadline) - loop.time()) > 0:
                await asyncio.wait((reading,), timeout=min(left, CHECK_INTERVAL_S))
                if reading.done():
                    return self._result(reading)
                if client_gone(self._request):
                    raise ClientGone
        finally:
            if not reading.done():
                reading.cancel()
        if idle_until <= self._deadline:
            raise StreamAbort(
                "upstream_idle_timeout",
                f"the provider sent nothing for {self._limits.stream_idle_timeout_s:g} s;"
                " the answer is incomplete",
                504,
            )
        raise self._too_long()

    def _result(self, reading: asyncio.Future[bytes]) -> bytes:
        try:
            return reading.result()
        except TimeoutError:
            raise StreamAbort(
                "upstream_timeout", "the provider stopped answering; the answer is incomplete", 504
            ) from None
        except (aiohttp.ClientError, ConnectionError):
            raise self._cut() from None

    @staticmethod
    def _cut() -> StreamAbort:
        return StreamAbort("upstream_cut", "the provider's stream broke off; the answer is incomplete")

    def _too_long(self) -> StreamAbort:
        return StreamAbort(
            "stream_too_long",
            f"the stream ran longer than {self._limits.max_stream_s:g} s; it was cut off",
            504,
        )
