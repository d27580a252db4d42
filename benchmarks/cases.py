"""What the benchmark sends: upstream specs and cases.

A case is one kind of request, sent the same way to two endpoints: straight to the fake upstream
("direct", with the upstream's own key) and through the proxy ("proxy", with the proxy key and a
customer id). Everything provider-specific (URLs, headers, body, how to read a stream, what a
correct answer is) lives in the case, so the runner never needs to know a wire format.

Cases exist for OpenAI, Azure OpenAI, Bedrock and Gemini. Adding another provider (or another
operation of one of these) means, in this file only:

1. an `UpstreamSpec` in `UPSTREAMS` if its fake is not served yet (one fake process per provider:
   Azure runs a second copy of the OpenAI fake, whose `make_openai_app` also serves the Azure
   routes; Bedrock and Gemini have their own fakes in `tests/fakes/`), with the `providers.<name>`
   block the proxy needs to reach it;
2. a `StreamParser` for its stream format if it streams something other than OpenAI-style SSE
   (here: `BedrockEventStreamParser` for AWS event-stream frames, `GeminiSSEParser` for `?alt=sse`);
3. one or more `Case`s appended to `CASES`. Headers are built from the final URL and body, which
   is what SigV4 signing (Bedrock) needs; the runner sends the URL exactly as built (percent-
   encoding kept), so the signed path is the path on the wire.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from proxy.codecs.eventstream import EventStreamDecoder, EventStreamError

EndpointKind = Literal["direct", "proxy"]

# The calling application's proxy key, and the customer whose data the requests carry. The
# customer has no entry in the bundled rules, so the default policy applies: mask every entity.
PROXY_KEY = "bench-proxy-key-0123456789abcdef"
CUSTOMER_ID = "bench-customer-1"
OPENAI_UPSTREAM_KEY = "sk-bench-upstream-0123456789"
AZURE_UPSTREAM_KEY = "azure-bench-upstream-0123456789"
AZURE_RESOURCE = "benchres"  # the name under providers.azure.resources, i.e. /azure/benchres/
AZURE_DEPLOYMENT = "gpt-4o-mini"
AZURE_API_VERSION = "2024-10-21"
GEMINI_UPSTREAM_KEY = "gm-bench-upstream-0123456789"
GEMINI_MODEL = "gemini-2.5-flash"
# Bedrock: the fake checks SigV4 for its own credentials and region (the proxy re-signs with them,
# from providers.bedrock); callers of the proxy sign with the credentials it issued to their app.
BEDROCK_REGION = "eu-west-1"
BEDROCK_UPSTREAM_CREDENTIALS = Credentials("AKIDBENCHUPSTREAM", "bench-upstream-secret-0123456789")
BEDROCK_APP_CREDENTIALS = Credentials("AKIDBENCHAPP", "bench-app-secret-0123456789abcdef")
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
# The calling application as configured in the proxy (`apps.bench`): its proxy key for the
# key-based providers, and the SigV4 credentials it signs Bedrock requests with.
PROXY_APP: dict[str, str] = {
    "key": PROXY_KEY,
    "aws_access_key_id": BEDROCK_APP_CREDENTIALS.access_key,
    "aws_secret_access_key": BEDROCK_APP_CREDENTIALS.secret_key,
}
SYSTEM_PROMPT = "You are a concise assistant."
PROXY_REQUEST_ID_HEADER = "X-Consentry-Request-Id"
# The proxy's reversible placeholders, e.g. <PERSON_1>: one left in an answer was not restored.
PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")


@dataclass(frozen=True)
class Endpoint:
    """One side of a comparison: the fake upstream itself, or the proxy in front of it."""

    kind: EndpointKind
    base_url: str  # the process's root URL, e.g. http://127.0.0.1:41234


@dataclass(frozen=True)
class UpstreamSpec:
    """A fake upstream process and how the proxy is configured to reach it."""

    name: str  # the proxy's provider name (the key under `providers:` in its configuration)
    factory: str  # module:function of the fake app, called as factory(recorder, **options)
    options: Callable[[int], dict[str, Any]]  # stream chunk size -> factory keyword arguments
    proxy_provider: Callable[[str], dict[str, Any]]  # fake's root URL -> `providers.<name>` block
    probe_path: str = "/"  # any HTTP answer here means the fake is serving


class StreamParser(Protocol):
    """Reads one streamed answer incrementally, as the bytes arrive."""

    def feed(self, data: bytes) -> None: ...

    @property
    def content_started(self) -> bool:
        """True once an event carrying answer text has arrived: the time-to-first-byte mark."""
        ...

    @property
    def text(self) -> str:
        """All answer text received so far."""
        ...

    @property
    def complete(self) -> bool:
        """True once the stream's terminal event has arrived (a cut stream never sets it)."""
        ...

    @property
    def problem(self) -> str | None:
        """Why the stream is unreadable (bad framing or JSON, an in-band error), else None.

        A parser never raises from `feed`: it notes the problem, ignores the rest, and the
        validator reports it as this request's error.
        """
        ...


