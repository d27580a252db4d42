"""The load report's plots: latency percentiles against offered load, direct vs proxy.

Agg backend (files only, no display); small PNGs (a few tens of KB) so a committed report stays
light. One figure per case, every proxy configuration of the case in it; streams get a second
panel with the time to first byte.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server, and no GUI toolkit needed

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from benchmarks.report_render import SIDES, SUSTAINED_P99_MS, CaseRun, Side, Step

COLOURS: dict[Side, str] = {"direct": "tab:blue", "proxy": "tab:red"}
WORKER_STYLES = ("-", "--", ":", "-.")
DPI = 80
# Labelled latencies on the log axis: the fake's 300 ms delay sits at the bottom of most plots.
Y_TICKS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500, 700, 1000, 1500, 2000, 3000, 5000, 10_000)


def _series(steps: Sequence[Step], attribute: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for step in steps:
        value = getattr(step.summary, attribute)
        if not math.isnan(value):
            xs.append(step.summary.offered_rps)
            ys.append(value)
    return xs, ys


def plot_case(runs: Sequence[CaseRun], path: Path) -> Path:
    """`runs`: one case at one or more proxy worker counts. Writes `path` and returns it."""
    streaming = any(r.streaming for r in runs)
    panels = [("accepted_p50_ms", "accepted_p99_ms", "latency to last byte")]
    if streaming:
        panels.append(("ttfb_p50_ms", "ttfb_p99_ms", "time to first byte"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), dpi=DPI, squeeze=False)
    for axis, (p50, p99, title) in zip(axes[0], panels, strict=True):
        for index, run in enumerate(sorted(runs, key=lambda r: r.proxy_workers)):
            for side in SIDES:
                if side == "direct" and index > 0:
                    continue  # the direct side does not depend on the proxy's workers
                steps = run.side_steps(side)
                label = side if side == "direct" or len(runs) == 1 else f"proxy w={run.proxy_workers}"
                style = WORKER_STYLES[index % len(WORKER_STYLES)]
                for attribute, marker, suffix in ((p50, "o", "p50"), (p99, "^", "p99")):
                    xs, ys = _series(steps, attribute)
                    if xs:
                        axis.plot(
                            xs,
                            ys,
                            style,
                            marker=marker,
                            markersize=4,
                            color=COLOURS[side],
                            alpha=1.0 if suffix == "p99" else 0.6,
                            label=f"{label} {suffix}",
                        )
        axis.axhline(SUSTAINED_P99_MS, color="grey", linewidth=0.8, linestyle=":")
        axis.set_xscale("log")
        axis.set_yscale("log")
        for scale in (axis.xaxis, axis.yaxis):
            # plain numbers (25, 300, 1000) rather than powers of ten
            scale.set_major_formatter(ScalarFormatter())
            scale.set_minor_formatter(NullFormatter())
        rates = sorted({s.summary.offered_rps for r in runs for s in r.steps})
        if rates:
            axis.set_xticks([round(r) for r in rates])
        axis.set_xlabel("offered requests/s")
        axis.set_ylabel("ms")
        low, high = axis.get_ylim()
        axis.set_yticks([t for t in Y_TICKS_MS if low <= t <= high])
        axis.set_title(f"{runs[0].case}: {title}", fontsize=9)
        axis.grid(True, which="both", linewidth=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def plot_all(runs: Sequence[CaseRun], directory: Path) -> dict[str, str]:
    """One PNG per case in `directory`; case name -> file name."""
    files: dict[str, str] = {}
    for case in dict.fromkeys(r.case for r in runs):
        name = f"{case}.png"
        plot_case([r for r in runs if r.case == case], directory / name)
        files[case] = name
    return files
