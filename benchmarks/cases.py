"""What the benchmark sends: upstream specs and cases.

A case is one kind of request, sent the same way to two endpoints: straight to the fake upstream
("direct", with the upstream's own key) and through the proxy ("proxy", with the proxy key and a
customer id). Everything provider-specific (URLs, headers, body, how to read a stream, what a
correct answer is) lives in the case, so the runner never needs to know a wire format.

Adding a provider (Azure, Bedrock, Gemini) means, in this file only:

1. an `UpstreamSpec` in `UPSTREAMS` if its fake is not served yet (Azure reuses the OpenAI fake:
   `make_openai_app` also serves the Azure routes; Bedrock and Gemini have their own fakes in
   `tests/fakes/`), with the `providers.<name>` block the proxy needs to reach it;
2. a `StreamParser` for its stream format if it streams something other than OpenAI-style SSE
   (Bedrock: AWS event-stream; Gemini: SSE with `?alt=sse`, or a JSON array);
3. one or more `Case`s appended to `CASES`. Headers are built from the final URL and body, which
   is what SigV4 signing (Bedrock) needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

EndpointKind = Literal["direct", "proxy"]

# The calling application's proxy key, and the customer whose data the requests carry. The
# customer has no entry in the bundled rules, so the default policy applies: mask every entity.
PROXY_KEY = "bench-proxy-key-0123456789abcdef"
CUSTOMER_ID = "bench-customer-1"
OPENAI_UPSTREAM_KEY = "sk-bench-upstream-0123456789"
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


# ---- OpenAI ---------------------------------------------------------------------------------------


def _openai_provider(fake_url: str) -> dict[str, Any]:
    return {"base_url": fake_url + "/v1", "api_key": OPENAI_UPSTREAM_KEY, "timeout_s": 60}


def openai_url(path: str) -> Callable[[Endpoint], str]:
    """`path` below the API root (e.g. "/chat/completions"), where each endpoint serves it."""

    def build(endpoint: Endpoint) -> str:
        root = "/v1" if endpoint.kind == "direct" else "/openai/v1"
        return endpoint.base_url + root + path

    return build


def openai_headers(endpoint: Endpoint, url: str, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if endpoint.kind == "direct":
        headers["Authorization"] = f"Bearer {OPENAI_UPSTREAM_KEY}"
    else:
        # Header form of the customer id, as a backend using default_headers on its SDK would send it.
        headers["Authorization"] = f"Bearer {PROXY_KEY}"
        headers["X-Customer-Id"] = CUSTOMER_ID
    return headers


def chat_body(prompt: str, *, stream: bool) -> Callable[[str], bytes]:
    def build(variant: str) -> bytes:
        return chat_request(with_variant(prompt, variant), stream=stream)

    return build


def chat_request(prompt: str, *, stream: bool) -> bytes:
    # The system prompt stays the same in every request, as in a real backend: after the first
    # request the proxy's detection cache answers for it, which is part of what is measured.
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": prompt},
        ],
    }
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


class OpenAISSEParser:
    """Chat-completions SSE: `data: {chunk}` events, then `data: [DONE]`.

    Lines are split as bytes arrive, because a network read can end anywhere inside an event.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._parts: list[str] = []
        self._started = False
        self._done = False
        self.events = 0

    def feed(self, data: bytes) -> None:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            self.events += 1
            if payload == b"[DONE]":
                self._done = True
                continue
            chunk = orjson.loads(payload)
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    self._parts.append(content)
                    self._started = True

    @property
    def content_started(self) -> bool:
        return self._started

    @property
    def text(self) -> str:
        return "".join(self._parts)

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
        if reply.stream is None or not reply.stream.complete:
            return "stream ended without its terminal event"
        return _compare_echo(reply.stream.text, with_variant(prompt, variant))

    return validate


# ---- registry -------------------------------------------------------------------------------------

UPSTREAMS: dict[str, UpstreamSpec] = {
    "openai": UpstreamSpec(
        name="openai",
        factory="tests.fakes.openai_upstream:make_openai_app",
        options=lambda chunk_size: {"api_key": OPENAI_UPSTREAM_KEY, "chunk_size": chunk_size},
        proxy_provider=_openai_provider,
        probe_path="/v1/models",
    ),
}

CASES: list[Case] = [
    Case(
        name="openai-chat-nopii",
        upstream="openai",
        description="chat completion, ~100 B prompt without personal data",
        method="POST",
        url=openai_url("/chat/completions"),
        headers=openai_headers,
        body=chat_body(PROMPT_NO_PII, stream=False),
        validate=expect_chat_echo(PROMPT_NO_PII),
    ),
    Case(
        name="openai-chat-pii",
        upstream="openai",
        description="chat completion, ~1 KB prompt with names, emails, phones, an address",
        method="POST",
        url=openai_url("/chat/completions"),
        headers=openai_headers,
        body=chat_body(PROMPT_PII, stream=False),
        validate=expect_chat_echo(PROMPT_PII),
        tags=("pii",),
    ),
    Case(
        name="openai-chat-pii-stream",
        upstream="openai",
        description="streaming chat completion (SSE), same ~1 KB PII prompt",
        method="POST",
        url=openai_url("/chat/completions"),
        headers=openai_headers,
        body=chat_body(PROMPT_PII, stream=True),
        validate=expect_stream_echo(PROMPT_PII),
        streaming=True,
        stream_parser=OpenAISSEParser,
        tags=("pii",),
    ),
    # Extension point: Azure / Bedrock / Gemini streaming cases go here (see the module docstring).
]


def select_cases(names: list[str] | None) -> list[Case]:
    if not names:
        return list(CASES)
    by_name = {case.name: case for case in CASES}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names]
