"""The dashboard and the alert rules query only what the proxy exports, and Prometheus accepts them.

A proxy is started and used through the official openai SDK (chat, stream, a refused customer,
an admin call); its GET /metrics is parsed, and every metric name (and label) a panel or a rule
uses must be among what it exports: counters as `_total`, histograms as `_bucket/_sum/_count`.
promtool checks the rules, runs their unit tests (deploy/prometheus/alerts.test.yml), checks
prometheus.yml, and parses every panel expression as a recording rule.
"""

from __future__ import annotations

import http.client
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer
from tests.linters import require_linter

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "consentry.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
# Made by Prometheus itself, not by the proxy.
PROMETHEUS_METRICS = frozenset({"up"})
PROMETHEUS_LABELS = frozenset({"job", "instance", "le"})
# Grafana's variables, given values Prometheus can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "${datasource}": "prometheus"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_FUNCTION = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(")
_IDENTIFIER = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})


@dataclass
class Query:
    """What one PromQL expression refers to."""

    metrics: set[str] = field(default_factory=set)
    # metric name -> label names in its matchers
    matched: dict[str, set[str]] = field(default_factory=dict)
    grouped: set[str] = field(default_factory=set)


def parse_query(expr: str) -> Query:
    query = Query()
    for name, labels in _MATCHERS.findall(expr):
        matchers = [m for m in _STRING.sub("", labels).split(",") if m.strip()]
        names = {re.split(r"[=!]", m)[0].strip() for m in matchers}
        query.matched.setdefault(name, set()).update(names)
    for labels in _GROUPING.findall(expr):
        query.grouped.update(label.strip() for label in labels.split(",") if label.strip())
    rest = _STRING.sub("", expr)
    rest = re.sub(r"\{[^}]*\}", " ", rest)
    rest = _GROUPING.sub(" ", rest)
    rest = _RANGE.sub(" ", rest)
    rest = _FUNCTION.sub(" ", rest)
    rest = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", " ", rest)
    query.metrics = {name for name in _IDENTIFIER.findall(rest) if name not in _KEYWORDS}
    return query


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    found: list[tuple[str, str]] = []

    def walk(panels: Iterable[dict]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                found.append((f"panel {panel['title']!r}", target["expr"]))

    walk(dashboard["panels"])
    return found


def alert_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [(f"alert {rule['alert']}", rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


@dataclass(frozen=True)
class Exported:
    """Sample names the proxy exports, and the label names seen on each (None: no sample yet)."""

    labels: dict[str, frozenset[str] | None]

    @classmethod
    def from_text(cls, text: str) -> Exported:
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
        labels: dict[str, frozenset[str] | None] = {}
        for family in text_string_to_metric_families(text):
            # A family with labels but no child yet is still declared (HELP/TYPE): it is exported.
            for suffix in suffixes.get(family.type, ("",)):
                labels.setdefault(family.name + suffix, None)
            for sample in family.samples:
                seen = labels.get(sample.name) or frozenset()
                labels[sample.name] = seen | frozenset(sample.labels)
        return cls(labels)


def problems(sources: Iterable[tuple[str, str]], exported: Exported) -> list[str]:
    """Every reference to a metric or label the proxy does not export, as `where: what`."""
    found: list[str] = []
    for where, expr in sources:
        query = parse_query(expr)
        if not query.metrics:
            found.append(f"{where}: no metric in {expr!r}")
        known_labels: set[str] = set(PROMETHEUS_LABELS)
        for metric in sorted(query.metrics):
            if metric in PROMETHEUS_METRICS:
                continue
            if metric not in exported.labels:
                found.append(f"{where}: {metric} is not exported")
                continue
            known_labels |= exported.labels[metric] or set()
        for metric, labels in query.matched.items():
            have = exported.labels.get(metric)
            if metric and have is not None and labels - have - PROMETHEUS_LABELS:
                found.append(f"{where}: {metric} has no label {sorted(labels - have)}")
        if all(exported.labels.get(m) is not None for m in query.metrics - PROMETHEUS_METRICS):
            unknown = query.grouped - known_labels
            if unknown:
                found.append(f"{where}: grouped by {sorted(unknown)}, which none of its metrics has")
    return found


@pytest.fixture(scope="module")
def scraped(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> str:
    """GET /metrics of a proxy that forwarded, streamed, refused and answered an admin call."""
    proxy: ProxyHarness = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}}
    )

    def sdk(customer: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
        )

    prompt = "Please write to Jane Doe at jane.doe@example.com about the invoice."
    messages = [{"role": "user", "content": prompt}]
    sdk("cust-42").chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    stream = sdk("cust-42").chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Echo: " + prompt
    sdk("cust-42").embeddings.create(model="text-embedding-3-small", input="Jane Doe")
    with pytest.raises(openai.PermissionDeniedError):
        sdk("cust-restricted").chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    token = Path(proxy.config.admin.token_file).read_text().strip()
    whoami = httpx.get(
        f"{proxy.admin_url}/admin/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert whoami.status_code == 200
    proxy.records("cust-42")  # the ledger has written what was queued

    connection = http.client.HTTPConnection("127.0.0.1", proxy.server.port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        reply = connection.getresponse()
        text = reply.read().decode()
    finally:
        connection.close()
    assert reply.status == 200
    return text


def test_every_panel_and_rule_queries_what_the_proxy_exports(scraped: str) -> None:
    exported = Exported.from_text(scraped)
    sources = dashboard_expressions() + alert_expressions()
    assert len(sources) > 30
    assert problems(sources, exported) == []
    # The traffic above gave the core families samples, so their labels were checked too.
    for name in (
        "consentry_requests_total",
        "consentry_request_duration_seconds_bucket",
        "consentry_proxy_overhead_seconds_bucket",
        "consentry_detection_duration_seconds_bucket",
        "consentry_entities_total",
        "consentry_blocked_requests_total",
        "consentry_admin_requests_total",
        "consentry_ledger_queue_depth",
    ):
        assert exported.labels.get(name) is not None, f"{name} has no sample after the requests"


def test_the_check_catches_unknown_metrics_and_labels(scraped: str) -> None:
    exported = Exported.from_text(scraped)
    bad = [
        ("typo", "rate(consentry_request_total[5m])"),
        ("untyped counter", "rate(consentry_requests[5m])"),
        ("histogram without suffix", "histogram_quantile(0.99, rate(consentry_proxy_overhead_seconds[5m]))"),
        ("label", 'sum(rate(consentry_blocked_requests_total{entity_type="PERSON"}[5m]))'),
        ("grouping", "sum by (customer) (rate(consentry_requests_total[5m]))"),
    ]
    assert [p.split(":")[0] for p in problems(bad, exported)] == [w for w, _ in bad]
    good = [("ok", 'sum by (reason) (rate(consentry_blocked_requests_total{provider="openai"}[5m])) > 0')]
    assert problems(good, exported) == []


def test_dashboard_covers_what_operators_watch() -> None:
    queried = set().union(*(parse_query(expr).metrics for _, expr in dashboard_expressions()))
    for metric in (
        "consentry_requests_total",
        "consentry_request_duration_seconds_bucket",
        "consentry_proxy_overhead_seconds_bucket",
        "consentry_entities_total",
        "consentry_blocked_requests_total",
        "consentry_detection_duration_seconds_bucket",
        "consentry_detection_queue_jobs",
        "consentry_ledger_queue_depth",
        "consentry_ledger_dropped_total",
        "consentry_requests_in_flight",
        "consentry_consent_store_up",
        "consentry_admin_requests_total",
    ):
        assert metric in queried, f"no panel shows {metric}"
    dashboard = orjson.loads(DASHBOARD.read_bytes())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_linter("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=ALERTS.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yml", cwd=ALERTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = promtool("check", "config", "prometheus.yml", cwd=ALERTS.parent)
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_parses_every_panel_expression(tmp_path: Path) -> None:
    def as_rules(expressions: list[str]) -> Path:
        rules = [{"record": f"consentry:panel_{i}", "expr": expr} for i, expr in enumerate(expressions)]
        path = tmp_path / "panels.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
        return path

    def substituted(expr: str) -> str:
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        return expr

    expressions = [substituted(expr) for _, expr in dashboard_expressions()]
    checked = promtool("check", "rules", str(as_rules(expressions)), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = promtool("check", "rules", str(as_rules(["sum by (provider (rate(x[5m]))"])), cwd=tmp_path)
    assert broken.returncode != 0, "promtool must reject a malformed expression"
