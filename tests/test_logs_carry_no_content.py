"""No log line and no metric sample carries a request's content, whatever the request looks like.

`consentry serve` runs as a subprocess at DEBUG level with asyncio's debug mode on (so aiohttp's
debug paths log too), with a detector worker process, against fake OpenAI, Gemini and Bedrock
upstreams. It gets malformed requests that aiohttp's parser refuses (the server logger used to
write the whole request line or header at ERROR), requests the proxy refuses, and normal traffic,
all carrying planted proxy keys, e-mail addresses, SSNs, phone numbers and names in the request
line, headers and bodies. Every line the process wrote, and every /metrics sample, is scanned.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import openai
import pytest
import yaml
from botocore.config import Config as BotoConfig

from proxy.logs import ContentFreeFilter, scrub
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, free_port
from tests.fakes.bedrock_upstream import make_bedrock_app
from tests.fakes.gemini_upstream import make_gemini_app
from tests.fakes.server import BackgroundServer, Recorder

REPO = Path(__file__).resolve().parent.parent

NAME = "Zebulon Quackenbush"
EMAIL = "zelda.quint73@example.org"
SSN = "536-90-4412"
PHONE = "(415) 555-0174"
WRONG_KEY = "wrong-key-Quackenbush-7777"
GEMINI_UPSTREAM_KEY = "gm-upstream-logs-test"
UPSTREAM_KEY_ID = "AKIDUPSTREAMLOGS"
UPSTREAM_SECRET = "upstream-secret-logs"
CALLER_KEY_ID = "AKIDCALLERLOGS"
CALLER_SECRET = "caller-secret-logs-0123456789"
REGION = "eu-west-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROMPT = f"Write to {NAME} at {EMAIL}, SSN {SSN}, phone {PHONE}."

# What must never be seen, as substrings that survive percent-encoding, repr() and JSON escapes.
PLANTED = (
    "Quackenbush",
    "zelda.quint73",
    "quint73",
    SSN,
    SSN.replace("-", ""),
    "555-0174",
    "5550174",
    PROXY_KEY,
    WRONG_KEY,
    OPENAI_UPSTREAM_KEY,
    GEMINI_UPSTREAM_KEY,
    UPSTREAM_SECRET,
    CALLER_SECRET,
)


def assert_content_free(text: str, where: str) -> None:
    for line in text.splitlines():
        for value in PLANTED:
            assert value not in line, f"{where} carries {value!r}: {line[:300]!r}"


# ---------------------------------------------------------------- the scrubbing itself, in-process


def format_record(record: logging.LogRecord) -> str:
    return logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)


def raised_with_content() -> BaseException:
    try:
        try:
            {}[EMAIL]
        except KeyError as inner:
            raise ValueError(f"bad input {SSN}") from inner
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def test_a_library_record_keeps_its_logger_level_and_exception_type_only() -> None:
    exc = raised_with_content()
    record = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        "/x/aiohttp/web_protocol.py",
        871,
        "Error handling request %s %s",
        (PROXY_KEY, EMAIL),
        (type(exc), exc, exc.__traceback__),
        "handle_error",
    )
    line = format_record(scrub(record))
    assert line == (
        "ERROR aiohttp.server message withheld (web_protocol.py:871 in handle_error; exception ValueError)"
    )


def test_own_records_keep_their_message_but_never_an_exception_message() -> None:
    exc = raised_with_content()
    record = logging.LogRecord(
        "consentry.request",
        logging.ERROR,
        __file__,
        1,
        "request %s failed inside the proxy",
        ("abc123",),
        (type(exc), exc, exc.__traceback__),
    )
    text = format_record(scrub(record))
    assert text.startswith("ERROR consentry.request request abc123 failed inside the proxy\nTraceback")
    assert "KeyError (message withheld)" in text and "ValueError (message withheld)" in text
    assert "in raised_with_content" in text  # where it was raised is kept
    assert_content_free(text, "the rendered traceback")


def test_the_handler_filter_scrubs_records_made_without_the_factory() -> None:
    record = logging.makeLogRecord({"name": "presidio-analyzer", "msg": f"text: {EMAIL}", "args": ()})
    assert ContentFreeFilter().filter(record)
    assert_content_free(format_record(record), "a record made by makeLogRecord")
    again = format_record(scrub(record))  # scrubbing twice changes nothing
    assert again == format_record(record)


def test_an_os_error_keeps_its_errno() -> None:
    try:
        raise OSError(98, f"cannot bind {EMAIL}")
    except OSError as exc:
        record = logging.LogRecord("consentry", logging.CRITICAL, "", 0, "uncaught", (), sys.exc_info())
        text = format_record(scrub(record))
        assert f"OSError [Errno 98] {os.strerror(98)} (message withheld)" in text, text
        assert_content_free(text, "an OSError")
        del exc


# ---------------------------------------------------------------- the running proxy


@dataclass
class RunningProxy:
    url: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def gemini_upstream() -> Iterator[BackgroundServer]:
    server = BackgroundServer(lambda: make_gemini_app(Recorder(), api_key=GEMINI_UPSTREAM_KEY)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bedrock_upstream() -> Iterator[BackgroundServer]:
    server = BackgroundServer(
        lambda: make_bedrock_app(
            Recorder(), access_key=UPSTREAM_KEY_ID, secret_key=UPSTREAM_SECRET, region=REGION
        )
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    openai_upstream: BackgroundServer,
    gemini_upstream: BackgroundServer,
    bedrock_upstream: BackgroundServer,
) -> Iterator[RunningProxy]:
    workdir = tmp_path_factory.mktemp("logs")
    rules = workdir / "rules.yaml"
    rules.write_text(yaml.safe_dump(TEST_RULES))
    port = free_port()
    config = {
        # Two serving processes: the supervisor's and every child's logs are held to the contract too.
        "server": {"host": "127.0.0.1", "port": port, "workers": 2},
        "admin": {"port": free_port()},
        "rules": str(rules),
        "apps": {
            "backend": {
                "key": PROXY_KEY,
                "aws_access_key_id": CALLER_KEY_ID,
                "aws_secret_access_key": CALLER_SECRET,
            }
        },
        "providers": {
            "openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY},
            "gemini": {"base_url": gemini_upstream.url, "api_key": GEMINI_UPSTREAM_KEY},
            "bedrock": {"base_url": bedrock_upstream.url, "region": REGION},
        },
        "detection": {"workers": 1},
        "ledger": {"path": str(workdir / "ledger.db")},
        "hash_key": "logs-test-hash-key",
    }
    config_file = workdir / "consentry.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONSENTRY_", "AWS_")) and not k.lower().endswith("_proxy")
    }
    env.update(
        PYTHONPATH=str(REPO),
        CONSENTRY_LOG_LEVEL="DEBUG",
        PYTHONASYNCIODEBUG="1",  # asyncio's and aiohttp's debug-only log paths too
        PYTHONWARNINGS="default",
        AWS_ACCESS_KEY_ID=UPSTREAM_KEY_ID,
        AWS_SECRET_ACCESS_KEY=UPSTREAM_SECRET,
        HOME=str(workdir),
    )
    log = workdir / "consentry.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the proxy
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_file)],
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "proxy did not become ready"
            time.sleep(0.2)
        yield RunningProxy(url, port, log, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def raw_exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send `data` as is on a fresh connection; what came back until the proxy closed or went quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        sock.settimeout(3)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def request(head: str | bytes, headers: list[bytes] = (), body: bytes = b"") -> bytes:  # type: ignore[assignment]
    line = head if isinstance(head, bytes) else head.encode()
    lines = [line, b"Host: 127.0.0.1", b"Connection: close", *headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


AUTH = f"Authorization: Bearer {PROXY_KEY}".encode()
CHAT = "POST /c/cust-42/openai/v1/chat/completions HTTP/1.1"
JSON = b"Content-Type: application/json"
E, S, K = EMAIL.encode(), SSN.encode(), PROXY_KEY.encode()

# Refused by aiohttp's HTTP parser before any handler runs: each must still get a 400.
PARSER_REFUSED = {
    "control character in the query": request(
        f"GET /openai/v1/models?key={PROXY_KEY}&email={EMAIL}&ssn={SSN}&x=\x7f HTTP/1.1"
    ),
    "control character in a header value": request(
        "GET /openai/v1/models HTTP/1.1", [b"X-Note: " + S + b"\x01" + E]
    ),
    "control character in a header name": request(
        "GET /openai/v1/models HTTP/1.1", [b"X-" + E + b"\x01: " + S]
    ),
    "NUL in the path": request(f"GET /openai/v1/mod\x00els/{EMAIL}?key={PROXY_KEY} HTTP/1.1"),
    "oversized header": request("GET /openai/v1/models HTTP/1.1", [b"X-Big: " + (E + b" " + S + b" ") * 400]),
    "oversized request line": request(f"GET /openai/v1/models?q={(EMAIL + SSN) * 300} HTTP/1.1"),
    "invalid method": request(f"G{EMAIL}T /openai/v1/models?key={PROXY_KEY} HTTP/1.1"),
    "invalid version": request(f"GET /openai/v1/models?key={PROXY_KEY} HTTP/{EMAIL}"),
    "space in a header name": request("GET /openai/v1/models HTTP/1.1", [b"X " + E + b": " + S]),
    "header without a colon": request("GET /openai/v1/models HTTP/1.1", [AUTH, E + b" " + S]),
    "bad chunk size": request(CHAT, [AUTH, JSON, b"Transfer-Encoding: chunked"])
    + b"zz"
    + E
    + b"\r\n"
    + S
    + b"\r\n0\r\n\r\n",
}

# Reach the proxy's handler (or the client hangs up): any answer, but no content in the logs.
PROXY_REFUSED = {
    "invalid percent-encoding": request(
        f"POST /c/cust-42/openai/v1/chat/%zz{EMAIL}%?note=%zz{SSN}% HTTP/1.1", [AUTH, JSON], b"{}"
    ),
    "non-UTF-8 path": request(b"GET /openai/v1/models/\xff\xfe" + E + b" HTTP/1.1", [AUTH]),
    "truncated JSON": request(CHAT, [AUTH, JSON], b'{"model":"m","messages":[{"role":"user","content":"' + E),
    "invalid UTF-8 in JSON": request(
        CHAT, [AUTH, JSON], b'{"model":"m","messages":[{"role":"user","content":"\xff' + E + b'"}]}'
    ),
    "duplicate keys and content in keys": request(
        CHAT, [AUTH, JSON], b'{"model":"m","model":"m","' + E + b'":"' + S + b'","messages":[]}'
    ),
    "deep JSON": request(CHAT, [AUTH, JSON], b"[" * 5000 + E + b"]" * 5000),
    "wrong proxy key": request(CHAT, [f"Authorization: Bearer {WRONG_KEY}".encode(), JSON], b"{}"),
    "e-mail as the customer id": request(
        "POST /openai/v1/chat/completions HTTP/1.1", [AUTH, JSON, b"X-Customer-Id: " + E], b"{}"
    ),
    "gemini key in the query": request(
        f"POST /c/cust-42/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={WRONG_KEY}&x={EMAIL} "
        "HTTP/1.1",
        [JSON],
        b'{"contents":[{"parts":[{"text":"' + E + b'"}]}]}',
    ),
    "bad SigV4 credential": request(
        f"POST /c/cust-42/bedrock/model/{HAIKU}/converse HTTP/1.1",
        [
            JSON,
            b"X-Amz-Date: 20240101T000000Z",
            b"Authorization: AWS4-HMAC-SHA256 Credential="
            + E
            + b"/20240101/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature="
            + S,
        ],
        b'{"messages":[{"role":"user","content":[{"text":"' + E + b'"}]}]}',
    ),
    "SigV4 with an unknown key id": request(
        f"POST /c/cust-42/bedrock/model/{HAIKU}/converse HTTP/1.1",
        [
            JSON,
            b"X-Amz-Date: 20240101T000000Z",
            b"Authorization: AWS4-HMAC-SHA256 Credential=AKID"
            + S.replace(b"-", b"")
            + b"/20240101/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        ],
        b"{}",
    ),
    "body shorter than Content-Length": request(CHAT, [AUTH, JSON, b"Content-Length: 4000"])
    + b'{"model":"m","messages":[{"role":"user","content":"'
    + E,
}


def normal_traffic(url: str) -> None:
    sdk = openai.OpenAI(
        base_url=f"{url}/c/cust-42/openai/v1",
        api_key=PROXY_KEY,
        max_retries=0,
        default_headers={"X-Note": f"{EMAIL} {SSN}", "OpenAI-Organization": EMAIL},
    )
    messages: Any = [
        {"role": "system", "content": f"You assist {NAME}."},
        {"role": "user", "content": PROMPT},
    ]
    answer = sdk.chat.completions.create(model="m", messages=messages)
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    streamed = sdk.chat.completions.create(model="m", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Echo: " + PROMPT
    sdk.embeddings.create(model="e", input=[PROMPT, EMAIL])
    with pytest.raises(openai.APIStatusError):  # blocked by the customer's rules
        openai.OpenAI(
            base_url=f"{url}/c/cust-block-ssn/openai/v1", api_key=PROXY_KEY, max_retries=0
        ).chat.completions.create(model="m", messages=messages)
    with httpx.Client(timeout=30) as http:
        for query in (f"?note={EMAIL}", f"?key={PROXY_KEY}", f"?ssn={SSN}&phone={PHONE}"):
            http.post(
                f"{url}/c/cust-42/openai/v1/chat/completions{query}",
                json={"model": "m", "messages": messages},
                headers={"Authorization": f"Bearer {PROXY_KEY}", "Referer": f"https://x.test/?{EMAIL}"},
            )
        gemini = http.post(
            f"{url}/c/cust-42/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={PROXY_KEY}",
            json={"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
            headers={"User-Agent": f"agent {EMAIL}"},
        )
        assert gemini.status_code == 200, gemini.text
    bedrock = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{url}/c/cust-42/bedrock",
        region_name=REGION,
        aws_access_key_id=CALLER_KEY_ID,
        aws_secret_access_key=CALLER_SECRET,
        config=BotoConfig(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    converse = bedrock.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": PROMPT}]}])
    assert converse["output"]["message"]["content"][0]["text"].endswith(PROMPT)


def test_no_log_line_or_metric_carries_request_content(served: RunningProxy) -> None:
    refusals = {}
    for what, data in PARSER_REFUSED.items():
        answer = raw_exchange(served.port, data)
        refusals[what] = answer.split(b"\r\n", 1)[0]
    for what, status_line in refusals.items():
        assert status_line.startswith(b"HTTP/1.") and b" 400 " in status_line, f"{what}: {status_line!r}"

    for what, data in PROXY_REFUSED.items():
        answer = raw_exchange(served.port, data, half_close=what == "body shorter than Content-Length")
        if what != "body shorter than Content-Length":
            status = answer.split(b"\r\n", 1)[0]
            assert status.startswith(b"HTTP/1.") and status[9:10] == b"4", f"{what}: {status!r}"

    normal_traffic(served.url)

    metrics = httpx.get(served.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "consentry_requests_total" in metrics.text
    assert_content_free(metrics.text, "/metrics")

    served.process.send_signal(signal.SIGTERM)  # shutdown logs count too
    served.process.wait(60)
    logged = served.log.read_text(errors="replace")
    assert_content_free(logged, "the log")
    # the lines that used to carry the request are there, without it
    assert "DEBUG" in logged and "request id=" in logged
    # JSON lines (the default log_format): level, logger, then the withheld message
    assert '"level":"ERROR","logger":"aiohttp.server","message":"message withheld' in logged
