"""`consentry serve --workers 2`: two event-loop processes on one port. /metrics merges both,
a killed process is replaced, and SIGTERM drains both with every record written."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, free_port
from tests.fakes.server import BackgroundServer

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ledger: Path

    def chat(self) -> httpx.Response:
        # A new connection each time: the kernel spreads connections, not requests.
        return httpx.post(
            f"{self.url}/c/cust-workers/openai/v1/chat/completions",
            headers={"Authorization": f"Bearer {PROXY_KEY}", "Connection": "close"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there"}]},
            timeout=30,
        )

    def requests_total(self) -> float:
        text = httpx.get(self.url + "/metrics", headers={"Connection": "close"}, timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "consentry_requests_total"
        )

    def children(self) -> list[int]:
        return [
            int(pid) for pid in re.findall(r"serving process \d started \(pid (\d+)\)", self.log.read_text())
        ]


@pytest.fixture()
def served(tmp_path: Path, openai_upstream: BackgroundServer) -> Iterator[Served]:
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port, "workers": 2, "drain_timeout_s": 5},
        "apps": {"backend": {"key": PROXY_KEY}},
        "providers": {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        "ledger": {"path": str(tmp_path / "ledger.db"), "flush_interval_s": 0.01},
        "hash_key": "workers-hash-key",
        "detection": {"workers": 0},
        "admin": {"port": free_port()},
    }
    config_file = tmp_path / "consentry.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_file)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Served(f"http://127.0.0.1:{port}", process, log, tmp_path / "ledger.db")
    try:
        deadline = time.monotonic() + 120
        while len(running.children()) < 2 or not all(
            _ready(running.url) for _ in range(6)
        ):  # both processes listening: several new connections all find one ready
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pid in running.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", headers={"Connection": "close"}, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_processes_share_the_port_and_the_metrics(served: Served) -> None:
    assert all(served.chat().status_code == 200 for _ in range(40))
    # Whichever process answers /metrics, it counts both processes' requests.
    assert {served.requests_total() for _ in range(12)} == {40.0}

    first, _second = served.children()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(served.children()) < 3:
        assert time.monotonic() < deadline, served.log.read_text()
        time.sleep(0.2)
    time.sleep(0.5)
    answers = [served.chat() for _ in range(20)]
    assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
    # The killed process's counts stay in the sum; the new one adds its own.
    assert {served.requests_total() for _ in range(12)} == {60.0}
    assert "ended with status -9" in served.log.read_text()

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(30) == 0, served.log.read_text()
    for pid in served.children():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    with sqlite3.connect(served.ledger) as conn:
        (written,) = conn.execute(
            "SELECT count(*) FROM sharing_records WHERE customer_id = 'cust-workers'"
        ).fetchone()
    # Every answered request is recorded, the killed process's included: it had flushed.
    assert written >= 40 + 20 - 5 and written <= 60
