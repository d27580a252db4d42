"""Review fixes in the adapters, the pipeline and the upstream client, end to end: the real proxy in
front of a scripted upstream that records every request exactly as it arrived on the wire.

Paths that could resolve elsewhere upstream, query strings, bodies sent to allowed extra paths,
consent on body-less requests, failures after a stream started, timeouts, text held back at the
end of a stream, and malformed bodies.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from proxy.aws_sigv4 import verify_request
from proxy.codecs.eventstream import EventStreamDecoder, encode_event
from proxy.codecs.sse import SseDecoder
from proxy.errors import ProxyError
from proxy.formats.answers import SseAnswer
from proxy.formats.bedrock_answers import chunk_handler
from proxy.formats.gemini_answers import CandidateStream
from proxy.formats.openai_answers import ChoicesStream, ResponsesStream
from proxy.providers.base import UpstreamRequest
from proxy.providers.bedrock import EventStreamAnswer, _ChunkFrames
from proxy.providers.common import unsafe_path
from proxy.restore import Restorer
from proxy.upstream import Upstream
from tests.conftest import PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, ReceivedRequest, Recorder

EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {EMAIL} about the invoice."
API_VERSION = "2024-10-21"
REGION = "eu-west-1"
CALLER_KEY_ID = "AKIDREVIEWCALLER"
CALLER_SECRET = "review-caller-secret-0123456789"
APPS = {
    "backend": {"key": PROXY_KEY, "aws_access_key_id": CALLER_KEY_ID, "aws_secret_access_key": CALLER_SECRET}
}
GEMINI_MODEL = "gemini-2.0-flash"
HAIKU = "anthropic.claude-3-haiku-20240307-v1%3A0"
SSE = "text/event-stream"
# "<EMAIL_ADD" is the start of the placeholder the prompt's address becomes: a stream restorer
# holds it back, waiting for the rest, and must release it when the stream ends.
HELD = "<EMAIL_ADD"

Reply = Callable[[web.Request, ReceivedRequest], Awaitable[web.StreamResponse]]


# ---------------------------------------------------------------- a scripted upstream


def _default_reply(received: ReceivedRequest) -> web.Response:
    path = received.path
    if path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": "ok"}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return web.json_response({"id": "c1", "object": "chat.completion", "choices": [choice]})
    if path.endswith("/converse"):
        output = {"message": {"role": "assistant", "content": [{"text": "ok"}]}}
        usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        return web.json_response({"output": output, "stopReason": "end_turn", "usage": usage})
    if path.endswith(":generateContent"):
        candidate = {"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP"}
        return web.json_response({"candidates": [candidate]})
    return web.json_response({"ok": True})


class Scripted:
    """Records every request; answers with `reply` when set, else with a minimal valid answer."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.reply: Reply | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = await self.recorder.record(request)
        if self.reply is not None:
            return await self.reply(request, received)
        return _default_reply(received)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[tuple[Scripted, BackgroundServer]]:
    scripted = Scripted()
    server = BackgroundServer(scripted.app).start()
    yield scripted, server
    server.stop()


@pytest.fixture()
def scripted(scripted_server: tuple[Scripted, BackgroundServer]) -> Iterator[Scripted]:
    upstream = scripted_server[0]
    upstream.recorder.clear()
    upstream.reply = None
    yield upstream
    upstream.reply = None


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, scripted_server: tuple[Scripted, BackgroundServer]) -> ProxyHarness:
    url = scripted_server[1].url
    providers = {
        "openai": {"base_url": url + "/v1", "api_key": "sk-up", "allow_paths": ["/files"], "timeout_s": 1},
        "azure": {
            "resources": {"myres": {"endpoint": url, "api_key": "az-up"}},
            "allow_paths": ["/openai/files"],
        },
        "gemini": {"base_url": url, "api_key": "g-up", "allow_paths": ["/v1beta/files"]},
        "bedrock": {
            "base_url": url,
            "region": REGION,
            "aws_access_key_id": "AKIDUPSTREAM",
            "aws_secret_access_key": "upstream-secret",
            "allow_paths": ["/async-invoke"],
        },
    }
    return make_proxy(providers, extra={"apps": APPS})


