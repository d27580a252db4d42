"""One structured log line per request: the caller's X-Request-Id when well-formed, ids, codes and
durations, never text, values or the customer id (a keyed pseudonym only when configured)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest

from proxy.logs import FIELDS, JsonFormatter
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer

PROMPT = "Please write to Jane Doe at jane.doe@example.com about the invoice."
CUSTOMER = "cust-logged-4711"


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        extra={"log_customer_pseudonym": True},
    )


@pytest.fixture()
def request_lines(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    caplog.set_level(logging.INFO, logger="consentry.request")
    lines: list[logging.LogRecord] = []
    yield lines
    lines.extend(r for r in caplog.records if r.name == "consentry.request" and FIELDS in r.__dict__)


def post(proxy: ProxyHarness, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{proxy.url}/c/{CUSTOMER}/openai/v1/chat/completions",
        headers={"Authorization": f"Bearer {PROXY_KEY}", **(headers or {})},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]},
        timeout=30,
    )


def test_the_callers_request_id_is_used_and_echoed(
    proxy: ProxyHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.request")
    reply = post(proxy, {"X-Request-Id": "req_01HZX3-trace.7:a"})
    assert reply.status_code == 200
    # The provider's own x-request-id is relayed (the OpenAI SDK reports it); refusals made by the
    # proxy echo the caller's.
    assert reply.headers["X-Request-Id"].startswith("req_") and "," not in reply.headers["X-Request-Id"]
    refused = httpx.post(
        f"{proxy.url}/c/{CUSTOMER}/openai/v1/chat/completions",
        headers={"Authorization": "Bearer wrong-key-0123456789", "X-Request-Id": "req_01HZX3-trace.7:b"},
        json={},
        timeout=10,
    )
    assert refused.status_code == 401 and refused.headers["X-Request-Id"] == "req_01HZX3-trace.7:b"
    record_id = reply.headers["X-Consentry-Request-Id"]
    line = next(r for r in caplog.records if r.__dict__.get(FIELDS, {}).get("record_id") == record_id)
    fields = line.__dict__[FIELDS]
    assert fields["request_id"] == "req_01HZX3-trace.7:a"
    assert fields["event"] == "request" and fields["decision"] == "forwarded" and fields["status"] == 200
    assert fields["provider"] == "openai" and fields["operation"] == "chat"
    for key in ("total_ms", "upstream_ms", "overhead_ms", "detection_ms"):
        assert isinstance(fields[key], float) and fields[key] >= 0, key
    assert fields["customer"].startswith("c-") and CUSTOMER not in fields["customer"]
    # The sharing record keeps Consentry's own id: a caller may reuse its id.
    assert proxy.record(record_id) is not None
    again = post(proxy, {"X-Request-Id": "req_01HZX3-trace.7:a"})
    assert again.headers["X-Consentry-Request-Id"] != record_id
    assert proxy.record(again.headers["X-Consentry-Request-Id"]) is not None


@pytest.mark.parametrize(
    "incoming", ["jane.doe@example.com", "has spaces in it", "x" * 129, "-leading-dash", "ünïcode"]
)
def test_a_malformed_request_id_is_replaced(
    proxy: ProxyHarness, caplog: pytest.LogCaptureFixture, incoming: str
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = post(proxy, {"X-Request-Id": incoming.encode()})  # type: ignore[dict-item]
    assert reply.status_code == 200
    assert incoming not in reply.headers.get("X-Request-Id", "")
    record_id = reply.headers["X-Consentry-Request-Id"]
    assert any(r.__dict__.get(FIELDS, {}).get("request_id") == record_id for r in caplog.records)
    assert incoming not in caplog.text
    assert all(incoming not in str(r.__dict__.get(FIELDS, "")) for r in caplog.records)


def test_request_lines_carry_no_content(proxy: ProxyHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert post(proxy).status_code == 200
    formatter = JsonFormatter()
    # The proxy's own records (the test client's httpx logs are not the proxy's; library records in
    # the proxy are scrubbed by proxy/logs.py, tested in tests/test_logs_carry_no_content.py).
    lines = [formatter.format(r) for r in caplog.records if r.name.startswith("consentry")]
    joined = "\n".join(lines)
    for secret in ("Jane", "jane.doe", CUSTOMER, PROXY_KEY, OPENAI_UPSTREAM_KEY):
        assert secret not in joined, secret
    request_lines = [orjson.loads(line) for line in lines if '"event":"request"' in line]
    assert request_lines and request_lines[-1]["logger"] == "consentry.request"
    assert set(request_lines[-1]) >= {"ts", "level", "request_id", "status", "decision", "total_ms"}


def test_json_formatter_writes_one_object_per_record() -> None:
    record = logging.LogRecord("consentry.x", logging.WARNING, "f.py", 3, "ledger %s", ("down",), None)
    record.__dict__[FIELDS] = {"queued": 3, "reason": "ledger_unavailable"}
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "ledger down" and line["level"] == "WARNING" and line["queued"] == 3
    assert line["ts"].endswith("+00:00")
