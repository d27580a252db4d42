"""A caller that hangs up before its request body is complete: nothing goes upstream, nothing is
logged as a proxy failure, and the request is counted as the client leaving (499), not as a 500.
(No sharing record: the caller was never authenticated and nothing was shared.)"""

from __future__ import annotations

import logging
import socket
import time

import pytest

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy({"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}})


def test_a_body_cut_short_is_recorded_as_the_client_leaving(
    proxy: ProxyHarness, openai_recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    openai_recorder.clear()
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "jane.doe@example.com'
    head = (
        "POST /c/cust-left/openai/v1/chat/completions HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {PROXY_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) + 1000}\r\n\r\n"
    ).encode()
    labels = {"provider": "openai", "operation": "chat", "decision": "failed"}
    left_before = proxy.metric("consentry_requests_total", **labels, status="499")
    failed_before = proxy.metric("consentry_requests_total", **labels, status="500")
    with caplog.at_level(logging.ERROR, logger="consentry"):
        with socket.create_connection(("127.0.0.1", proxy.server.port), timeout=10) as sock:
            sock.sendall(head + body)
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if proxy.metric("consentry_requests_total", **labels, status="499") > left_before:
                break
            time.sleep(0.05)
    assert proxy.metric("consentry_requests_total", **labels, status="499") == left_before + 1
    assert proxy.metric("consentry_requests_total", **labels, status="500") == failed_before
    assert not openai_recorder.requests
    assert not [r for r in caplog.records if "failed inside the proxy" in r.getMessage()]
