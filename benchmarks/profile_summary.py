"""Where a proxy process spends its time: a py-spy profile (raw, collapsed stacks) summed by stage.

    py-spy record --format raw --rate 250 --duration 15 --pid PROXY_PID -o proxy.stacks
    python -m benchmarks.profile_summary proxy.stacks

A sample is charged to the stage of the innermost frame that belongs to one (a JSON dump called
from the metrics code is metrics time; from the pipeline, pipeline time); idle samples (the event
loop waiting in epoll/select) are counted apart, so the shares are of busy time. The second table
lists the functions with the most samples at the top of the stack (self time)."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# (stage, pattern on a frame's "function (file:line)"), innermost match wins, checked in order.
STAGES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("metrics (prometheus-client)", r"prometheus_client/|proxy/metrics\.py"),
        ("logging", r"/logging/|proxy/logs\.py"),
        ("sharing ledger", r"proxy/ledger/"),
        ("consent lookup", r"proxy/consents/|rules/"),
        ("detection and its cache", r"proxy/detection/|proxy/analysis\.py|proxy/span_cache\.py"),
        ("body walk, masking, restoring", r"proxy/(textslots|transform|restore|formats/|codecs/)"),
        ("provider adapters", r"proxy/providers/"),
        ("upstream client (aiohttp)", r"aiohttp/(client|connector|streams)"),
        ("HTTP server (aiohttp)", r"aiohttp/(web_|http_|base_protocol|helpers|_http)"),
        ("pipeline", r"proxy/pipeline\.py|proxy/relay\.py|proxy/upstream\.py"),
        ("event loop (asyncio)", r"asyncio/|uvloop"),
    )
)
IDLE = re.compile(r"\b(select|poll|epoll|_run_once.*select)\b|selectors\.py")
LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


def parse(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    samples = []
    for line in lines:
        match = LINE.match(line.rstrip("\n"))
        if match:
            samples.append((match.group("stack").split(";"), int(match.group("count"))))
    return samples


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in STAGES:
            if pattern.search(frame):
                return name
    return "other"


def summarise(samples: list[tuple[list[str], int]]) -> tuple[Counter[str], Counter[str], int]:
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    idle = 0
    for frames, count in samples:
        if frames and IDLE.search(frames[-1]):
            idle += count
            continue
        stages[stage_of(frames)] += count
        if frames:
            leaves[re.sub(r" \((.*/)?", " (", frames[-1])] += count
    return stages, leaves, idle


def report(samples: list[tuple[list[str], int]], top: int = 20) -> str:
    stages, leaves, idle = summarise(samples)
    busy = sum(stages.values())
    total = busy + idle
    out = [
        f"{total} samples, {busy} busy ({busy / total:.0%}), {idle} idle" if total else "no samples",
        "",
        "| stage | share of busy time |",
        "|---|---|",
    ]
    out += [f"| {name} | {count / busy:.1%} |" for name, count in stages.most_common()] if busy else []
    out += ["", "| function (self time) | share of busy time |", "|---|---|"]
    out += [f"| `{name}` | {count / busy:.1%} |" for name, count in leaves.most_common(top)] if busy else []
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    print(report(parse(args.stacks.read_text().splitlines()), args.top))


if __name__ == "__main__":
    main()
