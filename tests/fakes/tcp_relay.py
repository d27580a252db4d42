"""A TCP relay in front of a real server (PostgreSQL) that a test can cut and restore: the
network failing between a replica and its database, without touching the database itself."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.up = True

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def dsn(self, database: str = "test", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._connections.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.close()
            self._connections.discard(sink)

    def cut(self) -> None:
        """Every open connection dropped; new ones refused until `restore()`."""
        self.up = False
        for writer in list(self._connections):
            transport = writer.transport
            transport.abort()
        self._connections.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()


class RelayThread:
    """A CuttableRelay on its own event loop in a daemon thread, for synchronous tests."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import threading

        self._loop = asyncio.new_event_loop()
        self.relay = CuttableRelay(target_host, target_port)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="tcp-relay")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.relay.start(), self._loop).result(10)

    def dsn(self, database: str = "test", user: str = "postgres") -> str:
        return self.relay.dsn(database, user)

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self.relay.cut)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(self.relay.restore)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.relay.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
