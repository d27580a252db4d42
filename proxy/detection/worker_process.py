"""One detector worker process, and the frames it speaks with the proxy over its own socket.

The worker loads the model once, says `("ready", entities)`, then answers one job at a time:
`(texts, entities, use_ner)` in, `("ok", spans)` or `("error", exception type name)` out. `None`
in, or the proxy's end closing, ends it. A frame is an 8-byte big-endian length and a pickle;
both ends are our own code, so pickle is safe here (the socket is a private socketpair).

The proxy's side (`workers.ProcessPool`) reads with asyncio streams; this side blocks, because a
worker does nothing else.
"""

from __future__ import annotations

import pickle
import signal
import socket
import struct
from collections.abc import Sequence
from typing import Any, BinaryIO

from proxy import analysis

_LENGTH = struct.Struct(">Q")


def encode_frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def decode_length(header: bytes) -> int:
    return int(_LENGTH.unpack(header)[0])


FRAME_HEADER_BYTES = _LENGTH.size


def _read_frame(stream: BinaryIO) -> Any:
    header = stream.read(FRAME_HEADER_BYTES)
    if len(header) < FRAME_HEADER_BYTES:
        return None  # the proxy closed its end
    size = decode_length(header)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


def serve(sock: socket.socket, model_name: str, phone_regions: Sequence[str] | None) -> None:
    """The worker's whole life (the target of its spawned process)."""
    # Ctrl-C in a terminal reaches the whole process group; the proxy decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    analysis.worker_init(model_name, phone_regions)
    stream = sock.makefile("rb")
    sock.sendall(encode_frame(("ready", analysis.worker_entities())))
    while (job := _read_frame(stream)) is not None:
        texts, entities, use_ner = job
        try:
            reply: tuple[str, Any] = ("ok", analysis.worker_analyze(texts, entities, use_ner))
        except Exception as exc:  # a failure inside Presidio/spaCy: the proxy fails this job closed
            reply = ("error", type(exc).__name__)
        sock.sendall(encode_frame(reply))
