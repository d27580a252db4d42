"""Stream decoder throughput: one huge piece, and many small events, in network-sized reads.

    python -m benchmarks.codec_throughput [--sizes 8,25,100] [--read-kib 64] [--baseline REF]

For each size N (MB): an SSE line of N MB, a Gemini JSON-array element of N MB and (up to the
event-stream limit of 16 MiB) one Bedrock frame, each fed to its decoder in `--read-kib` reads;
then 200,000 small OpenAI-style chunk events, one per read and all in one read. Prints CPU
seconds of this thread and MB/s. `--baseline REF` times the SSE decoder of git revision REF too
(e.g. 0a00954, the last one before the linear decoder), imported from a temp dir: on lines up to
`--baseline-max-mb` and on one event per read only, since a quadratic decoder given 200,000
events in one read (or a 100 MB line) takes minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxy.codecs.eventstream import MAX_MESSAGE_LENGTH, EventStreamDecoder, encode_event
from proxy.codecs.json_array import JsonArraySplitter
from proxy.codecs.sse import SseDecoder

MB = 1_000_000
SMALL_EVENT = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":" hello"},"logprobs":null,"finish_reason":null}]}\n\n'
)
SMALL_EVENTS = 200_000


def timed(make: Callable[[], Any], reads: list[bytes]) -> float:
    decoder = make()
    started = time.thread_time()
    for read in reads:
        decoder.feed(read)
    return time.thread_time() - started


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def old_sse_decoder(revision: str) -> Callable[[], Any]:
    source = subprocess.run(
        ["git", "show", f"{revision}:proxy/codecs/sse.py"], check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "sse_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("sse_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sse_baseline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.SseDecoder  # type: ignore[no-any-return]


def report(name: str, seconds: float, size: int) -> None:
    print(f"{name:<48} {seconds:8.3f} s  {size / MB / max(seconds, 1e-9):9.1f} MB/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="8,25,100", help="huge piece sizes in MB, comma-separated")
    parser.add_argument("--read-kib", type=int, default=64, help="bytes per read, KiB")
    parser.add_argument("--baseline", help="also time the SSE decoder of this git revision")
    parser.add_argument("--baseline-max-mb", type=int, default=25, help="largest line for the baseline")
    args = parser.parse_args()
    read = args.read_kib * 1024
    baseline = old_sse_decoder(args.baseline) if args.baseline else None

    def new_sse() -> SseDecoder:
        return SseDecoder(1 << 40)

    def splitter() -> JsonArraySplitter:
        return JsonArraySplitter(1 << 40)

    for size in (int(s) * MB for s in args.sizes.split(",")):
        line = b"data: " + b"x" * size + b"\n\n"
        report(f"sse: one {size // MB} MB line", timed(new_sse, cut(line, read)), len(line))
        if baseline is not None and size <= args.baseline_max_mb * MB:
            seconds = timed(baseline, cut(line, read))
            report(f"sse@{args.baseline}: one {size // MB} MB line", seconds, len(line))
        element = b'[{"text":"' + b"x" * size + b'"}]'
        report(f"json array: one {size // MB} MB element", timed(splitter, cut(element, read)), len(element))
        if size < MAX_MESSAGE_LENGTH - 1000:
            frame = encode_event("chunk", b"x" * size)
            seconds = timed(EventStreamDecoder, cut(frame, read))
            report(f"event-stream: one {size // MB} MB frame", seconds, len(frame))
    stream = SMALL_EVENT * SMALL_EVENTS
    one_per_read = [SMALL_EVENT] * SMALL_EVENTS
    report(f"sse: {SMALL_EVENTS} events, one per read", timed(new_sse, one_per_read), len(stream))
    if baseline is not None:
        seconds = timed(baseline, one_per_read)
        report(f"sse@{args.baseline}: {SMALL_EVENTS} events, one per read", seconds, len(stream))
    report(f"sse: {SMALL_EVENTS} events in one read", timed(new_sse, [stream]), len(stream))


if __name__ == "__main__":
    main()