# ---------------------------------------------------------------- talking to the proxy


def call(
    proxy: ProxyHarness, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with the path sent exactly as written (no client-side normalisation)."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy.server.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def openai_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {PROXY_KEY}", "Content-Type": "application/json"}


def gemini_headers() -> dict[str, str]:
    return {"x-goog-api-key": PROXY_KEY, "Content-Type": "application/json"}


def bedrock_headers(proxy: ProxyHarness, method: str, path: str, body: bytes) -> dict[str, str]:
    """SigV4 headers for `path` (query included) as the caller's application signs them."""
    url = f"http://127.0.0.1:{proxy.server.port}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(CALLER_KEY_ID, CALLER_SECRET), "bedrock", REGION).add_auth(request)
    return dict(request.headers.items())


def chat_body(content: Any = PROMPT, **extra: Any) -> bytes:
    return json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **extra}
    ).encode()


def sdk(proxy: ProxyHarness, customer: str = "cust-42") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )


def azure_sdk(proxy: ProxyHarness, customer: str = "cust-42") -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=f"{proxy.url}/c/{customer}/azure/myres",
        api_version=API_VERSION,
        api_key=PROXY_KEY,
        max_retries=0,
        timeout=30,
    )


# ---------------------------------------------------------------- 1. paths that resolve elsewhere


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/../chat/completions",
        "/v1/files/%2e%2e/chat/completions",
        "/v1/files/.%2E/chat/completions",
        "/v1/files/./../chat/completions",
        "/v1/files%2F..%2Fchat/completions",
        "/v1/files/..;/chat/completions",
        "/v1/files/..%5Cchat/completions",
        "/v1/files/%zz",
    ],
)
def test_openai_paths_that_could_resolve_elsewhere_are_404(
    proxy: ProxyHarness, scripted: Scripted, path: str
) -> None:
    status, _, body = call(proxy, "POST", f"/c/cust-42/openai{path}", chat_body(), openai_headers())
    assert status == 404
    assert orjson.loads(body)["error"]["type"] == "not_found_error"
    assert scripted.recorder.requests == []


@pytest.mark.parametrize(
    "path",
    [
        "/myres/openai/files/..%5C..%5Cadmin",
        "/myres/openai/files/..;/deployments/x/chat/completions",
        "/myres/openai/files/%2e./deployments/x/chat/completions",
    ],
)
def test_azure_paths_that_could_resolve_elsewhere_are_404(
    proxy: ProxyHarness, scripted: Scripted, path: str
) -> None:
    headers = {"api-key": PROXY_KEY, "Content-Type": "application/json"}
    status, _, body = call(
        proxy, "POST", f"/c/cust-42/azure{path}?api-version={API_VERSION}", chat_body(), headers
    )
    assert status == 404
    assert orjson.loads(body)["error"]["type"] == "not_found_error"
    assert scripted.recorder.requests == []


@pytest.mark.parametrize(
    "path",
    [
        f"/v1beta/files/../models/{GEMINI_MODEL}:generateContent",
        f"/v1beta/files/%2E%2E/models/{GEMINI_MODEL}:generateContent",
        f"/v1beta/files%2F..%2Fmodels/{GEMINI_MODEL}:generateContent",
    ],
)
def test_gemini_paths_that_could_resolve_elsewhere_are_404(
    proxy: ProxyHarness, scripted: Scripted, path: str
) -> None:
    body = json.dumps({"contents": [{"parts": [{"text": PROMPT}]}]}).encode()
    status, _, answer = call(proxy, "POST", f"/c/cust-42/gemini{path}", body, gemini_headers())
    assert status == 404
    assert orjson.loads(answer)["error"]["status"] == "NOT_FOUND"
    assert scripted.recorder.requests == []


