"""Noticing at once that the caller has gone, also while the provider says nothing.

aiohttp does not cancel a handler when its client disconnects, and a handler only learns of it
when a write fails: while a provider is silent (thinking, stalled, or not yet sending headers),
nothing is written, so a caller that left would keep the provider's connection open, and its
tokens being generated, until some timeout blamed the provider. Whatever the proxy awaits from a
provider is therefore raced against the caller's connection closing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

__all__ = ["CHECK_INTERVAL_S", "ClientGone", "client_gone", "unless_client_leaves"]

T = TypeVar("T")

# How often a wait on the provider looks at the caller's connection. aiohttp gives a handler no
# event for a lost connection, only the transport's state; a few checks a second per waiting
# request cost nothing next to what the wait itself holds.
CHECK_INTERVAL_S = 0.2


class ClientGone(Exception):
    """The caller's connection closed before its answer was complete."""


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class _Watch:
    """Looks at the caller's connection every CHECK_INTERVAL_S and cancels the waiting task once the
    caller has gone. An object rather than a closure: a closure that re-arms its own timer refers
    to itself, and every request would leave a reference cycle (its task, request and response
    with it) for the cyclic collector, whose full passes then paused the loop for 50-130 ms."""

    __slots__ = ("gone", "handle", "loop", "request", "task")

    def __init__(self, request: web.BaseRequest, task: asyncio.Task[object]) -> None:
        self.request: web.BaseRequest | None = request
        self.task: asyncio.Task[object] | None = task
        self.loop = asyncio.get_running_loop()
        self.gone = False
        self.handle: asyncio.TimerHandle | None = self.loop.call_later(CHECK_INTERVAL_S, self)

    def __call__(self) -> None:
        if self.request is None or self.task is None:
            return
        if client_gone(self.request):
            self.gone = True
            self.handle = None
            self.task.cancel()
        else:
            self.handle = self.loop.call_later(CHECK_INTERVAL_S, self)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        # A cancelled timer may keep its callback (uvloop does): nothing here points back.
        self.handle = None
        self.request = None
        self.task = None


async def unless_client_leaves(request: web.BaseRequest, awaitable: Awaitable[T]) -> T:
    """The result of `awaitable`, or ClientGone as soon as the caller's connection closes; then
    `awaitable` is cancelled, which makes the upstream client drop its connection.

    Awaited in the calling task, with a timer that looks at the connection (`_Watch`): no second
    task and no `asyncio.wait` per call (they were a measurable share of a cached request's cost,
    see benchmarks/README.md)."""
    task = asyncio.current_task()
    if task is None:  # not in a task: nothing to cancel, nothing to watch
        return await awaitable
    watch = _Watch(request, task)
    try:
        return await awaitable
    except asyncio.CancelledError:
        # Ours: the caller left. Anyone else's cancellation (shutdown) stays a cancellation.
        if watch.gone and task.uncancel() == 0:
            raise ClientGone from None
        raise
    finally:
        watch.stop()
