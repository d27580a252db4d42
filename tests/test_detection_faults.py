"""Detection under faults and load, through the proxy with the official SDKs.

The kill -9 and neighbour cases run the real model in two worker processes: a worker killed
while idle or under load costs at most the request that was on it, readiness stays truthful, and
large inputs never fail small requests beside them. Refusals (over the text budget, overload)
run on fake detectors: they must happen before any detection work, in each provider's shape.
"""

from __future__ import annotations

import http.client
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from proxy.config import DetectionConfig
from proxy.detection import PresidioDetector
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.detectors import NullDetector, OverloadedDetector, QueuedFakeDetector, SlowWorkers
from tests.fakes.server import BackgroundServer, Recorder

# Generous admission for the real-model cases: they test faults, not shedding.
POOL_DETECTION = {"timeout_s": 15, "max_queue_wait_s": 3}
NAMES = ("Jane Doe", "Olga Petrova", "Oskar Lindqvist", "Maria Garcia", "Tom Baker", "Anna Schmidt")


def prompt(i: int) -> str:
    """A fresh ~1 KB prompt with personal data (fresh: the detection cache must not answer it)."""
    name = NAMES[i % len(NAMES)]
    email = f"{name.split()[0].lower()}.{i}@example.com"
    filler = f"Request {i}: the quarterly report for region {i % 7} needs a summary by Friday. " * 10
    return f"Please write to {name} at {email} about invoice {i}. {filler}"


def large_prompt(i: int, chars: int) -> str:
    sentence = (
        f"Case {i}: Jane Doe (jane.doe{i}@example.com) met Oskar Lindqvist in Berlin about the lease; "
        "the committee noted that the figures for the northern region were in line with the plan. "
    )
    return (sentence * (chars // len(sentence) + 1))[:chars]


def sdk(proxy: ProxyHarness, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-42/openai/v1", api_key=PROXY_KEY, max_retries=retries, timeout=60
    )


def chat(client: openai.OpenAI, content: str) -> Any:
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )


def outcome(call: Callable[[], Any]) -> tuple[str, float, Any]:
    """("ok" | "status" | "dropped", seconds, the answer or the exception)."""
    started = time.monotonic()
    try:
        answer = call()
        return "ok", time.monotonic() - started, answer
    except openai.APIStatusError as exc:
        return "status", time.monotonic() - started, exc
    except openai.APIConnectionError as exc:  # no answer at all: what must never happen
        return "dropped", time.monotonic() - started, exc


def readyz(proxy: ProxyHarness) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.server.port, timeout=10)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status
    finally:
        connection.close()


class ReadinessWatch:
    """Polls /readyz every 20 ms in a thread; `statuses` holds every answer."""

    def __init__(self, proxy: ProxyHarness) -> None:
        self.proxy = proxy
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.statuses.append(readyz(self.proxy))
            time.sleep(0.02)

    def __enter__(self) -> ReadinessWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


# ---------------------------------------------------------------- the real model, two workers


@pytest.fixture(scope="module")
def pool_detector() -> PresidioDetector:
    # Started by the proxy on its own event loop, as in production.
    return PresidioDetector(
        workers=2,
        timeout_s=POOL_DETECTION["timeout_s"],
        max_queue_wait_s=POOL_DETECTION["max_queue_wait_s"],
    )


@pytest.fixture(scope="module")
def pooled_proxy(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, pool_detector: PresidioDetector
) -> Iterator[ProxyHarness]:
    proxy = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        detector_override=pool_detector,
        extra={"detection": POOL_DETECTION},
    )
    deadline = time.monotonic() + 180
    while readyz(proxy) != 200:
        assert time.monotonic() < deadline, "the detector workers did not start"
        time.sleep(0.2)
    yield proxy
    proxy.server.call(pool_detector.close())


def restored(detector: PresidioDetector, within_s: float = 90) -> float:
    started = time.monotonic()
    assert detector.pool is not None
    while detector.pool.alive < detector.workers:
        assert time.monotonic() - started < within_s, "the killed worker was not replaced"
        time.sleep(0.02)
    return time.monotonic() - started


