"""The one size bound every stream codec enforces: no single event, array element or frame may
grow past a configured number of bytes.

A codec has to hold a piece until it is complete; without a bound, one endless SSE line or JSON
element from a broken (or hostile) upstream grows the proxy's memory without limit. Codecs raise
`PieceTooLarge` as soon as the piece they are holding passes the bound, before it completes.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_PIECE_BYTES", "PieceTooLarge"]

# Well above any event providers send (a Responses `response.completed` event repeats the whole
# answer; Gemini sends generated images inline), and the event-stream specification's own frame
# limit.
DEFAULT_MAX_PIECE_BYTES = 16 * 1024 * 1024


class PieceTooLarge(ValueError):
    """One event, element or frame is larger than the codec's bound; the stream cannot go on."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(f"{kind} larger than {limit} bytes")
        self.limit = limit
