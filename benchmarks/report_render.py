"""The load report's pure part: its numbers per step, tables, targets and Markdown.

`benchmarks/report.py` runs the load and hands over `CaseRun`s; nothing here sends a request, so
`tests/test_benchmark_report.py` can check the arithmetic and the verdicts on made-up steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.openloop import Summary, fmt, markdown_table

Side = Literal["direct", "proxy"]
SIDES: tuple[Side, ...] = ("direct", "proxy")

# A step is sustained when its accepted p99 stays under this and at most this share of the sent
# requests ended in anything but an accepted answer; a side stops climbing its ladder after the
# first step that is not.
SUSTAINED_P99_MS = 1000.0
SUSTAINED_NOT_ACCEPTED = 0.05

# The targets.
PASSTHROUGH_CASE = "openai-chat-nopii"  # fresh text: detection runs on every request
PASSTHROUGH_CACHED_CASE = "openai-chat-nopii-cached"  # repeated text: the detection cache answers
PASSTHROUGH_RATE = 500.0
PASSTHROUGH_P50_MS = 1.0
PASSTHROUGH_P99_MS = 5.0
STREAM_CASE = "openai-chat-pii-stream"
STREAM_TTFB_P50_MS = 1.0
SCALING_CASE = "openai-chat-pii"
# "Scales with workers": peak accepted throughput grows by at least 75 % of linear (1.5x at 2).
SCALING_EFFICIENCY = 0.75


@dataclass
class Step:
    """One side at one offered rate: a fixed open-loop schedule and what came back."""

    side: Side
    rate: float  # the ladder's nominal rate
    summary: Summary  # summary.offered_rps: what the (Poisson) schedule really offered
    proxy_cpu_cores: float | None = None  # proxy process tree CPU s per wall s (proxy side)
    load_1m: float | None = None  # the machine's 1-minute load average as the step ended

    @property
    def not_accepted(self) -> int:
        s = self.summary
        return s.sent - s.counts.get("accepted", 0)

    @property
    def sustained(self) -> bool:
        s = self.summary
        if s.sent == 0 or not s.counts.get("accepted"):
            return False
        return s.accepted_p99_ms <= SUSTAINED_P99_MS and self.not_accepted <= SUSTAINED_NOT_ACCEPTED * s.sent


@dataclass
class CaseRun:
    """One case's ladder at one proxy configuration (`server.workers`)."""

    case: str
    description: str
    streaming: bool
    proxy_workers: int
    steps: list[Step] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.case}, proxy workers={self.proxy_workers}"

    def step(self, side: Side, rate: float) -> Step | None:
        return next((s for s in self.steps if s.side == side and s.rate == rate), None)

    def rates(self) -> list[float]:
        return sorted({s.rate for s in self.steps})

    def side_steps(self, side: Side) -> list[Step]:
        return sorted((s for s in self.steps if s.side == side), key=lambda s: s.rate)


def runs_from_json(runs: Sequence[dict[str, Any]]) -> list[CaseRun]:
    """`CaseRun`s back from results.json (`asdict` of each), to render a report again. JSON has no
    NaN (orjson writes null), and every missing number in a summary is a float NaN."""
    found: list[CaseRun] = []
    for run in runs:
        steps = [
            Step(
                step["side"],
                step["rate"],
                Summary(**{k: math.nan if v is None else v for k, v in step["summary"].items()}),
                step.get("proxy_cpu_cores"),
                step.get("load_1m"),
            )
            for step in run["steps"]
        ]
        found.append(CaseRun(run["case"], run["description"], run["streaming"], run["proxy_workers"], steps))
    return found


def keeps_climbing(step: Step) -> bool:
    """Whether the side that ran `step` goes on to the next rate of the ladder."""
    return step.sustained


def highest_sustained(run: CaseRun, side: Side) -> float | None:
    """The highest ladder rate this side sustained, every lower rate sustained too; None if not
    even the first."""
    best: float | None = None
    for step in run.side_steps(side):
        if not step.sustained:
            break
        best = step.rate
    return best


def peak_throughput(run: CaseRun, side: Side) -> float | None:
    """The most accepted answers per second any step of this side achieved (an overloaded
    proxy sheds what it cannot take, so past its capacity this is the capacity)."""
    values = [s.summary.achieved_rps for s in run.side_steps(side) if not math.isnan(s.summary.achieved_rps)]
    return max(values) if values else None


def _difference(proxy: float | None, direct: float | None) -> float | None:
    if proxy is None or direct is None or math.isnan(proxy) or math.isnan(direct):
        return None
    return proxy - direct