@dataclass
class Reply:
    """What the runner hands a validator after a request finished."""

    status: int
    headers: Mapping[str, str]
    body: bytes  # empty for streams: their content is in `stream`
    stream: StreamParser | None = None


# (endpoint, reply, variant) -> None when the reply is right, else what is wrong. `variant` is the
# sentence this request's body was built with (see `Case.body`).
Validator = Callable[[Endpoint, Reply, str], "str | None"]


@dataclass(frozen=True)
class Case:
    name: str
    upstream: str  # an UPSTREAMS key
    description: str
    method: str
    url: Callable[[Endpoint], str]
    headers: Callable[[Endpoint, str, bytes], dict[str, str]]  # (endpoint, url, body) -> headers
    # variant -> request body. The variant is a short sentence without personal data, different
    # for every request (or "" with --repeat-prompts), which the case appends to its user text:
    # the proxy caches detection results per text segment, and a benchmark repeating one prompt
    # would measure that cache instead of detection. Real user messages are new text every time.
    body: Callable[[str], bytes]
    validate: Validator
    streaming: bool = False
    stream_parser: Callable[[], StreamParser] | None = None
    tags: tuple[str, ...] = field(default=())


# ---- prompts ------------------------------------------------------------------------------------

# About 100 bytes and nothing personal: the proxy still runs detection on it, so this case shows
# the fixed cost of the path (parse, detect, decide, forward, restore, record).
PROMPT_NO_PII = "Summarize the main benefits of caching HTTP responses in a reverse proxy, in three bullets."

# About 1 KB in the shape of a support ticket: several people, emails, phone numbers and a street
# address, so detection, masking and restoring all have real work to do.
PROMPT_PII = (
    "Please draft a short reply to this support ticket and keep every contact detail exactly as "
    "written. Ticket from Maria Gonzalez (maria.gonzalez@example.com, phone +1 415-555-0132): she "
    "was charged twice for the March invoice and asks for a refund to the card ending in her "
    "account. Her colleague David Chen (david.chen@example.org, (212) 555-0198) approved the "
    "original order, and their office manager, Priya Raman, can be reached at priya.raman@example.net "
    "or 650-555-0147 if anything needs to be signed. The refund letter must be mailed to 1600 "
    "Amphitheatre Parkway, Mountain View, CA 94043, to the attention of Maria Gonzalez. Last year "
    "Thomas Mueller from our billing team (thomas.mueller@example.com, +44 20 7946 0958) handled a "
    "similar case for them in London and promised a call back within two business days. Mention "
    "that Anna Kowalski will follow up by email from anna.kowalski@example.com, and that the "
    "customer can also call our support line at 800-555-0199 between 9am and 5pm Pacific time. "
    "Thank you for helping with this."
)

