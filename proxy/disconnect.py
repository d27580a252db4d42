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


async def unless_client_leaves(request: web.BaseRequest, awaitable: Awaitable[T]) -> T:
    """The result of `awaitable`, or ClientGone as soon as the caller's connection closes; then
    `awaitable` is cancelled, which makes the upstream client drop its connection."""
    task = asyncio.ensure_future(awaitable)
    try:
        while not task.done():
            await asyncio.wait((task,), timeout=CHECK_INTERVAL_S)
            if not task.done() and client_gone(request):
                raise ClientGone
        return task.result()
    finally:
        if not task.done():
            task.cancel()
