"""Two `consentry serve` processes on one PostgreSQL: a consent changed through one replica's
admin API applies to the other's very next request, and an erasure through one removes the
records both wrote."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import orjson
import pytest
import yaml

from tests.admin_client import ADMIN_SETTINGS, AdminClient
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, free_port, require_postgres
from tests.fakes.server import BackgroundServer, Recorder
from tests.ledger_backends import POSTGRES_DSN, drop_schema, unique_schema

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Replica:
    url: str
    admin_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def sdk(self, customer: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
        )

    def chat(self, customer: str) -> str:
        answer = self.sdk(customer).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello to Maria Lopez."}]
        )
        return answer.choices[0].message.content or ""



@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, openai_upstream: BackgroundServer
) -> Iterator[list[Replica]]:
    require_postgres()
    schema = unique_schema()
    workdir = tmp_path_factory.mktemp("replicas")
    rules = workdir / "rules.yaml"
    rules.write_text(yaml.safe_dump(TEST_RULES))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    started: list[Replica] = []
    for n in range(2):
        port, admin_port = free_port(), free_port()
        config = {
            "server": {"host": "127.0.0.1", "port": port, "workers": 1},
            "rules": str(rules),
            "apps": {"backend": {"key": PROXY_KEY}},
            "providers": {
                "openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}
            },
            "ledger": {
                "backend": "postgres",
                "dsn": POSTGRES_DSN,
                "schema": schema,
                "flush_interval_s": 0.01,
            },
            "hash_key": "shared-replica-hash-key",
            "detection": {"workers": 0},
            "admin": {**ADMIN_SETTINGS, "port": admin_port},
        }
        config_file = workdir / f"replica-{n}.yaml"
        config_file.write_text(yaml.safe_dump(config))
        log = workdir / f"replica-{n}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_file)],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(Replica(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", process, log))
    try:
        deadline = time.monotonic() + 120
        for replica in started:
            while True:
                assert replica.process.poll() is None, replica.log.read_text()
                try:
                    ready = httpx.get(replica.url + "/readyz", timeout=1)
                    if ready.status_code == 200:
                        assert ready.json()["checks"]["consent_store"] is True
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, replica.log.read_text()
                time.sleep(0.2)
        yield started
    finally:
        for replica in started:
            replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
        asyncio.run(drop_schema(schema))


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def test_withdrawal_through_one_replica_refuses_on_the_other(
    replicas: list[Replica], upstream: Recorder
) -> None:
    a, b = replicas
    customer = "cust-replicated-1"
    assert "Maria Lopez" in b.chat(customer)
    admin_a = AdminClient(a.admin_url)
    assert admin_a.post(f"/admin/v1/customers/{customer}/consent/withdraw").json()["effective"]["state"] == (
        "withdrawn"
    )
    sent = len(upstream.requests)
    # The very next request, on the other replica.
    with pytest.raises(openai.PermissionDeniedError) as refused:
        b.chat(customer)
    assert "consent_withdrawn" in str(refused.value.body)
    assert len(upstream.requests) == sent, "nothing reached the provider"

    admin_b = AdminClient(b.admin_url)
    assert admin_b.get(f"/admin/v1/customers/{customer}/consent").json()["effective"]["state"] == "withdrawn"
    assert admin_b.post(f"/admin/v1/customers/{customer}/consent/reactivate").status_code == 200
    assert "Maria Lopez" in a.chat(customer)
    history = admin_a.get(f"/admin/v1/customers/{customer}/consent/history").json()["history"]
    assert [h["action"] for h in history] == ["reactivate", "withdraw"]
    admin_a.close()
    admin_b.close()


def test_erasure_through_one_replica_removes_what_both_wrote(
    replicas: list[Replica], upstream: Recorder
) -> None:
    a, b = replicas
    customer = "cust-replicated-erase"
    for replica in (a, b, a, b, b):
        replica.chat(customer)
    a.chat("cust-replicated-other")
    admin_a, admin_b = AdminClient(a.admin_url), AdminClient(b.admin_url)
    admin_a.put(
        f"/admin/v1/customers/{customer}/consent", json={"known_identifiers": {"PERSON": ["Maria Lopez"]}}
    )
    deadline = time.monotonic() + 10
    while admin_b.get(f"/admin/v1/customers/{customer}/records/summary").json()["total"] < 5:
        assert time.monotonic() < deadline, "both replicas' records reach the shared ledger"
        time.sleep(0.1)
    erased = admin_b.post(f"/admin/v1/customers/{customer}/erase", json={"confirm": customer}).json()
    assert erased["erased"]["sharing_records"] == 5
    assert erased["erased"]["consent_record"] is True and erased["erased"]["known_identifiers"] == 1
    for admin in (admin_a, admin_b):
        assert admin.get(f"/admin/v1/customers/{customer}/records").content == b""
        assert admin.get(f"/admin/v1/customers/{customer}/consent").json()["source"] == "default"
    others = admin_a.get("/admin/v1/customers/cust-replicated-other/records").content.splitlines()
    assert len(others) == 1 and orjson.loads(others[0])["customer_id"] == "cust-replicated-other"
    admin_a.close()
    admin_b.close()