# About 16 KB: fifteen numbered copies of the ticket, for the cost of detection per character on
# a long prompt (a pasted document, a long conversation turn). One text field, so one segment of
# the detection cache: the variant sentence at its end keeps the whole of it fresh per request.
PROMPT_PII_16K = " ".join(f"Ticket {number}. {PROMPT_PII}" for number in range(1, 16))


# Adjectives, because spaCy's small English model tags runs of random nouns as PERSON now and then,
# while "Keep the tone brief, calm and polite." never showed an entity in thousands of variants
# (nor changed what is found in PROMPT_PII when appended to it).
_TONES = (
    "brief", "clear", "calm", "friendly", "polite", "direct", "warm", "formal",
    "simple", "precise", "gentle", "honest", "concise", "careful", "patient", "positive",
    "neutral", "plain", "kind", "helpful", "modest", "steady", "upbeat", "sincere",
    "relaxed", "firm", "crisp", "tidy", "cheerful", "humble", "thoughtful", "respectful",
)  # fmt: skip


def variant_sentence(number: int) -> str:
    """A distinct sentence for each number: its base-32 digits as adjectives, at least three."""
    tones: list[str] = []
    while number or len(tones) < 3:
        number, digit = divmod(number, len(_TONES))
        tones.append(_TONES[digit])
    return f"Keep the tone {', '.join(tones[:-1])} and {tones[-1]}."


def with_variant(prompt: str, variant: str) -> str:
    return f"{prompt} {variant}" if variant else prompt


# ---- shared by the providers --------------------------------------------------------------------


def endpoint_url(proxy_root: str, path: str, direct_root: str = "") -> Callable[[Endpoint], str]:
    """`path` below each endpoint's root: `direct_root` on the fake, `proxy_root` on the proxy."""

    def build(endpoint: Endpoint) -> str:
        root = direct_root if endpoint.kind == "direct" else proxy_root
        return endpoint.base_url + root + path

    return build


def key_headers(
    header: str, upstream_value: str, proxy_value: str
) -> Callable[[Endpoint, str, bytes], dict[str, str]]:
    """JSON headers carrying the caller's key in `header`: the upstream's own key direct; through
    the proxy, the proxy key and the customer id (the header form a backend using default_headers
    on its SDK sends)."""

    def build(endpoint: Endpoint, url: str, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if endpoint.kind == "direct":
            headers[header] = upstream_value
        else:
            headers[header] = proxy_value
            headers["X-Customer-Id"] = CUSTOMER_ID
        return headers

    return build


class _ParserBase:
    """What every stream parser keeps: the answer text so far, whether it started, a problem."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._started = False
        self._problem: str | None = None
        self.events = 0

    def _add_text(self, text: str | None) -> None:
        if text:
            self._parts.append(text)
            self._started = True

    @property
    def content_started(self) -> bool:
        return self._started

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def problem(self) -> str | None:
        return self._problem


class _SSELineParser(_ParserBase):
    """Splits SSE lines as bytes arrive, because a network read can end anywhere inside an event."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = b""

    def feed(self, data: bytes) -> None:
        if self._problem is not None:
            return
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._line(raw.rstrip(b"\r"))
            if self._problem is not None:
                return

    def _line(self, line: bytes) -> None:
        raise NotImplementedError


def pii_stream_case(
    name: str,
    upstream: str,
    description: str,
    url: Callable[[Endpoint], str],
    headers: Callable[[Endpoint, str, bytes], dict[str, str]],
    body: Callable[[str], bytes],
    stream_parser: Callable[[], StreamParser],
) -> Case:
    """A streaming case sending PROMPT_PII and expecting its echo restored: what differs by provider
    is only where and how it is sent and how the stream is read."""
    return Case(
        name=name,
        upstream=upstream,
        description=description,
        method="POST",
        url=url,
        headers=headers,
        body=body,
        validate=expect_stream_echo(PROMPT_PII),
        streaming=True,
        stream_parser=stream_parser,
        tags=("pii",),
    )


# ---- OpenAI ---------------------------------------------------------------------------------------


def _openai_provider(fake_url: str) -> dict[str, Any]:
    return {"base_url": fake_url + "/v1", "api_key": OPENAI_UPSTREAM_KEY, "timeout_s": 60}


def openai_url(path: str) -> Callable[[Endpoint], str]:
    """`path` below the API root (e.g. "/chat/completions"), where each endpoint serves it."""
    return endpoint_url("/openai/v1", path, direct_root="/v1")


openai_headers = key_headers("Authorization", f"Bearer {OPENAI_UPSTREAM_KEY}", f"Bearer {PROXY_KEY}")


def chat_body(prompt: str, *, stream: bool) -> Callable[[str], bytes]:
    def build(variant: str) -> bytes:
        return chat_request(with_variant(prompt, variant), stream=stream)

    return build


def openai_chat_case(name: str, description: str, prompt: str, tags: tuple[str, ...] = ()) -> Case:
    """A non-streamed OpenAI chat completion sending `prompt` and expecting its echo, restored."""
    return Case(
        name=name,
        upstream="openai",
        description=description,
        method="POST",
        url=openai_url("/chat/completions"),
        headers=openai_headers,
        body=chat_body(prompt, stream=False),
        validate=expect_chat_echo(prompt),
        tags=tags,
    )


def chat_request(prompt: str, *, stream: bool) -> bytes:
    # The system prompt stays the same in every request, as in a real backend: after the first
    # request the proxy's detection cache answers for it, which is part of what is measured.
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ],
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


