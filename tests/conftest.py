"""Shared fixtures: one loaded detector per session, fake upstreams and proxies on loopback ports."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from proxy.app import PIPELINE, build_app
from proxy.config import Config, parse_config
from proxy.detection import PresidioDetector
from proxy.pipeline import Pipeline
from tests.fakes.server import BackgroundServer, Recorder

PROXY_KEY = "test-proxy-key-0123456789"
OPENAI_UPSTREAM_KEY = "sk-upstream-test"

TEST_RULES: dict[str, Any] = {
    "version": "test-1",
    "default": {
        "providers": ["openai", "azure", "bedrock", "gemini"],
        "default_action": "mask",
        "default_threshold": 0.4,
        "thresholds": {"PHONE_NUMBER": 0.3},
        "unscannable": "block",
    },
    "customers": {
        "cust-restricted": {"state": "restricted"},
        "cust-objected": {"state": "objected"},
        "cust-withdrawn": {"state": "withdrawn"},
        "cust-no-openai": {"providers": ["azure", "bedrock"]},
        "cust-no-azure": {"providers": ["openai", "bedrock", "gemini"]},
        "cust-block-ssn": {"actions": {"US_SSN": "block"}},
        "cust-hash": {"actions": {"EMAIL_ADDRESS": "hash", "PERSON": "redact"}},
        "cust-images-ok": {"unscannable": "allow"},
    },
}


@pytest.fixture(scope="session")
def detector() -> Iterator[PresidioDetector]:
    loaded = PresidioDetector(timeout_s=30.0)
    loaded.load()
    yield loaded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProxyHarness:
    server: BackgroundServer
    config: Config

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def admin_url(self) -> str:
        return f"http://{self.config.admin.host}:{self.config.admin.port}"

    @property
    def pipeline(self) -> Pipeline:
        assert self.server.app is not None
        return self.server.app[PIPELINE]

    def records(self, customer_id: str) -> list[Any]:
        ledger = self.pipeline.ledger
        self.server.call(ledger.flush())
        return self.server.call(ledger.for_customer(customer_id))  # type: ignore[return-value]

    def record(self, request_id: str) -> Any:
        ledger = self.pipeline.ledger
        self.server.call(ledger.flush())
        return self.server.call(ledger.get(request_id))

    def metric(self, name: str, **labels: str) -> float:
        value = self.pipeline.metrics.registry.get_sample_value(name, labels)
        return float(value or 0.0)

    def scrape(self, name: str, **labels: str) -> float:
        """The sum of samples called `name` whose labels include `labels`, as GET /metrics serves them.

        Unlike `metric()`, this goes through the running proxy's HTTP endpoint and the
        Prometheus text parser, so it also checks what a real scraper would see.
        """
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request("GET", "/metrics")
            reply = connection.getresponse()
            text = reply.read().decode()
        finally:
            connection.close()
        assert reply.status == 200, f"GET /metrics answered {reply.status}"
        return float(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == name and labels.items() <= sample.labels.items()
            )
        )


ProxyFactory = Callable[..., ProxyHarness]


@pytest.fixture(scope="module")
def make_proxy(
    tmp_path_factory: pytest.TempPathFactory, detector: PresidioDetector
) -> Iterator[ProxyFactory]:
    """Starts proxies on loopback; all stop when the module's tests end."""
    started: list[BackgroundServer] = []

    def factory(
        providers: dict[str, Any],
        *,
        rules: dict[str, Any] | None = None,
        detector_override: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> ProxyHarness:
        workdir: Path = tmp_path_factory.mktemp("proxy")
        rules_file = workdir / "rules.yaml"
        rules_file.write_text(yaml.safe_dump(rules or TEST_RULES))
        raw: dict[str, Any] = {
            "rules": str(rules_file),
            "apps": {"backend": {"key": PROXY_KEY}},
            "providers": providers,
            "ledger": {"path": str(workdir / "ledger.db"), "flush_interval_s": 0.01},
            "hash_key": "test-hash-key",
            # Every proxy gets its own admin listener; its token file lies beside its ledger.
            "admin": {"port": free_port()},
            **(extra or {}),
        }
        config = parse_config(raw, env={})
        used = detector_override or detector
        server = BackgroundServer(lambda: build_app(config, detector=used, owns_detector=False)).start()
        started.append(server)
        return ProxyHarness(server, config)

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def openai_recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def openai_upstream(openai_recorder: Recorder) -> Iterator[BackgroundServer]:
    from tests.fakes.openai_upstream import make_openai_app

    server = BackgroundServer(lambda: make_openai_app(openai_recorder, api_key=OPENAI_UPSTREAM_KEY)).start()
    yield server
    server.stop()


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if not postgres_available():
        if os.environ.get("CONSENTRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "PostgreSQL is required (CONSENTRY_REQUIRE_POSTGRES=1) but 127.0.0.1:5432 is unreachable"
            )
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
