"""Prometheus metrics. Labels are bounded sets (provider, operation, entity type...): never a
customer id, a key or any request text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "consentry_requests",
            "Proxied requests",
            ["provider", "operation", "decision", "status"],
            registry=r,
        )
        self.total_latency = Histogram(
            "consentry_request_duration_seconds",
            "Time from request to last byte sent",
            ["provider", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "consentry_upstream_duration_seconds",
            "Time spent waiting on the upstream provider",
            ["provider", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "consentry_proxy_overhead_seconds",
            "Total time minus upstream time",
            ["provider", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.detection = Histogram(
            "consentry_detection_duration_seconds",
            "Time to detect personal data in one request",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.entities = Counter(
            "consentry_entities", "Personal data entities found", ["entity_type", "action"], registry=r
        )
        self.blocked = Counter(
            "consentry_blocked_requests", "Requests refused", ["provider", "reason"], registry=r
        )
        self.upstream_errors = Counter(
            "consentry_upstream_errors", "Upstream failures", ["provider", "kind"], registry=r
        )
        self.answers_cut = Counter(
            "consentry_answers_cut",
            "Answers that did not reach the caller whole, by reason: an answer limit (size, event"
            " size, idle time, duration), the provider failing mid-stream, or the caller leaving",
            ["provider", "reason"],
            registry=r,
        )
        self.ledger_queue = Gauge(
            "consentry_ledger_queue_depth", "Sharing records waiting to be written", registry=r
        )
        self.ledger_written = Counter(
            "consentry_ledger_records_written", "Sharing records written", registry=r
        )
        self.ledger_errors = Counter(
            "consentry_ledger_write_errors", "Failed ledger batch writes", registry=r
        )
        self.ledger_dropped = Counter(
            "consentry_ledger_dropped",
            "Sharing records dropped unwritten (queue bound reached while the store failed, or shutdown)",
            registry=r,
        )
        self.in_flight = Gauge("consentry_requests_in_flight", "Requests being handled", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