@pytest.mark.parametrize(
    "path",
    [
        f"/async-invoke/../model/{HAIKU}/converse",
        f"/async-invoke/%2e%2e/model/{HAIKU}/converse",
        "/model/a%2F..%2F..%2Fasync-invoke/converse",
        "/model/%2E/converse",
    ],
)
def test_bedrock_paths_that_could_resolve_elsewhere_are_404(
    proxy: ProxyHarness, scripted: Scripted, path: str
) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}).encode()
    full = f"/c/cust-42/bedrock{path}"
    status, headers, _ = call(proxy, "POST", full, body, bedrock_headers(proxy, "POST", full, body))
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert scripted.recorder.requests == []


def test_allowed_extra_path_goes_out_exactly_as_routed_with_its_query(
    proxy: ProxyHarness, scripted: Scripted
) -> None:
    # %2E inside a segment is not a dot segment; it must not be decoded (nor anything resolved).
    status, _, _ = call(
        proxy, "GET", "/c/cust-42/openai/v1/files/file-a%2Eb?purpose=batch&x=a%20b", b"", openai_headers()
    )
    assert status == 200
    (sent,) = scripted.recorder.requests
    assert sent.path == "/v1/files/file-a%2Eb"
    assert sent.query == {"purpose": "batch", "x": "a b"}


def test_the_upstream_client_never_sends_a_path_with_dot_segments() -> None:
    async def attempt() -> ProxyError:
        upstream = Upstream()
        await upstream.start()
        try:
            with pytest.raises(ProxyError) as caught:
                await upstream.send(UpstreamRequest("GET", "http://127.0.0.1:9/v1/files/../chat"), 1, 1)
            return caught.value
        finally:
            await upstream.close()

    assert asyncio.run(attempt()).status == 404


@pytest.mark.parametrize(
    ("path", "slashes", "unsafe"),
    [
        ("/v1/chat/completions", False, False),
        ("/v1/models/ft:gpt-4o:org:x", False, False),
        ("/v1/files/a%2Eb", False, False),
        ("/v1/files/..", False, True),
        ("/v1/files/.", False, True),
        ("/v1/files/%2e%2E/x", False, True),
        ("/v1/files/..;a/x", False, True),
        ("/v1/files/a%2Fb", False, True),
        ("/v1/files/a%5Cb", False, True),
        ("/v1/files/a\\b", False, True),
        ("/v1/files/a%00b", False, True),
        ("/v1/files/a b", False, True),
        ("/v1/files/%G1", False, True),
        ("/v1/files/é", False, True),
        ("/model/arn%3Aaws%3Abedrock%3Aeu%3A1%3Ainference-profile%2Fx/converse", True, False),
        ("/model/a%2F..%2Fb/converse", True, True),
        ("/model/a%2F.%2Fb/converse", True, True),
    ],
)
def test_unsafe_path(path: str, slashes: bool, unsafe: bool) -> None:
    assert unsafe_path(path, encoded_slashes=slashes) is unsafe


# ---------------------------------------------------------------- 2. query strings and locations


def test_openai_scanned_operations_forward_no_query(proxy: ProxyHarness, scripted: Scripted) -> None:
    sdk(proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], extra_query={"note": EMAIL}
    )
    (sent,) = scripted.recorder.requests
    assert sent.path == "/v1/chat/completions" and sent.query == {}
    assert EMAIL.encode() not in scripted.recorder.all_bytes()


def test_azure_forwards_only_the_api_version(proxy: ProxyHarness, scripted: Scripted) -> None:
    azure_sdk(proxy).chat.completions.create(
        model="dep", messages=[{"role": "user", "content": "hi"}], extra_query={"note": EMAIL}
    )
    (sent,) = scripted.recorder.requests
    assert sent.path == "/openai/deployments/dep/chat/completions"
    assert sent.query == {"api-version": API_VERSION}


def test_gemini_forwards_only_alt(proxy: ProxyHarness, scripted: Scripted) -> None:
    body = json.dumps({"contents": [{"parts": [{"text": "hi"}]}]}).encode()
    path = f"/c/cust-42/gemini/v1beta/models/{GEMINI_MODEL}:generateContent?alt=json&note={EMAIL}"
    status, _, _ = call(proxy, "POST", path, body, gemini_headers())
    assert status == 200
    (sent,) = scripted.recorder.requests
    assert sent.query == {"alt": "json"}