class OpenAISSEParser(_SSELineParser):
    """Chat-completions SSE: `data: {chunk}` events, then `data: [DONE]`."""

    def __init__(self) -> None:
        super().__init__()
        self._done = False

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        self.events += 1
        if payload == b"[DONE]":
            self._done = True
            return
        try:
            chunk = orjson.loads(payload)
            for choice in chunk.get("choices") or ():
                self._add_text((choice.get("delta") or {}).get("content"))
        except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            self._problem = f"unreadable SSE event: {exc!r}"

    @property
    def complete(self) -> bool:
        return self._done


def _proxy_checks(endpoint: Endpoint, reply: Reply) -> str | None:
    if reply.status != 200:
        return f"HTTP {reply.status}: {reply.body[:200]!r}"
    if endpoint.kind == "proxy" and PROXY_REQUEST_ID_HEADER not in reply.headers:
        # Without it the request did not go through the proxy's pipeline at all.
        return f"no {PROXY_REQUEST_ID_HEADER} header"
    return None


def _compare_echo(text: str, prompt: str) -> str | None:
    expected = "Echo: " + prompt
    if text == expected:
        return None
    if PLACEHOLDER.search(text):
        return "answer still contains placeholders (not restored)"
    return f"answer differs from the echoed prompt (got {len(text)} chars, expected {len(expected)})"


