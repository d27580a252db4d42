"""The load report's pure parts (benchmarks/report_render.py, report_plots.py): tables, when a side
stops climbing, the targets' verdicts and the plots, on made-up steps. No load is sent."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import orjson
import pytest
import yaml

from benchmarks.cases import select_cases, variant_sentence
from benchmarks.openloop import OUTCOMES, Summary, proxy_config
from benchmarks.report import LADDERS, QUICK_LADDERS, parse_args, plan, render_again, resolved_settings
from benchmarks.report_plots import plot_all
from benchmarks.report_render import (
    PASSTHROUGH_CACHED_CASE,
    PASSTHROUGH_CASE,
    SCALING_CASE,
    STREAM_CASE,
    CaseRun,
    Side,
    Step,
    case_table,
    evaluate_targets,
    highest_sustained,
    keeps_climbing,
    peak_throughput,
    render,
    runs_from_json,
)


def summary(
    rate: float,
    p50: float,
    p99: float,
    *,
    sent: int = 1000,
    shed: int = 0,
    errors: int = 0,
    ttfb: tuple[float, float] | None = None,
) -> Summary:
    counts = dict.fromkeys(OUTCOMES, 0)
    counts.update(accepted=sent - shed - errors, shed=shed, error=errors)
    return Summary(
        offered_rps=rate,
        planned=sent,
        sent=sent,
        span_s=sent / rate,
        counts=counts,
        achieved_rps=(sent - shed - errors) / (sent / rate),
        accepted_p50_ms=p50,
        accepted_p99_ms=p99,
        shed_429=shed,
        shed_503=0,
        shed_without_retry_after=0,
        shed_p50_ms=math.nan,
        shed_p99_ms=math.nan,
        lag_p99_ms=1.0,
        client_cpu_util=0.3,
        details={},
        accepted_p95_ms=(p50 + p99) / 2,
        ttfb_p50_ms=ttfb[0] if ttfb else math.nan,
        ttfb_p99_ms=ttfb[1] if ttfb else math.nan,
    )


def step(side: Side, rate: float, p50: float, p99: float, **kwargs: object) -> Step:
    return Step(side, rate, summary(rate, p50, p99, **kwargs))  # type: ignore[arg-type]


def passthrough_run(proxy_p50_at_500: float, proxy_p99_at_500: float) -> CaseRun:
    run = CaseRun(PASSTHROUGH_CASE, "no personal data", False, 1)
    for rate in (100, 500):
        run.steps.append(step("direct", rate, 301.0, 305.0))
    run.steps.append(step("proxy", 100, 301.5, 306.0))
    run.steps.append(step("proxy", 500, 301.0 + proxy_p50_at_500, 305.0 + proxy_p99_at_500))
    return run


def stream_run(proxy_ttfb_p50: float) -> CaseRun:
    run = CaseRun(STREAM_CASE, "streams", True, 1)
    run.steps.append(step("direct", 10, 310.0, 320.0, ttfb=(301.0, 304.0)))
    run.steps.append(step("proxy", 10, 350.0, 380.0, ttfb=(301.0 + proxy_ttfb_p50, 330.0)))
    return run


def scaling_run(workers: int, peak: float) -> CaseRun:
    run = CaseRun(SCALING_CASE, "1 KB PII", False, workers)
    run.steps.append(step("proxy", 10, 330.0, 380.0, sent=100))
    # overloaded: offered 100/s for 10 s, `peak`/s accepted, the rest shed
    run.steps.append(step("proxy", 100, 500.0, 900.0, sent=1000, shed=1000 - int(peak * 10)))
    return run


def test_a_step_is_sustained_under_one_second_p99_and_five_percent_not_accepted() -> None:
    assert keeps_climbing(step("proxy", 50, 300, 999))
    assert not keeps_climbing(step("proxy", 50, 300, 1001))
    assert keeps_climbing(step("proxy", 50, 300, 400, sent=1000, shed=50))
    assert not keeps_climbing(step("proxy", 50, 300, 400, sent=1000, shed=40, errors=11))
    assert not keeps_climbing(step("proxy", 50, 300, 400, sent=10, shed=10))  # nothing accepted


def test_highest_sustained_rate_needs_every_lower_rate_sustained() -> None:
    run = CaseRun("c", "", False, 1)
    run.steps += [step("proxy", 10, 300, 400), step("proxy", 20, 300, 1500), step("proxy", 40, 300, 400)]
    run.steps += [step("direct", 10, 300, 400), step("direct", 20, 300, 400)]
    assert highest_sustained(run, "proxy") == 10
    assert highest_sustained(run, "direct") == 20
    assert peak_throughput(run, "proxy") == pytest.approx(40)
    first_fails = CaseRun("c", "", False, 1, [step("proxy", 10, 300, 2000)])
    assert highest_sustained(first_fails, "proxy") is None


def test_the_table_puts_both_sides_and_the_overhead_in_one_row() -> None:
    run = passthrough_run(0.4, 3.0)
    run.steps.append(step("direct", 800, 302.0, 310.0))  # the proxy stopped climbing before 800
    table = case_table(run).splitlines()
    assert len(table) == 2 + 3
    # no "|" inside a cell: every row has as many columns as the header
    assert len({line.count("|") for line in table}) == 1
    row_500 = next(line for line in table if line.startswith("| 500.0"))
    assert "| +0.4 " in row_500 and "| +3.0 " in row_500
    assert "301.0 / 303.0 / 305.0" in row_500  # direct p50 / p95 / p99
    assert row_500.count("| 0/1000 ") == 2
    row_800 = next(line for line in table if line.startswith("| 800.0"))
    assert row_800.count("| - ") == 7 and "| 0/1000 " in row_800
    streaming = case_table(stream_run(0.5))
    assert len({line.count("|") for line in streaming.splitlines()}) == 1
    assert "ttfb p50/p99 d ms" in streaming and "+0.5" in streaming
    shed = CaseRun("c", "", False, 1, [step("proxy", 100, 300, 400, shed=30, errors=2)])
    assert "32/1000 (2e 30s)" in case_table(shed)
    shed.steps[0].load_1m = 2.345
    assert case_table(shed).splitlines()[-1].split("|")[-2].strip() == "- / 2.3"


def test_targets_pass_and_fail_on_their_thresholds() -> None:
    good = evaluate_targets(
        [passthrough_run(0.9, 4.9), stream_run(0.9), scaling_run(1, 30), scaling_run(2, 50)]
    )
    assert [t.verdict for t in good[:4]] == ["PASS", "n/a", "PASS", "PASS"], good
    assert "ratio 1.67" in good[3].measured
    assert good[2].measured == "+0.90 ms at 10/s (after the first byte, to the last: +39.10 ms)"
    bad = evaluate_targets(
        [passthrough_run(1.1, 1.0), stream_run(1.5), scaling_run(1, 30), scaling_run(2, 40)]
    )
    assert [t.verdict for t in bad[:4]] == ["FAIL", "n/a", "FAIL", "FAIL"], bad
    assert evaluate_targets([passthrough_run(0.1, 5.5)])[0].verdict == "FAIL"
    missing = evaluate_targets([])
    assert [t.verdict for t in missing] == ["n/a", "n/a", "n/a", "n/a"]
    only_one = evaluate_targets([scaling_run(1, 30)])
    assert only_one[3].verdict == "n/a"
    cached = passthrough_run(0.2, 0.9)
    cached.case = PASSTHROUGH_CACHED_CASE
    assert [t.verdict for t in evaluate_targets([cached])[:2]] == ["n/a", "PASS"]
    at_two = passthrough_run(2.0, 9.0)
    at_two.case, at_two.proxy_workers = PASSTHROUGH_CACHED_CASE, 2
    both = evaluate_targets([cached, at_two])
    assert [t.verdict for t in both[:3]] == ["n/a", "PASS", "FAIL"] and "workers=2" in both[2].name


def test_passthrough_fails_when_the_proxy_never_reached_the_rate() -> None:
    run = passthrough_run(0.1, 0.1)
    run.steps = [s for s in run.steps if not (s.side == "proxy" and s.rate == 500)]
    (target, *_) = evaluate_targets([run])
    assert target.verdict == "FAIL" and "stopped climbing" in target.measured


def test_sustained_rates_are_reported_per_case_and_worker_count() -> None:
    targets = evaluate_targets([scaling_run(1, 30), scaling_run(2, 50)])
    info = [t for t in targets if t.verdict == "info"]
    assert len(info) == 2
    assert (
        "workers=2" in info[1].name and "proxy 10/s" in info[1].measured and "direct none" in info[1].measured
    )


def test_render_and_plots(tmp_path: Path) -> None:
    runs = [passthrough_run(0.5, 2.0), stream_run(0.5), scaling_run(1, 30), scaling_run(2, 50)]
    plots = plot_all(runs, tmp_path)
    assert sorted(plots) == sorted({PASSTHROUGH_CASE, STREAM_CASE, SCALING_CASE})
    for name in plots.values():
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) < 150_000
    meta = {
        "date": "2026-01-01",
        "load_start": [1.0, 0.5, 0.2],
        "load_end": [2.0, 1.0, 0.5],
        "elapsed_s": 60.0,
    }
    text = render(meta, runs, plots)
    assert "load average (1/5/15 min) at start 1.00 / 0.50 / 0.20, at end 2.00 / 1.00 / 0.50" in text
    assert text.count(f"]({SCALING_CASE}.png)") == 1
    assert "## openai-chat-pii, proxy workers=2" in text
    assert "| PASS" in text


def test_the_plan_runs_the_scaling_case_at_every_worker_count() -> None:
    settings, _ = parse_args(["--proxy-workers", "1,2"])
    assert plan(settings) == [(1, list(LADDERS)), (2, [PASSTHROUGH_CACHED_CASE, SCALING_CASE])]
    quick, _ = parse_args(["--quick"])
    assert quick.proxy_workers == (1,) and quick.ladders == QUICK_LADDERS
    assert 500 in LADDERS[PASSTHROUGH_CASE] and 500 in QUICK_LADDERS[PASSTHROUGH_CASE]
    custom, _ = parse_args(
        ["--case", PASSTHROUGH_CASE, "--rates", f"{PASSTHROUGH_CASE}=50,10", "--chunk-size", "11"]
    )
    assert custom.ladders == {PASSTHROUGH_CASE: (10.0, 50.0)} and custom.chunk_size == 11
    with pytest.raises(SystemExit):
        parse_args(["--case", "no-such-case"])


def test_the_16k_case_is_fresh_per_request_and_runs_only_when_named() -> None:
    (case,) = select_cases(["openai-chat-pii-16k"])
    assert case not in select_cases(None) and case in select_cases(None, include_slow=True)
    first, second = case.body(variant_sentence(1)), case.body(variant_sentence(2))
    assert 15_500 < len(first) < 17_000 and first != second
    assert len(orjson.loads(first)["messages"]) == 2  # one user text: one detection cache segment


def test_a_report_renders_again_from_its_results_json(tmp_path: Path) -> None:
    runs = [passthrough_run(0.5, 2.0), stream_run(0.5), scaling_run(1, 30)]
    runs[0].steps[0].summary.accepted_p95_ms = math.nan  # NaN goes to JSON as null
    document = {"meta": {"date": "x"}, "runs": [asdict(r) for r in runs]}
    (tmp_path / "results.json").write_bytes(orjson.dumps(document))
    assert render_again(tmp_path) == 0
    again = runs_from_json(orjson.loads((tmp_path / "results.json").read_bytes())["runs"])
    assert math.isnan(again[0].steps[0].summary.accepted_p95_ms)
    assert case_table(again[1]) == case_table(runs[1])
    plots = {r.case: f"{r.case}.png" for r in runs}
    assert all((tmp_path / name).is_file() for name in plots.values())
    assert (tmp_path / "report.md").read_text() == render({"date": "x"}, runs, plots)


def test_the_proxy_settings_are_reported_as_the_proxy_resolves_them(tmp_path: Path) -> None:
    config = proxy_config("http://127.0.0.1:9", tmp_path, detection_workers="auto", log_level="INFO")
    config["server"] = {"workers": 2, "port": 1}
    (tmp_path / "consentry.yaml").write_text(yaml.safe_dump(config))
    line = resolved_settings(tmp_path / "consentry.yaml", 2)
    assert "server.workers 2" in line and "detection.workers 1 per serving process" in line