def test_bedrock_model_operations_forward_no_query(proxy: ProxyHarness, scripted: Scripted) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    path = f"/c/cust-42/bedrock/model/{HAIKU}/converse?note=jane.doe%40example.com"
    status, _, _ = call(proxy, "POST", path, body, bedrock_headers(proxy, "POST", path, body))
    assert status == 200
    (sent,) = scripted.recorder.requests
    assert sent.path == f"/model/{HAIKU}/converse" and sent.query == {}


def test_bedrock_allowed_extra_path_keeps_its_query_signed_as_sent(
    proxy: ProxyHarness, scripted: Scripted
) -> None:
    verified: list[str] = []

    async def check_signature(request: web.Request, received: ReceivedRequest) -> web.Response:
        secrets = {"AKIDUPSTREAM": "upstream-secret"}
        caller = verify_request(
            request.method,
            request.raw_path,
            request.headers,
            received.body,
            secrets.get,
            now=datetime.now(UTC),
        )
        verified.append(caller.access_key_id)
        return web.json_response({"asyncInvokeSummaries": []})

    scripted.reply = check_signature
    path = "/c/cust-42/bedrock/async-invoke?maxResults=5&nextToken=a%2Fb%20c%2Bd~"
    status, _, _ = call(proxy, "GET", path, b"", bedrock_headers(proxy, "GET", path, b""))
    assert status == 200 and verified == ["AKIDUPSTREAM"]
    (sent,) = scripted.recorder.requests
    assert sent.query == {"maxResults": "5", "nextToken": "a/b c+d~"}


def test_chat_web_search_user_location_is_scanned(proxy: ProxyHarness, scripted: Scripted) -> None:
    location = {"type": "approximate", "approximate": {"city": EMAIL, "country": "US"}}
    sdk(proxy).chat.completions.create(
        model="gpt-4o-search-preview",
        messages=[{"role": "user", "content": "weather?"}],
        web_search_options={"user_location": location},  # type: ignore[typeddict-item]
    )
    (sent,) = scripted.recorder.requests
    assert EMAIL.encode() not in sent.body
    sent_location = orjson.loads(sent.body)["web_search_options"]["user_location"]
    assert sent_location["approximate"]["city"] == "<EMAIL_ADDRESS_1>"


def test_responses_web_search_tool_user_location_is_scanned(proxy: ProxyHarness, scripted: Scripted) -> None:
    tool = {"type": "web_search", "user_location": {"type": "approximate", "city": EMAIL}}
    body = json.dumps({"model": "gpt-4o", "input": "weather?", "tools": [tool]}).encode()
    status, _, _ = call(proxy, "POST", "/c/cust-42/openai/v1/responses", body, openai_headers())
    assert status == 200
    (sent,) = scripted.recorder.requests
    assert EMAIL.encode() not in sent.body
    assert orjson.loads(sent.body)["tools"][0]["user_location"]["city"] == "<EMAIL_ADDRESS_1>"


def test_gemini_lat_lng_is_unscannable_content(proxy: ProxyHarness, scripted: Scripted) -> None:
    body = json.dumps(
        {
            "contents": [{"parts": [{"text": "coffee nearby?"}]}],
            "tools": [{"googleMaps": {}}],
            "toolConfig": {"retrievalConfig": {"latLng": {"latitude": 52.52, "longitude": 13.40}}},
        }
    ).encode()
    path = f"/gemini/v1beta/models/{GEMINI_MODEL}:generateContent"
    status, _, answer = call(proxy, "POST", "/c/cust-42" + path, body, gemini_headers())
    assert status == 403
    assert orjson.loads(answer)["error"]["details"][0]["reason"] == "unscannable_content"
    assert scripted.recorder.requests == []

    status, _, _ = call(proxy, "POST", "/c/cust-images-ok" + path, body, gemini_headers())
    assert status == 200 and len(scripted.recorder.requests) == 1


# ---------------------------------------------------------------- 3. bodies to allowed extra paths