def _triple(summary: Summary | None) -> str:
    if summary is None:
        return "-"
    return " / ".join(
        fmt(v, 1) for v in (summary.accepted_p50_ms, summary.accepted_p95_ms, summary.accepted_p99_ms)
    )


def _outcomes(step: Step | None) -> str:
    """Not accepted of sent, with what they were: e(rror) s(hed) t(imeout) d(ropped)."""
    if step is None:
        return "-"
    c = step.summary.counts
    parts = [f"{c.get(k, 0)}{k[0]}" for k in ("error", "shed", "timeout", "dropped") if c.get(k, 0)]
    return f"{step.not_accepted}/{step.summary.sent}" + (f" ({' '.join(parts)})" if parts else "")


def _load_of(step: Step | None) -> str:
    return "-" if step is None or step.load_1m is None else f"{step.load_1m:.1f}"


def _signed(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def case_table(run: CaseRun) -> str:
    """One row per ladder rate: both sides side by side, the proxy's overhead, the outcomes."""
    headers = [
        "offered/s",
        "achieved/s d",
        "achieved/s p",
        "direct p50/p95/p99 ms",
        "proxy p50/p95/p99 ms",
        "overhead p50 ms",
        "overhead p99 ms",
    ]
    if run.streaming:
        headers += ["ttfb p50/p99 d ms", "ttfb p50/p99 p ms", "ttfb overhead p50 ms"]
    headers += ["not accepted d", "not accepted p", "proxy CPU cores", "load 1m d / p"]
    rows: list[list[str]] = []
    for rate in run.rates():
        d, p = run.step("direct", rate), run.step("proxy", rate)
        ds, ps = (d.summary if d else None), (p.summary if p else None)
        offered = ps.offered_rps if ps else ds.offered_rps if ds else rate
        row = [
            fmt(offered, 1),
            fmt(ds.achieved_rps, 1) if ds else "-",
            fmt(ps.achieved_rps, 1) if ps else "-",
            _triple(ds),
            _triple(ps),
            _signed(_difference(ps and ps.accepted_p50_ms, ds and ds.accepted_p50_ms)),
            _signed(_difference(ps and ps.accepted_p99_ms, ds and ds.accepted_p99_ms)),
        ]
        if run.streaming:
            row += [
                f"{fmt(ds.ttfb_p50_ms, 1)} / {fmt(ds.ttfb_p99_ms, 1)}" if ds else "-",
                f"{fmt(ps.ttfb_p50_ms, 1)} / {fmt(ps.ttfb_p99_ms, 1)}" if ps else "-",
                _signed(_difference(ps and ps.ttfb_p50_ms, ds and ds.ttfb_p50_ms)),
            ]
        row += [
            _outcomes(d),
            _outcomes(p),
            fmt(p.proxy_cpu_cores, 2) if p and p.proxy_cpu_cores is not None else "-",
            f"{_load_of(d)} / {_load_of(p)}",
        ]
        rows.append(row)
    return markdown_table(headers, rows)


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    verdict: Literal["PASS", "FAIL", "n/a", "info"]


def _find(runs: Iterable[CaseRun], case: str, workers: int | None = None) -> CaseRun | None:
    return next((r for r in runs if r.case == case and (workers is None or r.proxy_workers == workers)), None)


def passthrough_targets(runs: Sequence[CaseRun], case: str = PASSTHROUGH_CASE) -> list[Target]:
    """One verdict per proxy configuration the case ran at (n/a when it did not run)."""
    found = [r for r in runs if r.case == case]
    return [passthrough_target(r, case) for r in found] or [passthrough_target(None, case)]


def passthrough_target(run: CaseRun | None, case: str = PASSTHROUGH_CASE) -> Target:
    name = (
        f"passthrough ({case}) at {PASSTHROUGH_RATE:g}/s: overhead p50 < "
        f"{PASSTHROUGH_P50_MS:g} ms and p99 < {PASSTHROUGH_P99_MS:g} ms"
    )
    if run is not None and run.proxy_workers != 1:
        name += f", proxy workers={run.proxy_workers}"
    if run is None or run.step("direct", PASSTHROUGH_RATE) is None:
        why = f"not measured ({PASSTHROUGH_RATE:g}/s not in the ladder, or the direct side stopped below)"
        return Target(name, why, "n/a")
    direct = run.step("direct", PASSTHROUGH_RATE)
    proxy = run.step("proxy", PASSTHROUGH_RATE)
    if proxy is None:
        best = highest_sustained(run, "proxy")
        return Target(name, f"the proxy stopped climbing below it (sustained {fmt(best, 0)}/s)", "FAIL")
    assert direct is not None
    p50 = _difference(proxy.summary.accepted_p50_ms, direct.summary.accepted_p50_ms)
    p99 = _difference(proxy.summary.accepted_p99_ms, direct.summary.accepted_p99_ms)
    ok = (
        p50 is not None
        and p99 is not None
        and p50 < PASSTHROUGH_P50_MS
        and p99 < PASSTHROUGH_P99_MS
        and proxy.sustained
    )
    extra = "" if proxy.sustained else f", not sustained ({_outcomes(proxy)} not accepted)"
    return Target(
        name, f"p50 {_signed(p50, 2)} ms, p99 {_signed(p99, 2)} ms{extra}", "PASS" if ok else "FAIL"
    )


def stream_ttfb_target(runs: Sequence[CaseRun]) -> Target:
    """At the lowest rate of the ladder: what the proxy adds to one stream's first words, not
    what queueing under load adds (the table shows that per rate)."""
    name = f"streaming ({STREAM_CASE}) adds < {STREAM_TTFB_P50_MS:g} ms to time to first byte (p50)"
    run = _find(runs, STREAM_CASE)
    rates = run.rates() if run else []
    if run is None or not rates:
        return Target(name, "not measured", "n/a")
    direct, proxy = run.step("direct", rates[0]), run.step("proxy", rates[0])
    added = _difference(proxy and proxy.summary.ttfb_p50_ms, direct and direct.summary.ttfb_p50_ms)
    if added is None:
        return Target(name, f"no time to first byte at {rates[0]:g}/s", "FAIL")
    verdict: Literal["PASS", "FAIL"] = "PASS" if added < STREAM_TTFB_P50_MS else "FAIL"
    assert direct is not None and proxy is not None
    # The prompt's detection comes before the first byte; what restoring adds comes after it.
    total = _difference(proxy.summary.accepted_p50_ms, direct.summary.accepted_p50_ms)
    after = _signed(total - added, 2) if total is not None else "-"
    return Target(
        name,
        f"{_signed(added, 2)} ms at {rates[0]:g}/s (after the first byte, to the last: {after} ms)",
        verdict,
    )


def scaling_target(runs: Sequence[CaseRun]) -> Target:
    name = (
        f"with detection ({SCALING_CASE}), throughput scales with the proxy's workers "
        f"(peak accepted/s at N workers >= {SCALING_EFFICIENCY:g} x N x at 1)"
    )
    found = sorted((r for r in runs if r.case == SCALING_CASE), key=lambda r: r.proxy_workers)
    base = next((r for r in found if r.proxy_workers == 1), None)
    others = [r for r in found if r.proxy_workers > 1]
    if base is None or not others:
        return Target(name, "needs runs at workers=1 and more (--proxy-workers 1,2)", "n/a")
    base_peak = peak_throughput(base, "proxy")
    parts = [f"1: {fmt(base_peak, 1)}/s (sustained {fmt(highest_sustained(base, 'proxy'), 0)}/s)"]
    ok = bool(base_peak)
    for run in others:
        peak = peak_throughput(run, "proxy")
        ratio = peak / base_peak if peak is not None and base_peak else None
        parts.append(
            f"{run.proxy_workers}: {fmt(peak, 1)}/s (sustained {fmt(highest_sustained(run, 'proxy'), 0)}/s), "
            f"ratio {fmt(ratio, 2)}"
        )
        ok = ok and ratio is not None and ratio >= SCALING_EFFICIENCY * run.proxy_workers
    return Target(name, "; ".join(parts), "PASS" if ok else "FAIL")


def _rate_note(best: float | None, top: float | None) -> str:
    if best is None:
        return "none"
    # At the top of the ladder the real limit is higher: the ladder did not go further.
    return f"{best:g}/s" + (" (top of the ladder)" if best == top else "")


def sustained_targets(runs: Sequence[CaseRun]) -> list[Target]:
    """The highest offered rate each case sustains with p99 under 1 s: a number, not a verdict."""
    found: list[Target] = []
    for run in runs:
        direct, proxy = highest_sustained(run, "direct"), highest_sustained(run, "proxy")
        top = max(run.rates()) if run.rates() else None
        ratio = proxy / direct if proxy and direct else None
        found.append(
            Target(
                f"highest offered rate sustained (p99 < 1 s, <= 5% not accepted): {run.title}",
                f"direct {_rate_note(direct, top)}, proxy {_rate_note(proxy, top)}, "
                f"proxy/direct {fmt(ratio, 2)}",
                "info",
            )
        )
    return found


def evaluate_targets(runs: Sequence[CaseRun]) -> list[Target]:
    return [
        *passthrough_targets(runs, PASSTHROUGH_CASE),
        *passthrough_targets(runs, PASSTHROUGH_CACHED_CASE),
        stream_ttfb_target(runs),
        scaling_target(runs),
        *sustained_targets(runs),
    ]


def targets_table(targets: Sequence[Target]) -> str:
    return markdown_table(
        ["target", "measured", "verdict"], [[t.name, t.measured, t.verdict] for t in targets]
    )


def _load(values: Sequence[float] | None) -> str:
    return "unknown" if not values else " / ".join(f"{v:.2f}" for v in values)


def render(meta: dict[str, Any], runs: Sequence[CaseRun], plots: dict[str, str]) -> str:
    """report.md: how it ran, the targets, then per case its table and plot (`plots`: run title
    or case name -> PNG file name beside report.md)."""
    targets = evaluate_targets(runs)
    lines = [
        f"# Consentry load report, {meta.get('date', '?')}",
        "",
        f"`python -m benchmarks.report {meta.get('argv', '')}`".replace(" `", "`"),
        "",
        f"- commit {meta.get('commit', '?')}, {meta.get('cpus', '?')} CPUs, "
        f"Python {meta.get('python', '?')}; run took {fmt(meta.get('elapsed_s', math.nan) / 60, 1)} min",
        f"- load average (1/5/15 min) at start {_load(meta.get('load_start'))}, at end "
        f"{_load(meta.get('load_end'))}: the machine is shared; the load generator, the fake upstream "
        "and the proxy run on the same cores",
        f"- fake upstream: OpenAI echo, answers after {meta.get('upstream_delay_s', '?')} s; streams in "
        f"{meta.get('stream_chunks', '?')} chunks of {meta.get('chunk_size', '?')} characters, "
        f"{meta.get('stream_gap_s', '?')} s apart",
        f"- load: open loop, {meta.get('arrivals', '?')} arrivals, {meta.get('step_s', '?')} s per rate "
        "and side, direct and proxy alternating at each rate; every prompt fresh (no detection cache "
        "hits); a side stops climbing after a rate with p99 > 1 s or > 5% not accepted",
        f"- proxy: `server.workers` {meta.get('proxy_workers', '?')}, `detection.workers` "
        f"{meta.get('detection_workers', '?')} ({meta.get('detection_note', '')}), log level "
        f"{meta.get('log_level', '?')}",
    ]
    for line in meta.get("proxy_resolved", []):
        lines.append(f"- {line}")
    for line in meta.get("detector_lines", []):
        lines.append(f"- {line}")
    for note in meta.get("notes", []):
        lines.append(f"- {note}")
    lines += ["", "## Targets", "", targets_table(targets), ""]
    lines += [
        "## How to read the tables",
        "",
        "Latencies in ms, from sending a request to its last byte, accepted answers only; `d` direct "
        "to the fake, `p` through the proxy. `offered/s`: what the step's schedule sent per second; "
        "`achieved/s`: accepted answers per second from the first send to the last answer (so a "
        "little under offered even when all is well: the last answers take the fake's delay). "
        "Overhead = proxy - direct at the same offered rate (the fake's delay cancels out). "
        "`not accepted`: sent requests that were not a correct 200 answer: e(rror), s(hed: 429/503), "
        "t(imeout), d(ropped connection). `-`: that side had stopped climbing. Time to first byte "
        "(streams): to the first event carrying answer text. `load 1m`: the machine's 1-minute load "
        "average as each side's step ended; above ~2 other work competed for the 2 cores.",
        "",
    ]
    for run in runs:
        lines += [f"## {run.title}", "", run.description, "", case_table(run), ""]
        notes = [n for step in run.steps for n in step_notes(step)]
        if notes:
            lines += [*notes, ""]
        plot = plots.get(run.title) or plots.get(run.case)
        if plot and f"]({plot})" not in "\n".join(lines):  # a case's plot once, under its first run
            lines += [f"![{run.case}]({plot})", ""]
    return "\n".join(lines).rstrip() + "\n"


def step_notes(step: Step) -> list[str]:
    s = step.summary
    found: list[str] = []
    if s.details:
        found.append("failures " + ", ".join(f"{k} x{n}" for k, n in s.details.items()))
    if s.client_cpu_util > 0.8:
        found.append(f"load generator CPU {s.client_cpu_util:.2f}: it may have been the bottleneck")
    if s.lag_p99_ms > 50:
        found.append(f"sends up to {s.lag_p99_ms:.0f} ms late (p99): the generator fell behind its schedule")
    return [f"- {step.side} {step.rate:g}/s: " + "; ".join(found)] if found else []
