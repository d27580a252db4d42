"""SIGTERM with streams open: readiness drops at once, nothing new is accepted, what is in flight
finishes or is cut at the drain deadline, and every answered request has its sharing record.

`consentry serve` runs as a subprocess, as Kubernetes runs it, before a fake OpenAI upstream that
streams slowly. After SIGTERM the test waits until the drain deadline + 5 s and then sends SIGKILL,
as a kubelet would with a grace period that long; the sharing records are read from the SQLite file
afterwards. The same scenario, with the grace period and stream lengths of the operator's report,
measures old and new code (`run_scenario`).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from proxy.config import ConfigError, parse_config
from tests.conftest import PROXY_KEY, free_port
from tests.fakes.server import BackgroundServer
from tests.fakes.slow_openai_upstream import make_slow_openai_app

REPO = Path(__file__).resolve().parent.parent
DRAIN_S = 4.0
KILL_AFTER_S = DRAIN_S + 5.0
CHAT = "/c/cust-7/openai/v1/chat/completions"
HEADERS = {"Authorization": f"Bearer {PROXY_KEY}", "Content-Type": "application/json"}


@dataclass
class Call:
    kind: str  # quick (answered before SIGTERM), short (stream ending in the drain), long, pending
    request_id: str | None = None
    status: int | None = None
    complete: bool = False  # the whole answer arrived (a stream up to [DONE])
    error: str = ""
    error_code: str = ""
    ended: float = 0.0


@dataclass
class Outcome:
    calls: list[Call]
    sigterm_at: float
    readyz_after_sigterm: tuple[int, float] | None  # status and seconds after SIGTERM
    refused_new_connection: bool
    refused_on_kept_connection: tuple[int, str] | None  # status and error code
    exit_code: int | None
    exited_after_s: float
    killed: bool
    records: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (decision, reason)
    log: str = ""

    @property
    def answered(self) -> list[Call]:
        return [c for c in self.calls if c.request_id is not None]

    @property
    def without_record(self) -> list[Call]:
        return [c for c in self.answered if c.request_id not in self.records]


def _body(model: str, stream: bool) -> dict[str, object]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "tell me a story"}]}


def _stream(url: str, call: Call, model: str, started: threading.Event) -> None:
    try:
        with (
            httpx.Client(base_url=url, timeout=300) as client,
            client.stream("POST", CHAT, headers=HEADERS, json=_body(model, True)) as reply,
        ):
            call.status = reply.status_code
            call.request_id = reply.headers.get("X-Consentry-Request-Id")
            started.set()
            received = b"".join(reply.iter_raw())
            call.complete = received.rstrip().endswith(b"data: [DONE]")
    except httpx.HTTPError as exc:
        call.error = type(exc).__name__
    finally:
        started.set()
        call.ended = time.monotonic()


def _sdk_stream(url: str, call: Call, model: str, started: threading.Event) -> None:
    """The official SDK must raise on a stream cut at the deadline, never end it quietly."""
    sdk = openai.OpenAI(base_url=url + "/c/cust-7/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=300)
    try:
        raw = sdk.chat.completions.with_raw_response.create(
            model=model, stream=True, messages=[{"role": "user", "content": "tell me a story"}]
        )
        call.status = raw.status_code
        call.request_id = raw.headers.get("X-Consentry-Request-Id")
        started.set()
        for _ in raw.parse():
            pass
        call.complete = True
    except (openai.APIError, httpx.HTTPError) as exc:
        call.error = type(exc).__name__
    finally:
        started.set()
        call.ended = time.monotonic()


def _post(url: str, call: Call, model: str) -> None:
    try:
        reply = httpx.post(url + CHAT, headers=HEADERS, json=_body(model, False), timeout=300)
        call.status = reply.status_code
        call.request_id = reply.headers.get("X-Consentry-Request-Id")
        call.complete = reply.status_code == 200
        if reply.status_code != 200:
            call.error_code = str(reply.json()["error"]["code"])
    except httpx.HTTPError as exc:
        call.error = type(exc).__name__
    finally:
        call.ended = time.monotonic()


def _in_flight(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("consentry_requests_in_flight "))
    return float(line.split()[1])


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def run_scenario(
    repo: Path,
    workdir: Path,
    upstream_url: str,
    *,
    drain_s: float | None,
    kill_after_s: float,
    long_s: float,
    quick: int = 8,
    short: int = 4,
    long: int = 4,
) -> Outcome:
    """Starts `consentry serve` from `repo`, puts requests in flight, sends SIGTERM, and SIGKILL
    `kill_after_s` later if the process is still there; reads the records it left."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ledger = workdir / "ledger.db"
    server: dict[str, object] = {"host": "127.0.0.1", "port": port, "workers": 1}
    if drain_s is not None:
        server["drain_timeout_s"] = drain_s
    config = {
        "server": server,
        "apps": {"backend": {"key": PROXY_KEY}},
        "providers": {"openai": {"base_url": upstream_url + "/v1", "api_key": "sk-upstream"}},
        "ledger": {"path": str(ledger)},
        "hash_key": "test-hash-key",
        "detection": {"workers": 0},
        "admin": {"port": free_port()},
    }
    (workdir / "consentry.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(repo)
    log_file = workdir / "proxy.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--config", str(workdir / "consentry.yaml")],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_file.read_text()
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the proxy did not become ready"
            time.sleep(0.2)

        calls: list[Call] = []
        for _ in range(quick):
            call = Call("quick")
            _post(url, call, "m")
            calls.append(call)
        pool = ThreadPoolExecutor(max_workers=short + long + 2)
        started: list[threading.Event] = []
        for kind, count, model in (("short", short, "slow-2.5"), ("long", long, f"slow-{long_s}")):
            for n in range(count):
                call, event = Call(kind), threading.Event()
                runner = _sdk_stream if kind == "long" and n == 0 else _stream
                pool.submit(runner, url, call, model, event)
                calls.append(call)
                started.append(event)
        pending = Call("pending")
        pool.submit(_post, url, pending, f"slow-{long_s}")
        calls.append(pending)
        for event in started:
            assert event.wait(30), "a stream did not start"
        # Every stream has its status line; the long ones and the pending request are in flight (the
        # short ones may be done already on a slow machine).
        wait_deadline = time.monotonic() + 30
        while _in_flight(url) < long + 1:
            assert time.monotonic() < wait_deadline, f"only {_in_flight(url)} requests got in flight"
            time.sleep(0.05)

        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        kept.request("GET", "/readyz")
        kept.getresponse().read()
        other = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        other.request("GET", "/healthz")
        other.getresponse().read()

        process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        readyz: tuple[int, float] | None = None
        while time.monotonic() - sigterm_at < 2 and readyz is None:
            try:
                kept.request("GET", "/readyz")
                status = kept.getresponse()
                status.read()
            except (OSError, http.client.HTTPException):
                break
            if status.status != 200:
                readyz = (status.status, time.monotonic() - sigterm_at)
            else:
                time.sleep(0.01)
        refused_new = _refused(port)
        refused_kept: tuple[int, str] | None = None
        try:
            other.request("POST", CHAT, body=json.dumps(_body("m", False)), headers=HEADERS)
            answer = other.getresponse()
            refused_kept = (answer.status, json.loads(answer.read())["error"]["code"])
        except (OSError, http.client.HTTPException, KeyError, ValueError):
            pass

        try:
            process.wait(max(0.0, kill_after_s - (time.monotonic() - sigterm_at)))
            killed = False
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            killed = True
        exited_after = time.monotonic() - sigterm_at
        pool.shutdown(wait=True)
        kept.close()
        other.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    with sqlite3.connect(ledger) as conn:
        records = {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT request_id, decision, reason FROM sharing_records")
        }
    return Outcome(
        calls=calls,
        sigterm_at=sigterm_at,
        readyz_after_sigterm=readyz,
        refused_new_connection=refused_new,
        refused_on_kept_connection=refused_kept,
        exit_code=process.returncode,
        exited_after_s=exited_after,
        killed=killed,
        records=records,
        log=log_file.read_text(errors="replace"),
    )


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[BackgroundServer]:
    server = BackgroundServer(make_slow_openai_app).start()
    yield server
    server.stop()


