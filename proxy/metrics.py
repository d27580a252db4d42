"""Prometheus metrics. Labels are bounded sets (provider, operation, entity type...): never a
customer id, a key or any request text.

With `consentry serve --workers N` every process counts into prometheus-client's multiprocess
files (PROMETHEUS_MULTIPROC_DIR, set by the supervisor) and /metrics, whichever process answers
it, merges all of them: counters and histograms add up, each gauge is combined as its
`multiprocess_mode` says (in flight and queues: the sum over live processes; "up" gauges: the
minimum, so one process that cannot write shows)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DetectorMetrics:
    """The detector's queue and workers. Its own object, so a detector can count into a private
    registry until the proxy hands it the shared one (`PresidioDetector.instrument`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.queue_jobs = Gauge(
            "consentry_detection_queue_jobs",
            "Detection jobs waiting for a worker",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.queue_wait = Histogram(
            "consentry_detection_queue_wait_seconds",
            "Time from admission until a request's first detection job started",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_jobs = Histogram(
            "consentry_detection_batch_jobs",
            "Detection jobs a worker ran in one call (jobs that queued while every worker was busy "
            "are batched across requests)",
            buckets=(1, 2, 4, 8, 16, 32),
            registry=r,
        )
        self.workers_alive = Gauge(
            "consentry_detector_workers_alive",
            "Detector workers with their model loaded",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.worker_exits = Counter(
            "consentry_detector_worker_exits",
            "Detector workers that ended (crashed: on their own; deadline, memory: stopped by the proxy)",
            ["cause"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "consentry_detector_worker_restarts", "Replacement detector workers started", registry=r
        )
        self.retries = Counter(
            "consentry_detection_retries",
            "Detection jobs run again on another worker after theirs died",
            registry=r,
        )


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
            "consentry_ledger_queue_depth",
            "Sharing records waiting to be written",
            multiprocess_mode="livesum",
            registry=r,
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
        self.ledger_probe_failures = Counter(
            "consentry_ledger_probe_failures",
            "Failed ledger health checks (opening the store, or a row written and read back)",
            registry=r,
        )
        self.ledger_up = Gauge(
            "consentry_ledger_up",
            "1 while the last write to the ledger (a batch or a probe) succeeded, else 0",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.ledger_last_write = Gauge(
            "consentry_ledger_last_write_timestamp_seconds",
            "Unix time of the last successful write to the ledger (a batch or a probe)",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.ledger_purged = Counter(
            "consentry_ledger_purged_records",
            "Sharing records deleted by retention (older than ledger.retention_days)",
            registry=r,
        )
        self.ledger_retention_runs = Counter(
            "consentry_ledger_retention_runs",
            "Retention runs by outcome: ok, failed, skipped (another replica was purging)",
            ["outcome"],
            registry=r,
        )
        self.ledger_erased = Counter(
            "consentry_ledger_erased_records", "Sharing records deleted by customer erasure", registry=r
        )
        self.in_flight = Gauge(
            "consentry_requests_in_flight", "Requests being handled", multiprocess_mode="livesum", registry=r
        )
        self.draining = Gauge(
            "consentry_draining",
            "1 from SIGTERM until exit: no new requests are accepted",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.detection_shed = Counter(
            "consentry_detection_shed_requests",
            "Requests refused before detection (overloaded, no_workers, text_budget)",
            ["provider", "reason"],
            registry=r,
        )
        self.consent_store_up = Gauge(
            "consentry_consent_store_up",
            "1 while this replica's stored consents are known to be current (store reachable), else 0",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.consent_stored_customers = Gauge(
            "consentry_consent_stored_customers",
            "Customers with a stored consent, held in memory",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.consent_reloads = Counter(
            "consentry_consent_reloads", "Full reloads of the stored consents (start, reconnect)", registry=r
        )
        self.consent_refreshes = Counter(
            "consentry_consent_refreshes",
            "One customer's stored consent read again after a change announced by any replica",
            registry=r,
        )
        self.admin_requests = Counter(
            "consentry_admin_requests",
            "Admin API requests, by action and outcome",
            ["action", "outcome"],
            registry=r,
        )
        self.detector = DetectorMetrics(r)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROCESS_DIR):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)
