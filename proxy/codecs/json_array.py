"""A top-level JSON array of objects streamed element by element: an incremental splitter.

Google's `streamGenerateContent` (without `alt=sse`) answers with one JSON array whose elements
are sent as they are generated. The splitter cuts the bytes, arriving in arbitrary pieces, into
elements as each one completes, and hands out every other byte (whitespace, '[', ',', ']') as it
came, so the stream can be relayed byte for byte around rewritten elements.

Linear in the bytes fed: scanning resumes where it stopped, and the buffer holds only the
element still arriving, compacted once per `feed`. An element larger than `max_element_bytes`
raises `PieceTooLarge` while it is still arriving.

This module is pure: no I/O, no asyncio, no JSON parsing of the elements themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES, PieceTooLarge

__all__ = ["ArrayPiece", "JsonArraySplitter"]


@dataclass(frozen=True)
class ArrayPiece:
    kind: str  # "gap" (whitespace, '[' and ','), "element" (one whole value), "end" (the closing ']')
    raw: bytes


_STRUCTURAL = re.compile(rb'[\[\]{}"]')
_STRING_STOP = re.compile(rb'["\\]')
_WHITESPACE = frozenset(b" \t\r\n")


class JsonArraySplitter:
    """Cuts a top-level JSON array of objects, arriving in arbitrary pieces, into its elements as
    each one completes. Raises ValueError when the bytes are not such an array."""

    def __init__(self, max_element_bytes: int = DEFAULT_MAX_PIECE_BYTES) -> None:
        self._max = max_element_bytes
        self._buf = bytearray()
        self._resume = 0  # offset in _buf where scanning continues
        self._state = "before"  # before | open | element | closed
        self._expect = "value_or_end"  # inside the array: value_or_end | comma_or_end | value
        self._depth = 0
        self._in_string = False

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    def feed(self, chunk: bytes) -> list[ArrayPiece]:
        buf = self._buf
        buf.extend(chunk)
        pieces: list[ArrayPiece] = []
        start = 0  # first byte not yet handed out
        i = self._resume
        n = len(buf)
        while i < n:
            if self._state == "element":
                i = self._scan_element(buf, i)
                if i - start > self._max:
                    raise PieceTooLarge("a JSON array element", self._max)
                if self._state == "element":
                    break  # the element is not complete yet
                pieces.append(ArrayPiece("element", bytes(buf[start:i])))
                start = i
                continue
            byte = buf[i]
            if byte in _WHITESPACE:
                i += 1
            elif self._state == "closed":
                raise ValueError("data after the end of the array")
            elif self._state == "before":
                if byte != ord("["):
                    raise ValueError("the answer is not a JSON array")
                self._state = "open"
                i += 1
            elif byte == ord(","):
                if self._expect != "comma_or_end":
                    raise ValueError("misplaced ',' in the array")
                self._expect = "value"
                i += 1
            elif byte == ord("]"):
                if self._expect == "value":
                    raise ValueError("trailing ',' in the array")
                pieces.append(ArrayPiece("end", bytes(buf[start : i + 1])))
                self._state = "closed"
                i += 1
                start = i
            elif byte in b"{[":
                if self._expect == "comma_or_end":
                    raise ValueError("missing ',' between array elements")
                if start < i:
                    pieces.append(ArrayPiece("gap", bytes(buf[start:i])))
                start = i
                self._state, self._expect = "element", "comma_or_end"
                self._depth, self._in_string = 0, False
            else:
                raise ValueError("array elements must be objects")
        if self._state != "element" and start < i:
            pieces.append(ArrayPiece("gap", bytes(buf[start:i])))
            start = i
        del buf[:start]
        self._resume = i - start
        return pieces

    def _scan_element(self, buf: bytearray, i: int) -> int:
        """Scan from i; the offset just past the element if it completed, else where to resume."""
        n = len(buf)
        while i < n:
            if self._in_string:
                found = _STRING_STOP.search(buf, i)
                if found is None:
                    return n
                if found.group() == b"\\":
                    if found.end() >= n:
                        return found.start()  # the escaped byte has not arrived yet
                    i = found.end() + 1
                    continue
                self._in_string = False
                i = found.end()
                continue
            found = _STRUCTURAL.search(buf, i)
            if found is None:
                return n
            i = found.end()
            token = found.group()
            if token == b'"':
                self._in_string = True
            elif token in (b"{", b"["):
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._state = "open"
                    return i
        return i
