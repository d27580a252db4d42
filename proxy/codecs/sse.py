"""Server-sent events: an incremental decoder and an encoder, used by every SSE provider stream."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SseEvent:
    """One event as fields in wire order; `data` lines are joined with newlines as the spec says."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    @property
    def event(self) -> str | None:
        for name, value in self.fields:
            if name == "event":
                return value
        return None

    @property
    def data(self) -> str | None:
        parts = [value for name, value in self.fields if name == "data"]
        return "\n".join(parts) if parts else None

    def with_data(self, data: str) -> SseEvent:
        """The same event with its data replaced, other fields kept in place."""
        out: list[tuple[str, str]] = []
        placed = False
        for name, value in self.fields:
            if name == "data":
                if not placed:
                    out.extend(("data", line) for line in data.split("\n"))
                    placed = True
                continue
            out.append((name, value))
        if not placed:
            out.extend(("data", line) for line in data.split("\n"))
        return SseEvent(out)

    def encode(self) -> bytes:
        lines = [f":{value}" if name == "" else f"{name}: {value}" for name, value in self.fields]
        return ("\n".join(lines) + "\n\n").encode()


class SseDecoder:
    """Splits a byte stream into events, wherever the network happened to cut it."""

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: list[tuple[str, str]] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            line, sep, rest = self._next_line()
            if not sep:
                break
            self._buffer = rest
            self._take_line(line, events)
        return events

    def finish(self) -> list[SseEvent]:
        """Events still buffered when the stream ends (a last event without its blank line)."""
        events: list[SseEvent] = []
        # The stream is over, so a CR held back in case an LF followed is a line ending after all.
        events.extend(self.feed(b"\n") if self._buffer.endswith(b"\r") else [])
        if self._buffer:
            self._take_line(self._buffer, events)
            self._buffer = b""
        if self._pending:
            events.append(SseEvent(self._pending))
            self._pending = []
        return events

    def _next_line(self) -> tuple[bytes, bytes, bytes]:
        buf = self._buffer
        lf = buf.find(b"\n")
        cr = buf.find(b"\r", 0, lf if lf != -1 else len(buf))
        if cr == -1:
            if lf == -1:
                return b"", b"", buf
            return buf[:lf], b"\n", buf[lf + 1 :]
        if cr + 1 == len(buf):
            return b"", b"", buf  # a lone CR at the end may be half of a CRLF: wait for more
        end = cr + 2 if buf[cr + 1] == 0x0A else cr + 1
        return buf[:cr], buf[cr:end], buf[end:]

    def _take_line(self, raw: bytes, events: list[SseEvent]) -> None:
        if not raw:
            if self._pending:
                events.append(SseEvent(self._pending))
                self._pending = []
            return
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            self._pending.append(("", line[1:]))
            return
        name, _, value = line.partition(":")
        self._pending.append((name, value[1:] if value.startswith(" ") else value))