def expect_chat_echo(prompt: str) -> Validator:
    """The fake echoes the user prompt; through the proxy the echo is of the masked prompt, so an
    exact match proves every placeholder was restored to the original value."""

    def validate(endpoint: Endpoint, reply: Reply, variant: str) -> str | None:
        problem = _proxy_checks(endpoint, reply)
        if problem:
            return problem
        try:
            answer = orjson.loads(reply.body)
            text = answer["choices"][0]["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            return f"not a chat completion: {exc!r}"
        return _compare_echo(text, with_variant(prompt, variant))

    return validate


def expect_stream_echo(prompt: str) -> Validator:
    def validate(endpoint: Endpoint, reply: Reply, variant: str) -> str | None:
        problem = _proxy_checks(endpoint, reply)
        if problem:
            return problem
        if reply.stream is None:
            return "no stream"
        if reply.stream.problem is not None:
            return reply.stream.problem
        if not reply.stream.complete:
            return "stream ended without its terminal event"
        return _compare_echo(reply.stream.text, with_variant(prompt, variant))

    return validate


# ---- Azure OpenAI -------------------------------------------------------------------------------


def _azure_provider(fake_url: str) -> dict[str, Any]:
    resource = {"endpoint": fake_url, "api_key": AZURE_UPSTREAM_KEY}
    return {"resources": {AZURE_RESOURCE: resource}, "timeout_s": 60}


def azure_deployment_url(operation: str) -> Callable[[Endpoint], str]:
    """A deployment route (e.g. "chat/completions"), as the AzureOpenAI client builds it."""
    path = f"/openai/deployments/{AZURE_DEPLOYMENT}/{operation}?api-version={AZURE_API_VERSION}"
    return endpoint_url(f"/azure/{AZURE_RESOURCE}", path)


# The AzureOpenAI client sends its key in `api-key`: the resource's key direct, the proxy key
# through the proxy (which then sends the resource's key upstream).
azure_headers = key_headers("api-key", AZURE_UPSTREAM_KEY, PROXY_KEY)


# ---- AWS Bedrock ----------------------------------------------------------------------------------


def _bedrock_provider(fake_url: str) -> dict[str, Any]:
    return {
        "base_url": fake_url,
        "region": BEDROCK_REGION,
        "aws_access_key_id": BEDROCK_UPSTREAM_CREDENTIALS.access_key,
        "aws_secret_access_key": BEDROCK_UPSTREAM_CREDENTIALS.secret_key,
        "timeout_s": 60,
    }


def bedrock_url(operation: str) -> Callable[[Endpoint], str]:
    """`/model/{modelId}/{operation}` with the model id percent-encoded (`:` as `%3A`), as boto3 sends it."""
    return endpoint_url("/bedrock", f"/model/{quote(BEDROCK_MODEL, safe='')}/{operation}")


def bedrock_headers(endpoint: Endpoint, url: str, body: bytes) -> dict[str, str]:
    """SigV4-signed headers over this URL and body, as boto3 would send them.

    Direct: the upstream's own credentials and region (what the fake checks). Through the proxy:
    the credentials the proxy issued to the app, with `X-Customer-Id` among the signed headers
    (what boto3's before-sign hook does); the proxy checks that signature and signs the masked
    request again with its own credentials.
    """
    headers = {"Content-Type": "application/json"}
    if endpoint.kind == "direct":
        credentials = BEDROCK_UPSTREAM_CREDENTIALS
    else:
        credentials = BEDROCK_APP_CREDENTIALS
        headers["X-Customer-Id"] = CUSTOMER_ID
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials, "bedrock", BEDROCK_REGION).add_auth(request)
    return dict(request.headers.items())


def converse_body(prompt: str) -> Callable[[str], bytes]:
    def build(variant: str) -> bytes:
        return orjson.dumps(
            {
                "messages": [{"role": "user", "content": [{"text": with_variant(prompt, variant)}]}],
                "system": [{"text": SYSTEM_PROMPT}],
                "inferenceConfig": {"maxTokens": 1024},
            }
        )

    return build


class BedrockEventStreamParser(_ParserBase):
    """ConverseStream: `application/vnd.amazon.eventstream` binary frames, decoded incrementally.

    Answer text is in `contentBlockDelta` events (`delta.text`); the first such text is the
    time-to-first-byte mark. The stream is complete after `messageStop` and the `metadata` event
    Bedrock sends last, with no bytes of a partial frame left over. Any `exception` or `error`
    frame, or a frame failing its CRCs, is a problem.
    """

    def __init__(self) -> None:
        super().__init__()
        self._decoder = EventStreamDecoder()
        self._stopped = False
        self._metadata = False

    def feed(self, data: bytes) -> None:
        if self._problem is not None:
            return
        try:
            messages = self._decoder.feed(data)
        except EventStreamError as exc:
            self._problem = f"bad event stream frame: {exc}"
            return
        for message in messages:
            self.events += 1
            if not message.is_event:
                kind = message.exception_type or message.headers.get(":error-code") or message.message_type
                self._problem = f"{message.message_type} frame {kind}: {message.payload[:200]!r}"
                return
            event = message.event_type
            if event == "contentBlockDelta":
                try:
                    text = (orjson.loads(message.payload).get("delta") or {}).get("text")
                except (orjson.JSONDecodeError, AttributeError) as exc:
                    self._problem = f"unreadable contentBlockDelta: {exc!r}"
                    return
                self._add_text(text)
            elif event == "messageStop":
                self._stopped = True
            elif event == "metadata":
                self._metadata = True

    @property
    def complete(self) -> bool:
        return self._stopped and self._metadata and self._decoder.buffered == 0


