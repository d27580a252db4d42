"""The sharing record: metadata about one proxied request, never the data itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntityTally:
    count: int
    action: str


@dataclass(frozen=True)
class SharingRecord:
    request_id: str
    timestamp: str  # UTC, ISO 8601
    customer_id: str
    app: str
    provider: str
    operation: str
    model: str
    decision: str  # "forwarded" | "blocked" | "failed"
    reason: str
    entities: Mapping[str, EntityTally] = field(default_factory=dict)
    streamed: bool = False
    request_bytes: int = 0
    response_bytes: int = 0
    upstream_status: int | None = None
    upstream_latency_ms: float | None = None
    total_latency_ms: float = 0.0
    consent_version: str = ""