def test_sigterm_drains_cuts_at_the_deadline_and_records_every_answer(
    tmp_path: Path, slow_upstream: BackgroundServer
) -> None:
    out = run_scenario(
        REPO, tmp_path, slow_upstream.url, drain_s=DRAIN_S, kill_after_s=KILL_AFTER_S, long_s=60
    )
    context = f"proxy log:\n{out.log}"

    # Every answered request has its record, also those cut at the deadline.
    assert len(out.answered) == len(out.calls), context
    assert out.without_record == [], context
    assert not out.killed, context
    assert out.exit_code == 0, context
    assert out.exited_after_s < DRAIN_S + 4, context

    # Readiness drops at once; no new connections; a request on a kept connection gets a retryable 503.
    assert out.readyz_after_sigterm is not None and out.readyz_after_sigterm[0] == 503, context
    assert out.readyz_after_sigterm[1] < 1.0
    assert out.refused_new_connection
    assert out.refused_on_kept_connection == (503, "shutting_down")

    for call in out.calls:
        decision, reason = out.records[call.request_id]  # type: ignore[index]
        ended_after = call.ended - out.sigterm_at
        if call.kind in ("quick", "short"):
            # Finished within the drain, untouched.
            assert call.complete and call.status == 200 and not call.error, call
            assert (decision, reason) == ("forwarded", ""), call
            assert ended_after < DRAIN_S, call
        elif call.kind == "long":
            # Cut at the deadline as a failed stream is: the client sees an incomplete answer.
            assert call.status == 200 and not call.complete and call.error, call
            assert (decision, reason) == ("failed", "shutdown"), call
            assert DRAIN_S - 0.5 < ended_after < DRAIN_S + 3, call
        else:
            # Waiting on the upstream at the deadline: a 503 in OpenAI's shape, recorded.
            assert (call.status, call.error_code) == (503, "shutting_down"), call
            assert (decision, reason) == ("failed", "shutdown"), call
    assert "drain deadline" in out.log


def test_drain_timeout_is_configurable_and_defaults_below_the_grace_period(tmp_path: Path) -> None:
    ledger = {"path": str(tmp_path / "l.db")}
    assert parse_config({"ledger": ledger}, env={}).drain_timeout_s == 20.0
    assert parse_config({"ledger": ledger, "server": {"drain_timeout_s": 5}}, env={}).drain_timeout_s == 5.0
    for bad in (-1, "soon", 7200):
        with pytest.raises(ConfigError, match=r"server\.drain_timeout_s"):
            parse_config({"ledger": ledger, "server": {"drain_timeout_s": bad}}, env={})
