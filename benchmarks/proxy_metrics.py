"""Where the proxy's time goes, from its own Prometheus histograms.

Scraped before and after a case's measured proxy requests; the difference of each histogram's
`_sum` and `_count` is that case's mean, with warm-up and other cases left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

# Histogram name -> short name used in the report.
HISTOGRAMS = {
    "consentry_detection_duration_seconds": "detection",
    "consentry_proxy_overhead_seconds": "overhead",
    "consentry_upstream_duration_seconds": "upstream",
    "consentry_request_duration_seconds": "total",
}
ENTITIES = "consentry_entities"
REQUESTS = "consentry_requests"


@dataclass
class Snapshot:
    sums: dict[str, float] = field(default_factory=dict)  # short histogram name -> seconds
    counts: dict[str, float] = field(default_factory=dict)
    entities: dict[str, float] = field(default_factory=dict)  # "TYPE/action" -> count
    requests: dict[str, float] = field(default_factory=dict)  # "decision/status" -> count


def parse(text: str) -> Snapshot:
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        if family.name in HISTOGRAMS:
            short = HISTOGRAMS[family.name]
            for sample in family.samples:
                # Summed over label sets (provider, operation): a case uses one of each anyway.
                if sample.name.endswith("_sum"):
                    snap.sums[short] = snap.sums.get(short, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    snap.counts[short] = snap.counts.get(short, 0.0) + sample.value
        elif family.name == ENTITIES:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = f"{sample.labels.get('entity_type')}/{sample.labels.get('action')}"
                    snap.entities[key] = snap.entities.get(key, 0.0) + sample.value
        elif family.name == REQUESTS:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = f"{sample.labels.get('decision')}/{sample.labels.get('status')}"
                    snap.requests[key] = snap.requests.get(key, 0.0) + sample.value
    return snap


async def scrape(session: aiohttp.ClientSession, proxy_url: str) -> Snapshot:
    async with session.get(proxy_url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response:
        response.raise_for_status()
        return parse(await response.text())


@dataclass
class StageMeans:
    """Per-request means over one case's measured proxy requests, in milliseconds."""

    requests: float  # how many requests the histograms saw
    mean_ms: dict[str, float]  # short histogram name -> mean
    entities_per_request: dict[str, float]
    outcomes: dict[str, float]  # "decision/status" -> count


def difference(before: Snapshot, after: Snapshot) -> StageMeans:
    means: dict[str, float] = {}
    for short in HISTOGRAMS.values():
        count = after.counts.get(short, 0.0) - before.counts.get(short, 0.0)
        total = after.sums.get(short, 0.0) - before.sums.get(short, 0.0)
        if count > 0:
            means[short] = 1000.0 * total / count
    requests = after.counts.get("total", 0.0) - before.counts.get("total", 0.0)
    entities = {
        key: (value - before.entities.get(key, 0.0)) / requests
        for key, value in sorted(after.entities.items())
        if requests > 0 and value - before.entities.get(key, 0.0) > 0
    }
    outcomes = {
        key: value - before.requests.get(key, 0.0)
        for key, value in sorted(after.requests.items())
        if value - before.requests.get(key, 0.0) > 0
    }
    return StageMeans(requests, means, entities, outcomes)
