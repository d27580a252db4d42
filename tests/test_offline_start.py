"""The proxy starts and masks with the network unreachable: nothing is fetched at run time.

The proxy runs as `consentry serve` in a subprocess whose sockets can reach loopback only; any
other connection or name lookup is refused and written to a file that must stay empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, free_port
from tests.fakes.server import BackgroundServer, Recorder

REPO = Path(__file__).resolve().parent.parent

NO_NETWORK = """
import os, socket
_log = os.environ["CONSENTRY_TEST_NET_LOG"]
_LOOPBACK = ("127.", "::1", "localhost")

def _refuse(what):
    with open(_log, "a") as fh:
        fh.write(repr(what) + "\\n")
    raise OSError(101, "Network is unreachable (test sandbox)")

def _host(address):
    return address[0] if isinstance(address, tuple) else str(address)

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo

def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not str(_host(address)).startswith(_LOOPBACK):
        _refuse(("connect", address))
    return _connect(self, address)

def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not str(_host(address)).startswith(_LOOPBACK):
        _refuse(("connect_ex", address))
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host is not None and not str(host).startswith(_LOOPBACK):
        _refuse(("getaddrinfo", host))
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
"""


@pytest.fixture()
def offline_proxy(tmp_path: Path, openai_upstream: BackgroundServer) -> Iterator[tuple[str, Path]]:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "sitecustomize.py").write_text(NO_NETWORK)
    net_log = tmp_path / "network-attempts.log"
    net_log.write_text("")
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port, "workers": 1},
        "apps": {"backend": {"key": PROXY_KEY}},
        "providers": {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        "ledger": {"path": str(tmp_path / "ledger.db")},
        "admin": {"port": free_port()},
    }
    config_file = tmp_path / "consentry.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith("CONSENTRY_")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(sandbox), str(REPO)]),
        CONSENTRY_TEST_NET_LOG=str(net_log),
        HOME=str(tmp_path),  # an empty home: no cached public-suffix list to fall back on
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else "exited"
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "proxy did not become ready"
            time.sleep(0.2)
        yield url, net_log
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_starts_and_masks_without_network(offline_proxy: tuple[str, Path], openai_recorder: Recorder) -> None:
    url, net_log = offline_proxy
    openai_recorder.clear()
    sdk = openai.OpenAI(base_url=f"{url}/c/cust-7/openai/v1", api_key=PROXY_KEY, max_retries=0)
    # an e-mail address and a URL exercise Presidio's recognizers that consult the public-suffix list
    prompt = "Contact Jane Doe at jane.doe@example.co.uk or see https://shop.example.com/orders"
    answer = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    assert answer.choices[0].message.content == "Echo: " + prompt
    seen = openai_recorder.all_bytes()
    assert b"jane.doe@example.co.uk" not in seen and b"Jane Doe" not in seen
    assert b"<EMAIL_ADDRESS_1>" in seen
    assert net_log.read_text() == "", f"the proxy tried to reach the network: {net_log.read_text()}"