def _upload(proxy: ProxyHarness, provider: str, customer: str) -> tuple[int, dict[str, str], bytes]:
    body = f"notes about {EMAIL}".encode()
    if provider == "openai":
        return call(proxy, "POST", f"/c/{customer}/openai/v1/files", body, openai_headers())
    if provider == "azure":
        path = f"/c/{customer}/azure/myres/openai/files?api-version={API_VERSION}"
        return call(proxy, "POST", path, body, {"api-key": PROXY_KEY})
    if provider == "gemini":
        return call(proxy, "POST", f"/c/{customer}/gemini/v1beta/files", body, gemini_headers())
    path = f"/c/{customer}/bedrock/async-invoke"
    return call(proxy, "POST", path, body, bedrock_headers(proxy, "POST", path, body))


@pytest.mark.parametrize("provider", ["openai", "azure", "gemini", "bedrock"])
def test_body_to_an_allowed_extra_path_is_unscannable_content(
    proxy: ProxyHarness, scripted: Scripted, provider: str
) -> None:
    status, headers, answer = _upload(proxy, provider, "cust-42")
    assert status == 403
    if provider == "bedrock":
        assert headers["X-Consentry-Reason"] == "unscannable_content"
    elif provider == "gemini":
        assert orjson.loads(answer)["error"]["details"][0]["reason"] == "unscannable_content"
    else:
        assert orjson.loads(answer)["error"]["reason"] == "unscannable_content"
    assert scripted.recorder.requests == []
    record = proxy.record(headers["X-Consentry-Request-Id"])
    assert record.decision == "blocked" and record.reason == "unscannable_content"

    # A customer whose policy allows unscannable content sends it, untouched.
    status, _, _ = _upload(proxy, provider, "cust-images-ok")
    assert status == 200
    (sent,) = scripted.recorder.requests
    assert sent.body == f"notes about {EMAIL}".encode()


# ---------------------------------------------------------------- 4. consent without a body


@pytest.mark.parametrize(
    ("customer", "reason"),
    [("cust-withdrawn", "consent_withdrawn"), ("cust-no-openai", "provider_not_allowed")],
)
def test_requests_without_a_body_are_judged_too(
    proxy: ProxyHarness, scripted: Scripted, customer: str, reason: str
) -> None:
    for path in ("/openai/v1/models", "/openai/v1/models/gpt-4o", "/openai/v1/files"):
        status, headers, answer = call(proxy, "GET", f"/c/{customer}{path}", b"", openai_headers())
        assert status == 403
        assert orjson.loads(answer)["error"]["reason"] == reason
        record = proxy.record(headers["X-Consentry-Request-Id"])
        assert record.decision == "blocked" and record.reason == reason
    assert scripted.recorder.requests == []


def test_a_customer_allowing_the_provider_still_lists_models(proxy: ProxyHarness, scripted: Scripted) -> None:
    status, _, _ = call(proxy, "GET", "/c/cust-42/openai/v1/models", b"", openai_headers())
    assert status == 200 and len(scripted.recorder.requests) == 1


# ---------------------------------------------------------------- 5. failures once a stream started


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [choice],
    }


