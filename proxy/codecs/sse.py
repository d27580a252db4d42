"""Server-sent events: an incremental decoder and an encoder, used by every SSE provider stream.

The decoder works in time linear in the bytes it is fed, however the network cuts them and
however long a line is: each byte is searched for a CR and for an LF at most once (cursors
remember where each search stopped), and the buffer is compacted once per `feed`. An event larger than
`max_event_bytes` raises `PieceTooLarge` while it is still arriving, so a provider sending an
endless line costs the proxy at most that much memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES, PieceTooLarge

_CR = 0x0D
_LF = 0x0A


@dataclass
class SseEvent:
    """One event as fields in wire order; `data` lines are joined with newlines as the spec says.

    `raw` is the event exactly as it came off the wire (blank line included) when the decoder
    read it whole: `encode()` gives those very bytes back, so an event relayed untouched is
    byte-identical. Events built or changed by the proxy have none and are encoded from `fields`.
    """

    fields: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes | None = field(default=None, compare=False, repr=False)

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
        if self.raw is not None:
            return self.raw
        lines = [f":{value}" if name == "" else f"{name}: {value}" for name, value in self.fields]
        return ("\n".join(lines) + "\n\n").encode()


# Above this, a piece is copied out of the buffer through a memoryview: once, instead of once
# into a slice and again into its result. Below it, the slice is cheaper than the view.
_VIEW_FROM = 64 * 1024


def _text(buf: bytearray, start: int, end: int) -> str:
    if end - start < _VIEW_FROM:
        return buf[start:end].decode("utf-8", errors="replace")
    with memoryview(buf) as view:
        return str(view[start:end], "utf-8", "replace")


def _copy(buf: bytearray, start: int, end: int) -> bytes:
    if end - start < _VIEW_FROM:
        return bytes(buf[start:end])
    with memoryview(buf) as view:
        return bytes(view[start:end])


class SseDecoder:
    """Splits a byte stream into events, wherever the network happened to cut it.

    The buffer holds only the event still arriving: `_event_start`, `_line_start` and `_scan`
    are offsets into it (where that event began, where the current line began, and where the
    search for the next line ending goes on). `_next_lf` is the next LF at or after `_scan` once
    found, and no LF lies before `_lf_clear`: a stream ending its lines with CR alone must not
    make every line search the rest of the buffer for an LF.
    """

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES) -> None:
        self._buffer = bytearray()
        self._event_start = 0
        self._line_start = 0
        self._scan = 0
        self._next_lf = -1
        self._lf_clear = 0
        self._pending: list[tuple[str, str]] = []
        self._max = max_event_bytes
        self._failed = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._failed:
            raise PieceTooLarge("an SSE event", self._max)
        buf = self._buffer
        buf += chunk
        size = len(buf)
        events: list[SseEvent] = []
        # The cursors live in locals while the loop runs: it runs once per line of every event.
        scan, line_start, next_lf, lf_clear = self._scan, self._line_start, self._next_lf, self._lf_clear
        find = buf.find
        while scan < size:
            if next_lf < scan:
                next_lf = find(b"\n", scan if scan > lf_clear else lf_clear)
                if next_lf < 0:
                    lf_clear = size
            cr = find(b"\r", scan, next_lf if next_lf >= 0 else size) if next_lf != scan else -1
            if cr >= 0:
                if cr + 1 == size:
                    scan = cr  # a lone CR at the end may be half of a CRLF: wait for more
                    break
                end, after = cr, cr + 2 if buf[cr + 1] == _LF else cr + 1
            elif next_lf >= 0:
                end, after = next_lf, next_lf + 1
            else:
                scan = size
                break
            if end > line_start:
                self._take_field(_text(buf, line_start, end))
            elif self._pending:
                # A blank line ends the event.
                if after - self._event_start > self._max:
                    self._fail()
                events.append(SseEvent(self._pending, _copy(buf, self._event_start, after)))
                self._pending = []
                self._event_start = after
            else:
                self._event_start = after  # blank lines between events belong to none
            line_start = scan = after
        self._scan, self._line_start, self._next_lf, self._lf_clear = scan, line_start, next_lf, lf_clear
        if size - self._event_start > self._max:
            self._fail()
        self._compact()
        return events

    def finish(self) -> list[SseEvent]:
        """Events still buffered when the stream ends (a last event without its blank line)."""
        # The stream is over, so a CR held back in case an LF followed is a line ending after all.
        events = self.feed(b"\n") if self._buffer.endswith(b"\r") else []
        if self._line_start < len(self._buffer):
            self._take_field(_text(self._buffer, self._line_start, len(self._buffer)))
        if self._pending:
            # No blank line came: encoded afresh, with one.
            events.append(SseEvent(self._pending))
            self._pending = []
        self._buffer.clear()
        self._event_start = self._line_start = self._scan = self._lf_clear = 0
        self._next_lf = -1
        return events

    def _take_field(self, line: str) -> None:
        if line.startswith(":"):
            self._pending.append(("", line[1:]))
            return
        colon = line.find(":")
        if colon < 0:
            self._pending.append((line, ""))
            return
        start = colon + 2 if line.startswith(" ", colon + 1) else colon + 1
        self._pending.append((line[:colon], line[start:]))

    def _compact(self) -> None:
        # Once per feed, never per line: dropping a bytearray's head is cheap, but doing it for
        # every event of a large read would still copy the rest of the read each time.
        start = self._event_start
        if start:
            del self._buffer[:start]
            self._event_start = 0
            self._line_start -= start
            self._scan -= start
            self._lf_clear = self._lf_clear - start if self._lf_clear > start else 0
            if self._next_lf >= 0:
                self._next_lf -= start

    def _fail(self) -> None:
        # The event boundary is lost with the dropped bytes: the decoder stays failed.
        self._failed = True
        self._buffer.clear()
        self._pending = []
        raise PieceTooLarge("an SSE event", self._max)
