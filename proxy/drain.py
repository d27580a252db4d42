"""Requests in flight, and the drain that ends them on shutdown.

On SIGTERM the proxy stops taking new requests (`draining`), waits for the ones in flight - streams
included - until the drain deadline, then cuts what is left. A cut is a cancellation of the
request's task that the pipeline recognises (`was_cut`): it ends the request the way a failed stream
ends (the connection cut, or a 503 in the provider's shape when nothing was answered yet) and
records it with reason `shutdown`, so every answered request still has its sharing record before the
ledger is flushed. Any other cancellation keeps its meaning (the caller went away).
"""

from __future__ import annotations

import asyncio
import contextlib


class InFlight:
    def __init__(self) -> None:
        self.draining = False
        self._tasks: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._tasks)

    def enter(self) -> None:
        """The current task handles a request until `leave()`."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            self._idle.clear()

    def leave(self) -> None:
        task = asyncio.current_task()
        self._tasks.discard(task)  # type: ignore[arg-type]
        self._cut.discard(task)  # type: ignore[arg-type]
        if not self._tasks:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no request is in flight, False when `timeout_s` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._idle.wait()
        return self._idle.is_set()

    def cut(self) -> int:
        """Cancels every request still in flight as a shutdown cut; the number cut."""
        for task in self._tasks - self._cut:
            self._cut.add(task)
            task.cancel()
        return len(self._cut)

    def was_cut(self) -> bool:
        """Inside a request's `except CancelledError`: True (and the cancellation withdrawn, so the
        request can still answer and be recorded) when it was cut by the drain."""
        task = asyncio.current_task()
        if task is None or task not in self._cut:
            return False
        self._cut.discard(task)
        task.uncancel()
        return True