def sse_reply(events: list[Any], pause_s: float = 0.0) -> Reply:
    async def reply(request: web.Request, _: ReceivedRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": SSE})
        await response.prepare(request)
        for event in events:
            data = event if isinstance(event, str) else json.dumps(event)
            await response.write(f"data: {data}\n\n".encode())
            if pause_s:
                await asyncio.sleep(pause_s)
        await response.write_eof()
        return response

    return reply


def raw_stream_request(proxy: ProxyHarness, customer: str) -> bytes:
    body = chat_body(stream=True)
    head = (
        f"POST /c/{customer}/openai/v1/chat/completions HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{proxy.server.port}\r\nAuthorization: Bearer {PROXY_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_an_exception_after_the_headers_cuts_the_stream_without_a_second_response(
    proxy: ProxyHarness, scripted: Scripted, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.reply = sse_reply([_chunk({"content": f"Hi {n}"}) for n in range(5)] + ["[DONE]"])
    original = ChoicesStream.on_event
    seen = []

    def failing(self: ChoicesStream, event: Any) -> Any:
        seen.append(event)
        if len(seen) == 2:
            raise RuntimeError(f"broken while restoring {EMAIL}")
        return original(self, event)

    monkeypatch.setattr(ChoicesStream, "on_event", failing)
    with socket.create_connection(("127.0.0.1", proxy.server.port), timeout=30) as sock:
        sock.sendall(raw_stream_request(proxy, "cust-42"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    assert received.count(b"HTTP/1.1") == 1, "a second response was written into the stream"
    assert not received.endswith(b"0\r\n\r\n"), "the cut stream must not look complete"
    request_id = received.split(b"X-Consentry-Request-Id: ", 1)[1].split(b"\r\n", 1)[0].decode()
    record = proxy.record(request_id)
    assert record.decision == "failed" and record.reason == "stream_failed"
    assert "RuntimeError" in caplog.text and EMAIL not in caplog.text


def test_a_client_going_away_mid_stream_is_not_an_upstream_error(
    proxy: ProxyHarness, scripted: Scripted
) -> None:
    events = [_chunk({"content": f"piece {n} "}) for n in range(300)] + ["[DONE]"]
    scripted.reply = sse_reply(events, pause_s=0.01)
    kinds = ("upstream_cut", "upstream_timeout")
    before = [proxy.metric("consentry_upstream_errors_total", provider="openai", kind=k) for k in kinds]
    with socket.create_connection(("127.0.0.1", proxy.server.port), timeout=30) as sock:
        sock.sendall(raw_stream_request(proxy, "cust-leaves"))
        received = b""
        while b"piece 3" not in received:
            received += sock.recv(65536)
    request_id = received.split(b"X-Consentry-Request-Id: ", 1)[1].split(b"\r\n", 1)[0].decode()
    deadline = time.monotonic() + 20
    record = None
    while record is None and time.monotonic() < deadline:
        time.sleep(0.1)
        record = proxy.record(request_id)
    assert record is not None, "the request never finished"
    assert record.reason == "client_disconnected"
    after = [proxy.metric("consentry_upstream_errors_total", provider="openai", kind=k) for k in kinds]
    assert after == before


# ---------------------------------------------------------------- 6. timeouts


def test_a_provider_trickling_a_whole_answer_is_cut_at_its_timeout(
    proxy: ProxyHarness, scripted: Scripted
) -> None:
    async def trickle(request: web.Request, _: ReceivedRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
        await response.prepare(request)
        for _ in range(100):  # one byte every 0.2 s: the per-read timeout (1 s) never fires
            await response.write(b" ")
            await asyncio.sleep(0.2)
        return response

    scripted.reply = trickle
    started = time.monotonic()
    status, _, answer = call(
        proxy, "POST", "/c/cust-42/openai/v1/chat/completions", chat_body("hi"), openai_headers()
    )
    assert status == 504 and orjson.loads(answer)["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 6


class _SlowResolver(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        await asyncio.sleep(30)
        return []

    async def close(self) -> None:
        return None


def test_name_resolution_counts_against_the_connect_timeout() -> None:
    async def attempt() -> tuple[ProxyError, float]:
        upstream = Upstream(resolver=_SlowResolver())
        await upstream.start()
        started = time.monotonic()
        try:
            with pytest.raises(ProxyError) as caught:
                await upstream.send(UpstreamRequest("GET", "http://provider.invalid/v1/models"), 0.3, 20)
            return caught.value, time.monotonic() - started
        finally:
            await upstream.close()

    error, elapsed = asyncio.run(attempt())
    assert error.status == 504 and elapsed < 3


# ---------------------------------------------------------------- 7. text held back at a stream's end


def _stream_text(chunks: Iterator[Any]) -> tuple[str, str]:
    text, arguments = "", ""
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                arguments += (call.function and call.function.arguments) or ""
    return text, arguments


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_text_held_back_is_sent_with_an_empty_finish_delta(
    proxy: ProxyHarness, scripted: Scripted, provider: str
) -> None:
    scripted.reply = sse_reply(
        [
            _chunk({"role": "assistant", "content": "Write to "}),
            _chunk({"content": HELD}),
            _chunk({}, "stop"),
            "[DONE]",
        ]
    )
    client = sdk(proxy) if provider == "openai" else azure_sdk(proxy)
    stream = client.chat.completions.create(
        model="dep", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    assert _stream_text(iter(stream)) == ("Write to " + HELD, "")


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_tool_arguments_held_back_are_sent_with_an_empty_finish_delta(
    proxy: ProxyHarness, scripted: Scripted, provider: str
) -> None:
    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "send", "arguments": ""}}
    more = {"index": 0, "function": {"arguments": '{"to": "' + HELD}}
    scripted.reply = sse_reply(
        [
            _chunk({"role": "assistant", "tool_calls": [start]}),
            _chunk({"tool_calls": [more]}),
            _chunk({}, "tool_calls"),
            "[DONE]",
        ]
    )
    client = sdk(proxy) if provider == "openai" else azure_sdk(proxy)
    stream = client.chat.completions.create(
        model="dep", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    assert _stream_text(iter(stream)) == ("", '{"to": "' + HELD)


VAULT = Restorer({"<EMAIL_ADDRESS_1>": EMAIL})


def _events(raw: bytes) -> list[Any]:
    decoder = SseDecoder()
    events = decoder.feed(raw) + decoder.finish()
    return [orjson.loads(e.data) for e in events if e.data and e.data != "[DONE]"]


def test_a_finish_chunk_without_a_delta_gets_one_for_held_text() -> None:
    transformer = SseAnswer(ChoicesStream(VAULT, legacy=False))
    raw = b"".join(
        b"data: " + orjson.dumps(e) + b"\n\n"
        for e in (
            {"choices": [{"index": 0, "delta": {"content": "a " + HELD}}]},
            {"choices": [{"index": 0, "finish_reason": "stop"}]},
        )
    )
    events = _events(transformer.feed(raw) + transformer.finish())
    assert "".join(c["delta"].get("content", "") for e in events for c in e["choices"]) == "a " + HELD


def _responses_event(etype: str, **fields: Any) -> bytes:
    return f"event: {etype}\ndata: ".encode() + orjson.dumps({"type": etype, **fields}) + b"\n\n"


def test_responses_stream_flushes_held_text_when_no_done_event_comes() -> None:
    transformer = SseAnswer(ResponsesStream(VAULT))
    ids = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    out = transformer.feed(_responses_event("response.output_text.delta", delta="Write to " + HELD, **ids))
    out += transformer.finish()
    deltas = [e for e in _events(out) if e["type"] == "response.output_text.delta"]
    assert "".join(e["delta"] for e in deltas) == "Write to " + HELD
    assert deltas[-1]["item_id"] == "msg_1" and deltas[-1]["content_index"] == 0


def test_responses_stream_flushes_held_text_before_the_final_event() -> None:
    transformer = SseAnswer(ResponsesStream(VAULT))
    ids = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    out = transformer.feed(_responses_event("response.output_text.delta", delta="Write to " + HELD, **ids))
    out += transformer.feed(_responses_event("response.incomplete", response={"id": "r"}))
    out += transformer.finish()
    events = _events(out)
    assert [e["type"] for e in events][-2:] == ["response.output_text.delta", "response.incomplete"]
    assert events[-2]["delta"] == HELD


def test_gemini_finish_without_content_still_gets_the_held_text() -> None:
    chunks = CandidateStream(VAULT)
    _, first = chunks.on_chunk({"candidates": [{"content": {"parts": [{"text": "a " + HELD}]}, "index": 0}]})
    _, last = chunks.on_chunk({"candidates": [{"finishReason": "STOP", "index": 0}]})
    assert first["candidates"][0]["content"]["parts"][0]["text"] == "a "
    assert last["candidates"][0]["content"]["parts"][0]["text"] == HELD
    assert chunks.finish() == []


def test_bedrock_flat_chunks_release_held_text_at_the_end() -> None:
    def frame(chunk: dict[str, Any]) -> bytes:
        return encode_event("chunk", orjson.dumps({"bytes": base64.b64encode(orjson.dumps(chunk)).decode()}))

    answer = EventStreamAnswer(_ChunkFrames(chunk_handler("titan", VAULT)))
    out = answer.feed(frame({"outputText": "a " + HELD, "index": 0}) + frame({"completionReason": "FINISH"}))
    out += answer.finish()
    texts = [
        orjson.loads(base64.b64decode(orjson.loads(m.payload)["bytes"])).get("outputText", "")
        for m in EventStreamDecoder().feed(out)
    ]
    assert "".join(texts) == "a " + HELD


# ---------------------------------------------------------------- 8. malformed bodies
# Deny by default: a body of the wrong shape is refused (400 in the provider's shape) or forwarded
# with every string in it scanned; never forwarded with personal data unread.


def refused_or_masked(status: int, scripted: Scripted) -> None:
    if status == 400:
        assert scripted.recorder.requests == []
    else:
        assert scripted.recorder.requests, f"status {status} but nothing went upstream"
        assert EMAIL.encode() not in scripted.recorder.all_bytes()
    scripted.recorder.clear()


def test_openai_text_part_without_text_is_forwarded_without_text(
    proxy: ProxyHarness, scripted: Scripted
) -> None:
    for client in (sdk(proxy), azure_sdk(proxy)):
        client.chat.completions.create(
            model="dep",
            messages=[{"role": "user", "content": [{"type": "text"}]}],  # type: ignore[list-item]
        )
        refused_or_masked(200, scripted)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": ["text"], "text": "x"}]}]}, 400),
        ({"model": "m", "messages": [{"role": "user", "content": {"text": PROMPT}}]}, None),
        ({"model": "m", "messages": [{"role": "user", "content": [[PROMPT]]}]}, None),
        ({"model": "m", "messages": [{"role": "assistant", "tool_calls": {"function": PROMPT}}]}, None),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "user": {"email": EMAIL}}, 400),
        ({"model": "m", "messages": [{"role": EMAIL, "content": "x"}]}, 400),
    ],
)
def test_openai_malformed_chat_bodies_are_refused_or_scanned(
    proxy: ProxyHarness, scripted: Scripted, body: Any, status: int | None
) -> None:
    got, _, answer = call(
        proxy, "POST", "/c/cust-42/openai/v1/chat/completions", json.dumps(body).encode(), openai_headers()
    )
    if status is not None:
        assert got == status
    if got == 400:
        assert orjson.loads(answer)["error"]["type"] == "invalid_request_error"
        assert EMAIL not in answer.decode()
    refused_or_masked(got, scripted)


def test_openai_instructions_that_are_not_text_are_scanned(proxy: ProxyHarness, scripted: Scripted) -> None:
    body = json.dumps({"model": "m", "input": "hi", "instructions": {"who": EMAIL}}).encode()
    status, _, _ = call(proxy, "POST", "/c/cust-42/openai/v1/responses", body, openai_headers())
    refused_or_masked(status, scripted)


@pytest.mark.parametrize(
    "part",
    [{"functionCall": PROMPT}, {"executableCode": {"code": {"x": PROMPT}}}, {"text": {"t": PROMPT}}],
)
def test_gemini_malformed_parts_are_refused_or_scanned(
    proxy: ProxyHarness, scripted: Scripted, part: Any
) -> None:
    body = json.dumps({"contents": [{"parts": [part]}]}).encode()
    path = f"/c/cust-42/gemini/v1beta/models/{GEMINI_MODEL}:generateContent"
    status, _, _ = call(proxy, "POST", path, body, gemini_headers())
    refused_or_masked(status, scripted)


@pytest.mark.parametrize(
    "block",
    [{"text": 5}, {"toolUse": PROMPT}, {"guardContent": {"text": PROMPT}}, {"reasoningContent": [PROMPT]}],
)
def test_bedrock_malformed_converse_blocks_are_refused_or_scanned(
    proxy: ProxyHarness, scripted: Scripted, block: Any
) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": [block]}]}).encode()
    path = f"/c/cust-42/bedrock/model/{HAIKU}/converse"
    status, headers, _ = call(proxy, "POST", path, body, bedrock_headers(proxy, "POST", path, body))
    if status == 400:
        assert headers["x-amzn-ErrorType"] == "ValidationException"
    refused_or_masked(status, scripted)