def test_kill_9_of_an_idle_worker_costs_nothing_and_readiness_stays_true(
    pooled_proxy: ProxyHarness, pool_detector: PresidioDetector, openai_recorder: Recorder
) -> None:
    restored(pool_detector)
    assert pool_detector.pool is not None
    victim = pool_detector.pool.pids()[0]
    client = sdk(pooled_proxy)
    with ReadinessWatch(pooled_proxy) as watch:
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        results = [outcome(lambda i=i: chat(client, prompt(1000 + i))) for i in range(5)]
        restored(pool_detector)
        restore_s = time.monotonic() - killed_at
        results += [outcome(lambda i=i: chat(client, prompt(2000 + i))) for i in range(3)]
    load_s = pool_detector.pool.last_load_s
    print(
        f"idle worker killed: fully restored {restore_s:.1f}s later (the replacement loaded in {load_s:.1f}s)"
    )

    assert [kind for kind, _, _ in results] == ["ok"] * 8
    sent = openai_recorder.all_bytes()
    for i in (*range(1000, 1005), *range(2000, 2003)):
        assert f".{i}@example.com".encode() not in sent, "masked before it left"
    assert all("@example.com" in answer.choices[0].message.content for _, _, answer in results)
    assert watch.statuses and set(watch.statuses) == {200}, "one worker was alive throughout: ready"
    assert victim not in pool_detector.pool.pids()
    assert restore_s <= load_s + 2.0, "the replacement started at once: restored within a model load"
    assert pooled_proxy.scrape("consentry_detector_worker_exits_total", cause="crashed") >= 1
    assert pooled_proxy.scrape("consentry_detector_worker_restarts_total") >= 1
    assert pooled_proxy.scrape("consentry_detector_workers_alive") == 2


def test_kill_9_under_load_fails_at_most_the_request_on_that_worker(
    pooled_proxy: ProxyHarness, pool_detector: PresidioDetector
) -> None:
    restored(pool_detector)
    assert pool_detector.pool is not None
    client = sdk(pooled_proxy)

    def session(n: int) -> list[tuple[str, float, Any]]:
        return [outcome(lambda i=i: chat(client, prompt(3000 + n * 100 + i))) for i in range(8)]

    with ThreadPoolExecutor(4) as pool:
        sessions = [pool.submit(session, n) for n in range(4)]
        time.sleep(1.0)
        victim = pool_detector.pool.pids()[0]
        os.kill(victim, signal.SIGKILL)
        results = [r for s in sessions for r in s.result()]
    restore_s = restored(pool_detector)
    print(f"worker killed under load: replaced in {restore_s:.1f}s")

    kinds = [kind for kind, _, _ in results]
    assert "dropped" not in kinds, "every request gets an answer"
    failed = [exc for kind, _, exc in results if kind == "status"]
    # one worker runs one job at a time: at most one request was on it (and it is retried once)
    assert len(failed) <= 1, [f"{e.status_code} {e.body}" for e in failed]
    for exc in failed:
        assert exc.status_code == 503 and exc.body["code"] == "detection_unavailable"
    assert kinds.count("ok") >= len(results) - 1


def test_large_inputs_do_not_fail_small_requests_beside_them(
    pooled_proxy: ProxyHarness, pool_detector: PresidioDetector
) -> None:
    restored(pool_detector)
    client = sdk(pooled_proxy)
    large_chars = 17_000  # just within the default budget
    assert large_chars < DetectionConfig().max_chars
    small: list[tuple[str, float, Any]] = []
    large: list[Any] = []

    def send_large() -> None:
        for i in range(3):
            large.append(pool.submit(outcome, lambda i=i: chat(client, large_prompt(i, large_chars))))
            time.sleep(2.0)

    with ThreadPoolExecutor(8) as pool:
        sender = pool.submit(send_large)
        for i in range(30):
            small.append(outcome(lambda i=i: chat(client, prompt(4000 + i))))
            time.sleep(0.3)
        sender.result()
        large_results = [f.result() for f in large]

    latencies = sorted(s for _, s, _ in small)
    print(
        f"large inputs of {large_chars} chars beside small requests: small p50 "
        f"{statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; large "
        + ", ".join(f"{s:.1f}s" for _, s, _ in large_results)
    )
    assert [kind for kind, _, _ in small] == ["ok"] * 30, "no small request may fail"
    assert [kind for kind, _, _ in large_results] == ["ok"] * 3


# ---------------------------------------------------------------- refusals before any work


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def test_text_over_the_budget_is_413_before_any_work(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    counting = NullDetector()
    proxy = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        detector_override=counting,
    )
    limit = proxy.config.detection.max_chars
    with pytest.raises(openai.APIStatusError) as caught:
        chat(sdk(proxy, retries=2), large_prompt(0, limit + 1))

    error = caught.value
    assert error.status_code == 413
    assert error.body["code"] == "text_too_long" and error.body["type"] == "invalid_request_error"
    assert str(limit) in error.body["message"] and "refused again" in error.body["message"]
    assert "Jane" not in error.body["message"]
    assert error.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in error.response.headers
    assert counting.calls == 0, "no detection work for a request over the budget"
    assert upstream.requests == []
    # the SDK did not try again: one refusal, recorded with its reason
    assert (
        proxy.metric(
            "consentry_requests_total", provider="openai", operation="chat", decision="failed", status="413"
        )
        == 1
    )
    assert proxy.records("cust-42")[-1].reason == "text_too_long"
    assert (
        proxy.metric("consentry_detection_shed_requests_total", provider="openai", reason="text_budget") == 1
    )
    chat(sdk(proxy), large_prompt(0, limit - 500))  # just under the budget passes
    assert counting.calls == 1