# ---- Gemini ---------------------------------------------------------------------------------------


def _gemini_provider(fake_url: str) -> dict[str, Any]:
    return {"base_url": fake_url, "api_key": GEMINI_UPSTREAM_KEY, "timeout_s": 60}


def gemini_url(method: str, query: str = "") -> Callable[[Endpoint], str]:
    """`/v1beta/models/{model}:{method}`, where each endpoint serves it (the proxy below /gemini)."""
    path = f"/v1beta/models/{GEMINI_MODEL}:{method}" + (f"?{query}" if query else "")
    return endpoint_url("/gemini", path)


# google-genai sends its key in x-goog-api-key.
gemini_headers = key_headers("x-goog-api-key", GEMINI_UPSTREAM_KEY, PROXY_KEY)


def gemini_body(prompt: str) -> Callable[[str], bytes]:
    def build(variant: str) -> bytes:
        return orjson.dumps(
            {
                "contents": [{"role": "user", "parts": [{"text": with_variant(prompt, variant)}]}],
                "systemInstruction": {"parts": [{"text": SYSTEM_PROMPT}]},
            }
        )

    return build


class GeminiSSEParser(_SSELineParser):
    """`:streamGenerateContent?alt=sse`: `data: {GenerateContentResponse}` events, CRLF-separated.

    Google sends no terminal event: the stream just ends, its last chunk carrying the candidate's
    `finishReason`. So the stream is complete once a `finishReason` arrived and no partial event
    is left over. An in-band `{"error": ...}` event (how Google reports a failure mid-stream) is
    a problem. Events are dispatched at their blank line, joining multi-line `data:` as SSE does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._data: list[bytes] = []
        self._finished = False

    def _line(self, line: bytes) -> None:
        if line.startswith(b"data:"):
            self._data.append(line[5:].removeprefix(b" "))
        elif not line and self._data:
            payload, self._data = b"\n".join(self._data), []
            self._event(payload)

    def _event(self, payload: bytes) -> None:
        self.events += 1
        try:
            chunk = orjson.loads(payload)
            if "error" in chunk:
                self._problem = f"in-band error event: {payload[:200]!r}"
                return
            for candidate in chunk.get("candidates") or ():
                for part in (candidate.get("content") or {}).get("parts") or ():
                    self._add_text(part.get("text"))
                if candidate.get("finishReason"):
                    self._finished = True
        except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            self._problem = f"unreadable SSE event: {exc!r}"

    @property
    def complete(self) -> bool:
        return self._finished and not self._data and not self._pending.strip()


# ---- registry -------------------------------------------------------------------------------------


def _openai_fake(name: str, api_key: str, proxy_provider: Callable[[str], dict[str, Any]]) -> UpstreamSpec:
    """A process running the OpenAI fake (which serves the Azure routes too) with this key."""
    return UpstreamSpec(
        name=name,
        factory="tests.fakes.openai_upstream:make_openai_app",
        options=lambda chunk_size: {"api_key": api_key, "chunk_size": chunk_size},
        proxy_provider=proxy_provider,
        probe_path="/v1/models",
    )


UPSTREAMS: dict[str, UpstreamSpec] = {
    "openai": _openai_fake("openai", OPENAI_UPSTREAM_KEY, _openai_provider),
    # Its own process running the OpenAI fake, so every provider's direct side is measured
    # against a fake that serves nothing else.
    "azure": _openai_fake("azure", AZURE_UPSTREAM_KEY, _azure_provider),
    "bedrock": UpstreamSpec(
        name="bedrock",
        factory="tests.fakes.bedrock_upstream:make_bedrock_app",
        options=lambda chunk_size: {
            "access_key": BEDROCK_UPSTREAM_CREDENTIALS.access_key,
            "secret_key": BEDROCK_UPSTREAM_CREDENTIALS.secret_key,
            "region": BEDROCK_REGION,
            "chunk_size": chunk_size,
        },
        proxy_provider=_bedrock_provider,
    ),
    "gemini": UpstreamSpec(
        name="gemini",
        # The Gemini fake as the tests use it, minus its 5 ms pause between stream writes (see
        # benchmarks/fake_apps.py): the other fakes write without one.
        factory="benchmarks.fake_apps:make_gemini_app",
        options=lambda chunk_size: {
            "api_key": GEMINI_UPSTREAM_KEY,
            "chunk_size": chunk_size,
            "write_gap_s": 0.0,
        },
        proxy_provider=_gemini_provider,
    ),
}

CASES: list[Case] = [
    openai_chat_case(
        "openai-chat-nopii", "chat completion, ~100 B prompt without personal data", PROMPT_NO_PII
    ),
    openai_chat_case(
        "openai-chat-pii",
        "chat completion, ~1 KB prompt with names, emails, phones, an address",
        PROMPT_PII,
        tags=("pii",),
    ),
    openai_chat_case(
        "openai-chat-pii-16k",
        "chat completion, ~16 KB prompt: fifteen copies of the 1 KB ticket",
        PROMPT_PII_16K,
        # ~1 s of detection per request on one core: 400 of them would triple `make bench`
        tags=("pii", "slow"),
    ),
    pii_stream_case(
        "openai-chat-pii-stream",
        "openai",
        "streaming chat completion (SSE), same ~1 KB PII prompt",
        url=openai_url("/chat/completions"),
        headers=openai_headers,
        body=chat_body(PROMPT_PII, stream=True),
        stream_parser=OpenAISSEParser,
    ),
    pii_stream_case(
        "azure-chat-pii-stream",
        "azure",
        "Azure OpenAI streaming chat completion (deployment route, SSE), same ~1 KB PII prompt",
        url=azure_deployment_url("chat/completions"),
        headers=azure_headers,
        body=chat_body(PROMPT_PII, stream=True),
        stream_parser=OpenAISSEParser,
    ),
    pii_stream_case(
        "bedrock-converse-pii-stream",
        "bedrock",
        "Bedrock ConverseStream (SigV4, event-stream frames), same ~1 KB PII prompt",
        url=bedrock_url("converse-stream"),
        headers=bedrock_headers,
        body=converse_body(PROMPT_PII),
        stream_parser=BedrockEventStreamParser,
    ),
    pii_stream_case(
        "gemini-generate-pii-stream",
        "gemini",
        "Gemini streamGenerateContent?alt=sse, same ~1 KB PII prompt",
        url=gemini_url("streamGenerateContent", "alt=sse"),
        headers=gemini_headers,
        body=gemini_body(PROMPT_PII),
        stream_parser=GeminiSSEParser,
    ),
]


def select_cases(names: list[str] | None, *, include_slow: bool = False) -> list[Case]:
    """The cases named (shell-style patterns allowed, e.g. `*-stream`), in `CASES` order; if none,
    all but those tagged "slow" (unless `include_slow`), which run only when named."""
    if not names:
        return [case for case in CASES if include_slow or "slow" not in case.tags]
    unknown = [n for n in names if not any(fnmatch.fnmatchcase(case.name, n) for case in CASES)]
    if unknown:
        known = ", ".join(case.name for case in CASES)
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; known: {known}")
    return [case for case in CASES if any(fnmatch.fnmatchcase(case.name, n) for n in names)]