def test_overload_is_refused_at_once_with_429_and_retry_after(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    workers = SlowWorkers(1, job_s=0.3)
    proxy = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        detector_override=QueuedFakeDetector(workers, timeout_s=5, max_queue_wait_s=0.5),
    )
    client = sdk(proxy)
    assert outcome(lambda: chat(client, prompt(0)))[0] == "ok"  # the queue has timed a job
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: outcome(lambda: chat(client, prompt(i))), range(1, 21)))

    kinds = [kind for kind, _, _ in results]
    refused = [(s, exc) for kind, s, exc in results if kind == "status"]
    print(
        f"overload: {kinds.count('ok')} served, {len(refused)} refused, "
        f"the slowest refusal in {max(s for s, _ in refused) * 1000:.0f} ms"
    )
    assert "dropped" not in kinds
    assert refused and kinds.count("ok") + len(refused) == 20
    for seconds, exc in refused:
        assert isinstance(exc, openai.RateLimitError)
        assert exc.body["code"] == "detection_overloaded"
        assert int(exc.response.headers["retry-after"]) >= 1
        assert exc.response.headers["x-should-retry"] == "true"
        assert seconds < 1.0, "a refusal is answered at once, not after a wait"
    assert len(upstream.requests) == kinds.count("ok") + 1
    assert proxy.metric(
        "consentry_detection_shed_requests_total", provider="openai", reason="overloaded"
    ) == len(refused)
    reasons = {record.reason for record in proxy.records("cust-42") if record.decision == "failed"}
    assert reasons == {"detection_overloaded"}


# ---------------------------------------------------------------- every SDK sees a retryable 429


def test_openai_sdk_retries_a_429_after_its_retry_after(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    proxy = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        detector_override=OverloadedDetector(retry_after_s=1),
    )
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:
        chat(sdk(proxy, retries=1), prompt(0))
    assert time.monotonic() - started >= 1.0, "the SDK waited Retry-After before trying again"
    headers = caught.value.response.headers
    assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "1000"
    assert (
        proxy.metric(
            "consentry_requests_total", provider="openai", operation="chat", decision="failed", status="429"
        )
        == 2
    )


BEDROCK_KEY_ID = "AKIDCONSENTRYBACKEND"
BEDROCK_SECRET = "caller-secret-0123456789abcdef"
BEDROCK_APPS = {
    "backend": {
        "key": PROXY_KEY,
        "aws_access_key_id": BEDROCK_KEY_ID,
        "aws_secret_access_key": BEDROCK_SECRET,
    }
}


def test_boto3_sees_a_throttling_exception_and_retries_it(make_proxy: ProxyFactory) -> None:
    # Refused before anything is forwarded: the upstream address is never used.
    proxy = make_proxy(
        {"bedrock": {"base_url": "http://127.0.0.1:9", "region": "eu-west-1"}},
        detector_override=OverloadedDetector(retry_after_s=2),
        extra={"apps": BEDROCK_APPS},
    )
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{proxy.url}/c/cust-42/bedrock",
        region_name="eu-west-1",
        aws_access_key_id=BEDROCK_KEY_ID,
        aws_secret_access_key=BEDROCK_SECRET,
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}),
    )
    with pytest.raises(ClientError) as caught:
        client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": [{"text": prompt(0)}]}],
        )
    response = caught.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "2"
    assert response["ResponseMetadata"]["RetryAttempts"] == 1, "boto3 retries a ThrottlingException"


def test_google_genai_sees_resource_exhausted_with_retry_info(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(
        {"gemini": {"base_url": "http://127.0.0.1:9", "api_key": "gemini-upstream-key"}},
        detector_override=OverloadedDetector(retry_after_s=2),
    )
    client = genai.Client(
        api_key=PROXY_KEY,
        http_options=genai_types.HttpOptions(
            base_url=f"{proxy.url}/c/cust-42/gemini",
            retry_options=genai_types.HttpRetryOptions(attempts=2, initial_delay=0.05, max_delay=0.1),
            timeout=30_000,
        ),
    )
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.0-flash", contents=prompt(0))
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"} in details
    # 429 is in google-genai's retryable codes: the client tried twice
    assert (
        proxy.metric(
            "consentry_requests_total",
            provider="gemini",
            operation="generate_content",
            decision="failed",
            status="429",
        )
        == 2
    )


def test_a_detector_that_is_not_ready_is_503_with_retry_after(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    loading = NullDetector()
    loading.ready = False
    proxy = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        detector_override=loading,
    )
    with pytest.raises(openai.InternalServerError) as caught:
        chat(sdk(proxy), prompt(0))
    assert caught.value.status_code == 503 and caught.value.body["code"] == "detection_unavailable"
    assert caught.value.response.headers["retry-after"] == "5"
    assert loading.calls == 0 and upstream.requests == []
    assert proxy.records("cust-42")[-1].reason == "detection_unavailable"
