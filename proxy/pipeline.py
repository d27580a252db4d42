"""The request path, stage by stage: identify, decide, detect, transform, forward, restore, record.

Each stage is a small function or object of its own module; this one composes them in order so
the whole path reads top to bottom in `Pipeline.handle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import orjson
from aiohttp import web

from models.consent import Action, Consent
from models.decision import Decision, Findings
from models.sharing import EntityTally, SharingRecord
from models.spans import Span
from models.target import ProviderTarget
from proxy import dry_run
from proxy.config import AnswerLimits, Config
from proxy.detection import DetectionError, DetectionOverloaded, Detector, text_cost
from proxy.disconnect import ClientGone, unless_client_leaves
from proxy.drain import InFlight
from proxy.errors import (
    ANSWER_TOO_LARGE,
    ProxyError,
    detection_overloaded,
    detection_unavailable,
    forbidden,
    ledger_unavailable,
    not_found,
    shutting_down,
    text_over_budget,
    too_large,
    upstream_redirect,
)
from proxy.field_names import labelled
from proxy.formats.answers import ResponseTransformer, StreamAbort
from proxy.identity import CUSTOMER_HEADER, resolve_customer, split_path
from proxy.ledger import Ledger
from proxy.logs import FIELDS
from proxy.metrics import Metrics
from proxy.providers.base import ErrorReply, IncomingRequest, ProviderAdapter, ProviderExchange
from proxy.relay import StreamRelay
from proxy.restore import Restorer
from proxy.textslots import TextSlots
from proxy.transform import Hasher, PlaceholderVault, apply_actions
from proxy.upstream import Upstream
from rules.decide import decide
from rules.store import ConsentStore, ConsentUnavailable

log = logging.getLogger("consentry.request")

REQUEST_ID_HEADER = "X-Consentry-Request-Id"
# The caller's own request id, used in logs and echoed back when it is well-formed: an opaque
# token (no spaces, no '@', so no e-mail address or sentence rides in it). The sharing record
# keeps Consentry's own id: a caller may send one id with several requests.
CORRELATION_HEADER = "X-Request-Id"
_CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
CLIENT_DISCONNECTED = "client_disconnected"
# The status a request gets in metrics and logs when its caller left before any answer (nginx's).
CLIENT_CLOSED_REQUEST = 499
READ_CHUNK = 64 * 1024
UNSCANNED_BODY = "unscanned request body"
NOT_READY_RETRY_S = 5.0  # Retry-After while the detector is not ready: about a model's load time


@dataclass
class Trace:
    """What the sharing record and the metrics need to know about one request."""

    request_id: str
    started: float
    correlation_id: str = ""
    detection_s: float | None = None
    provider: str = "unknown"
    operation: str = "unknown"
    model: str = ""
    customer_id: str = ""
    app: str = ""
    decision: str = "failed"
    reason: str = ""
    entities: dict[str, EntityTally] = field(default_factory=dict)
    streamed: bool = False
    request_bytes: int = 0
    response_bytes: int = 0
    status: int = 500
    upstream_status: int | None = None
    upstream_s: float | None = None
    consent_version: str = ""
    recordable: bool = False  # only requests that named a provider and a customer are recorded


class _BodyCut(Exception):
    """The caller's request body ended early: the caller went away mid-request."""


def generic_error_reply(error: ProxyError) -> ErrorReply:
    return ErrorReply(error.status, orjson.dumps({"error": {"message": error.message, "code": error.code}}))


class Pipeline:
    def __init__(
        self,
        config: Config,
        adapters: Mapping[str, ProviderAdapter],
        consents: ConsentStore,
        detector: Detector,
        ledger: Ledger,
        metrics: Metrics,
        upstream: Upstream,
    ) -> None:
        self.config = config
        self.adapters = adapters
        self.consents = consents
        self.detector = detector
        self.ledger = ledger
        self.metrics = metrics
        self.upstream = upstream
        self.hasher = Hasher(config.hash_key)
        self.in_flight = InFlight()

    # ------------------------------------------------------------------ entry point

    async def handle(self, request: web.Request) -> web.StreamResponse:
        trace = Trace(request_id=uuid.uuid4().hex, started=time.perf_counter())
        incoming = request.headers.get(CORRELATION_HEADER)
        trace.correlation_id = (
            incoming if incoming is not None and _CORRELATION_ID.fullmatch(incoming) else trace.request_id
        )
        adapter: ProviderAdapter | None = None
        self.metrics.in_flight.inc()
        self.in_flight.enter()
        try:
            routed = split_path(request.raw_path)
            adapter = self.adapters.get(routed.provider)
            if adapter is None:
                prefixes = ", ".join(f"/{name}" for name in sorted(self.adapters))
                raise not_found(f"unknown provider: use one of {prefixes}")
            trace.provider = adapter.name
            self._admit(trace)
            incoming = IncomingRequest(
                request.method,
                routed.subpath,
                request.query,
                request.query_string,
                request.headers,
                request.raw_path,
            )
            exchange = adapter.open(incoming)
            trace.operation = exchange.operation
            return await self._proxy(request, routed.customer_from_path, exchange, trace)
        except ProxyError as error:
            return self._refuse(request, adapter, error, trace)
        except _BodyCut:
            trace.decision = "failed"
            trace.reason = CLIENT_DISCONNECTED
            trace.status = CLIENT_CLOSED_REQUEST
            return web.Response(status=CLIENT_CLOSED_REQUEST)
        except asyncio.CancelledError:
            if self.in_flight.was_cut():
                # Cut at the drain deadline before anything was answered: a retryable 503, recorded.
                trace.reason = "shutdown"
                return self._refuse(request, adapter, shutting_down(), trace)
            current = asyncio.current_task()
            if (current is not None and current.cancelling()) or trace.decision == "forwarded":
                # this request's own task was cancelled, or its answer has begun: nothing to answer
                trace.reason = trace.reason or "cancelled"
                raise
            # A cancellation that did not come for this request (a future cancelled under it)
            # must not cut the connection without an answer.
            log.error("request %s: an operation inside the proxy was cancelled", trace.request_id)
            return self._refuse(
                request, adapter, ProxyError(500, "internal_error", "internal proxy error"), trace
            )
        except Exception:
            log.exception("request %s failed inside the proxy", trace.request_id)
            return self._refuse(
                request, adapter, ProxyError(500, "internal_error", "internal proxy error"), trace
            )
        finally:
            self.metrics.in_flight.dec()
            self.in_flight.leave()
            self._finish(trace)

    # ------------------------------------------------------------------ stages

    def _admit(self, trace: Trace) -> None:
        """Refuses new work while shutting down, and - with `ledger.on_failure: refuse` - while the
        ledger cannot write: no data is shared that could not be recorded."""
        if self.in_flight.draining:
            raise shutting_down()
        if not self.ledger.healthy and self.config.ledger.on_failure == "refuse":
            self.metrics.blocked.labels(trace.provider, "ledger_unavailable").inc()
            raise ledger_unavailable()

    async def _read_body(self, request: web.Request, trace: Trace) -> bytes:
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise too_large(limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.content.iter_chunked(READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
        except ProxyError:
            raise
        except Exception:
            # The caller hung up (or broke the framing) before its body was complete: nothing was
            # sent anywhere and nobody is left to answer; not a failure of the proxy.
            raise _BodyCut from None
        trace.request_bytes = size
        return b"".join(chunks)

    def _block(self, trace: Trace, decision: Decision) -> ProxyError:
        trace.decision = "blocked"
        trace.reason = decision.reason
        self.metrics.blocked.labels(trace.provider, decision.reason).inc()
        details: dict[str, object] = {"reason": decision.reason}
        if decision.blocked_entities:
            details["entity_types"] = list(decision.blocked_entities)
        return forbidden(decision.reason, decision.message, **details)

    def _tally(self, trace: Trace, tally: Mapping[str, tuple[int, Action]]) -> None:
        for etype, (count, action) in tally.items():
            trace.entities[etype] = EntityTally(count, str(action))
            self.metrics.entities.labels(etype, str(action)).inc(count)

    def _shed(self, trace: Trace, reason: str, error: ProxyError) -> ProxyError:
        """A refusal before any detection work: counted, and recorded with its reason."""
        trace.reason = error.code
        self.metrics.detection_shed.labels(trace.provider, reason).inc()
        return error

    async def _find(self, segments: list[str], consent: Consent, trace: Trace) -> list[list[Span]]:
        """Spans per segment, or a refusal: 413 over the text budget, 429 when detection is
        overloaded, 503 when it cannot run (all with nothing sent)."""
        limit = self.config.detection.max_chars
        cost = text_cost(segments)
        if cost > limit:
            raise self._shed(trace, "text_budget", text_over_budget(cost, len(set(segments)), limit))
        if not self.detector.ready:
            refusal = detection_unavailable(
                "personal-data detection is not ready; nothing was sent", NOT_READY_RETRY_S
            )
            raise self._shed(trace, "no_workers", refusal)
        started = time.perf_counter()
        try:
            return await self.detector.detect(segments, consent, app=trace.app)
        except DetectionOverloaded as exc:
            raise self._shed(trace, "overloaded", detection_overloaded(exc.retry_after_s or 1.0)) from None
        except DetectionError as exc:
            if exc.retry_after_s is not None:  # no worker alive: refused before any work
                refusal = detection_unavailable(
                    "personal-data detection is not ready; nothing was sent", exc.retry_after_s
                )
                raise self._shed(trace, "no_workers", refusal) from None
            trace.reason = "detection_failed"
            log.error("request %s: detection failed (%s); refused", trace.request_id, exc)
            raise detection_unavailable("personal-data detection failed; nothing was sent") from None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            # a worker's future cancelled under this request: a detection failure, answered
            trace.reason = "detection_failed"
            log.error("request %s: detection was cancelled inside the proxy; refused", trace.request_id)
            raise detection_unavailable("personal-data detection failed; nothing was sent") from None
        finally:
            trace.detection_s = time.perf_counter() - started
            self.metrics.detection.labels(trace.provider).observe(trace.detection_s)

    async def _detect(
        self, slots: TextSlots, consent: Consent, target: ProviderTarget, trace: Trace
    ) -> tuple[Decision, Restorer]:
        found: list[list[Span]] = [[] for _ in slots.segments]
        if slots.segments:
            read = [labelled(key, text) for key, text in zip(slots.keys, slots.segments, strict=True)]
            found = await self._find([text for text, _ in read], consent, trace)
            found = [_unlabelled(spans, shift) for spans, (_, shift) in zip(found, read, strict=True)]
        # The decision sees every type found, also one that an overlapping span of another type
        # hides: a low-scoring US_SSN under a DATE_TIME must still trip a "block" rule.
        found_types = Counter(span.entity_type for per_segment in found for span in per_segment)
        decision = decide(consent, target, Findings(found_types, frozenset(slots.unscannable)))
        if decision.blocked:
            self._tally(trace, {e: (n, consent.action_for(e)) for e, n in found_types.items()})
            raise self._block(trace, decision)
        vault = PlaceholderVault(avoid="\n".join(slots.segments))
        result = apply_actions(
            slots.segments, found, decision.actions, vault, self.hasher, consent.default_action
        )
        # Records and metrics count what was shared and how: spans after overlaps are merged, with
        # the action actually applied (a known identifier is masked even where its type is allowed).
        self._tally(trace, result.tally)
        slots.write_back(result.texts, self.hasher.pseudonym)
        return decision, Restorer(vault.by_placeholder)

    async def _proxy(
        self, request: web.Request, path_customer: str | None, exchange: ProviderExchange, trace: Trace
    ) -> web.StreamResponse:
        body = await self._read_body(request, trace)
        trace.app = exchange.authenticate(body)
        customer = resolve_customer(
            path_customer, request.headers.get(CUSTOMER_HEADER) or exchange.customer_hint()
        )
        trace.customer_id = customer
        trace.recordable = True
        exchange.parse(body)
        target = exchange.target
        trace.model = target.model
        trace.streamed = exchange.streamed

        try:
            consent = await self.consents.get(customer)
        except ConsentUnavailable:
            trace.reason = "consent_unavailable"
            self.metrics.blocked.labels(trace.provider, "consent_unavailable").inc()
            raise ProxyError(
                503,
                "consent_unavailable",
                "the customer's current consent cannot be read right now; nothing was sent",
                retry_after_s=2,
            ) from None
        trace.consent_version = consent.version
        restorer = Restorer({})
        # Every request is judged, with or without a body: a listing of models for a customer who
        # withdrew consent is still a request made on their behalf.
        early = decide(consent, target)
        if early.blocked:
            raise self._block(trace, early)
        if exchange.scanned:
            slots = TextSlots()
            exchange.collect(slots)
            _, restorer = await self._detect(slots, consent, target, trace)
        elif body:
            # A body sent to an allowed extra path (a file upload, say) is not read: it is
            # content that cannot be scanned, and goes only where that policy lets it.
            unread = decide(consent, target, Findings({}, frozenset({UNSCANNED_BODY})))
            if unread.blocked:
                raise self._block(trace, unread)
        if dry_run.requested(request.headers):
            return self._dry_run(exchange, trace)
        return await self._forward(request, exchange, restorer, trace)

    def _dry_run(self, exchange: ProviderExchange, trace: Trace) -> web.Response:
        """The upstream request, shown instead of sent (proxy/dry_run.py); not a sharing."""
        outgoing = exchange.upstream_request(self.hasher.pseudonym)
        trace.decision = "dry_run"
        trace.status = 200
        trace.recordable = False
        body = dry_run.describe(
            outgoing,
            {
                "request_id": trace.request_id,
                "provider": trace.provider,
                "operation": trace.operation,
                "model": trace.model,
                "consent_version": trace.consent_version,
                "entities": {
                    etype: {"count": tally.count, "action": tally.action}
                    for etype, tally in sorted(trace.entities.items())
                },
            },
        )
        trace.response_bytes = len(body)
        return web.Response(
            body=body,
            content_type="application/json",
            headers={REQUEST_ID_HEADER: trace.request_id, CORRELATION_HEADER: trace.correlation_id},
        )

    async def _forward(
        self, request: web.Request, exchange: ProviderExchange, restorer: Restorer, trace: Trace
    ) -> web.StreamResponse:
        provider = self.config.provider(trace.provider)
        limits = provider.limits
        outgoing = exchange.upstream_request(self.hasher.pseudonym)
        sent_at = time.perf_counter()
        try:
            upstream = await unless_client_leaves(
                request, self.upstream.send(outgoing, provider.connect_timeout_s, provider.timeout_s)
            )
        except ClientGone:
            return self._left_early(trace)
        try:
            trace.upstream_status = upstream.status
            if 300 <= upstream.status < 400:
                # Relayed, a redirect would have the caller's SDK send its original, unmasked
                # request to wherever Location points; the upstream client never follows one either.
                trace.upstream_s = time.perf_counter() - sent_at
                log.warning(
                    "request %s: the provider answered %s (a redirect); refused with 502",
                    trace.request_id,
                    upstream.status,
                )
                raise upstream_redirect(upstream.status)
            transformer = exchange.response_transformer(
                upstream.status, upstream.headers, restorer, max_event_bytes=limits.max_event_bytes
            )
            headers = exchange.response_headers(upstream.headers)
            # A provider's answer keeps its own x-request-id (OpenAI's SDK reports it as the
            # provider's id): the caller's id is echoed only on answers the proxy makes itself.
            headers[REQUEST_ID_HEADER] = trace.request_id
            if not transformer.streaming:
                try:
                    raw = await unless_client_leaves(
                        request, self.upstream.read(upstream, provider.timeout_s, limits.max_answer_bytes)
                    )
                except ClientGone:
                    upstream.close()
                    return self._left_early(trace)
                except ProxyError as error:
                    if error.code == ANSWER_TOO_LARGE:
                        self.metrics.answers_cut.labels(trace.provider, error.code).inc()
                    raise
                trace.upstream_s = time.perf_counter() - sent_at
                payload = transformer.feed(raw) + transformer.finish()
                trace.response_bytes = len(payload)
                self._forwarded(trace, upstream.status)
                return web.Response(status=upstream.status, body=payload, headers=headers)
            streams = self.metrics.streams_in_flight.labels(trace.provider)
            streams.inc()
            try:
                return await self._stream(request, upstream, transformer, headers, limits, trace, sent_at)
            finally:
                streams.dec()
        finally:
            upstream.release()

    async def _stream(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        transformer: ResponseTransformer,
        headers: dict[str, str],
        limits: AnswerLimits,
        trace: Trace,
        sent_at: float,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, headers=headers)
        try:
            await response.prepare(request)
        except ConnectionError:
            upstream.close()
            return self._left_early(trace)
        self._forwarded(trace, upstream.status)
        relay = StreamRelay(request, upstream, transformer, response, limits)
        # From here on the caller has the status line: every failure ends the stream with the
        # provider's own error event where its format has one, then cuts the connection, never
        # writes a second response into the body of the first.
        try:
            await relay.run()
            trace.upstream_s = time.perf_counter() - sent_at
        except StreamAbort as abort:
            # The provider's connection goes first: nothing more of this answer is wanted.
            upstream.close()
            self._stream_failed(trace, abort.reason)
            error = ProxyError(abort.status, abort.reason, abort.message)
            await relay.end_with(transformer.abort(self._error_json(trace.provider, error)))
            self._abort(request)
        except ClientGone:
            upstream.close()
            self._client_gone(trace)
            self._abort(request)
        except asyncio.CancelledError:
            if not self.in_flight.was_cut():
                self._client_gone(trace)
                raise
            # Still streaming at the drain deadline: cut like a failed stream, so the caller's SDK
            # sees an incomplete answer, never a silently truncated one.
            trace.decision = "failed"
            trace.reason = "shutdown"
            trace.upstream_s = time.perf_counter() - sent_at
            upstream.close()
            # The provider's own error event first, so the SDK raises a clear error; bounded, as
            # the process is on its way out.
            error = ProxyError(503, "shutting_down", "the proxy is shutting down; retry the request")
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(
                    relay.end_with(transformer.abort(self._error_json(trace.provider, error))), 1.0
                )
            self._abort(request)
        except Exception as exc:
            # The exception's message may quote the answer: only its type and where it was raised.
            where = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "request %s: stream failed inside the proxy (%s)\n%s",
                trace.request_id,
                type(exc).__name__,
                where,
            )
            upstream.close()
            trace.decision = "failed"
            trace.reason = "stream_failed"
            trace.upstream_s = time.perf_counter() - sent_at
            self._abort(request)
        finally:
            trace.response_bytes = relay.sent
        return response

    def _error_json(self, provider: str, error: ProxyError) -> bytes:
        """`error` as the provider's own error object, for the last event of a stream."""
        adapter = self.adapters.get(provider)
        return (adapter.error_reply(error) if adapter is not None else generic_error_reply(error)).body

    # ------------------------------------------------------------------ outcomes

    def _forwarded(self, trace: Trace, status: int) -> None:
        trace.decision = "forwarded"
        trace.status = status

    def _client_gone(self, trace: Trace) -> None:
        # The provider did nothing wrong: no upstream error is counted. What was sent stays sent.
        trace.reason = CLIENT_DISCONNECTED
        trace.upstream_s = time.perf_counter() - trace.started
        self.metrics.answers_cut.labels(trace.provider, CLIENT_DISCONNECTED).inc()

    def _left_early(self, trace: Trace) -> web.Response:
        """The caller left before the answer began: the request went upstream (and is recorded
        as forwarded), the provider's connection is closed, and nobody is left to answer."""
        self._client_gone(trace)
        trace.decision = "forwarded"
        trace.status = CLIENT_CLOSED_REQUEST
        return web.Response(status=CLIENT_CLOSED_REQUEST)

    def _stream_failed(self, trace: Trace, reason: str) -> None:
        trace.decision = "failed"
        trace.reason = reason
        trace.upstream_s = time.perf_counter() - trace.started
        self.metrics.upstream_errors.labels(trace.provider, reason).inc()
        self.metrics.answers_cut.labels(trace.provider, reason).inc()

    @staticmethod
    def _abort(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.close()

    def _refuse(
        self, request: web.Request, adapter: ProviderAdapter | None, error: ProxyError, trace: Trace
    ) -> web.Response:
        trace.status = error.status
        if trace.decision != "blocked":
            trace.decision = "failed"
            trace.reason = trace.reason or error.code
        if error.status in (502, 504):
            self.metrics.upstream_errors.labels(trace.provider, error.code).inc()
        reply = adapter.error_reply(error) if adapter is not None else generic_error_reply(error)
        headers = {
            **reply.headers,
            REQUEST_ID_HEADER: trace.request_id,
            CORRELATION_HEADER: trace.correlation_id,
        }
        if error.retry_after_s is not None:
            headers["Retry-After"] = str(error.retry_after_s)
        trace.response_bytes = len(reply.body)
        return web.Response(
            status=reply.status, body=reply.body, headers=headers, content_type=reply.content_type
        )

    def _log_request(self, trace: Trace, total: float) -> None:
        """One line per request: ids, codes and durations; never text, values, keys or the customer
        id (a keyed pseudonym of it only with `log_customer_pseudonym`)."""
        if not log.isEnabledFor(logging.INFO):
            return  # the fields are not built for a line nobody writes
        fields: dict[str, object] = {
            "event": "request",
            "request_id": trace.correlation_id,
            "record_id": trace.request_id,
            "provider": trace.provider,
            "operation": trace.operation,
            "app": trace.app,
            "decision": trace.decision,
            "reason": trace.reason,
            "status": trace.status,
            "upstream_status": trace.upstream_status,
            "streamed": trace.streamed,
            "total_ms": _ms(total),
            "upstream_ms": _ms(trace.upstream_s),
            "overhead_ms": None if trace.upstream_s is None else _ms(max(0.0, total - trace.upstream_s)),
            "detection_ms": _ms(trace.detection_s),
            "request_bytes": trace.request_bytes,
            "response_bytes": trace.response_bytes,
        }
        if self.config.log_customer_pseudonym and trace.customer_id:
            fields["customer"] = "c-" + self.hasher.digest(trace.customer_id, "log-customer", 16)
        log.info(
            "request id=%s provider=%s operation=%s decision=%s reason=%s status=%s ms=%.1f",
            trace.correlation_id,
            trace.provider,
            trace.operation,
            trace.decision,
            trace.reason or "-",
            trace.status,
            total * 1000,
            extra={FIELDS: fields},
        )

    def _finish(self, trace: Trace) -> None:
        total = time.perf_counter() - trace.started
        labels = (trace.provider, trace.operation)
        self.metrics.requests.labels(*labels, trace.decision, str(trace.status)).inc()
        self.metrics.total_latency.labels(*labels).observe(total)
        if trace.upstream_s is not None:
            self.metrics.upstream_latency.labels(*labels).observe(trace.upstream_s)
            self.metrics.overhead.labels(*labels).observe(max(0.0, total - trace.upstream_s))
        self._log_request(trace, total)
        if not trace.recordable:
            return
        self.ledger.submit(
            SharingRecord(
                request_id=trace.request_id,
                timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
                customer_id=trace.customer_id,
                app=trace.app,
                provider=trace.provider,
                operation=trace.operation,
                model=trace.model,
                decision=trace.decision,
                reason=trace.reason,
                entities=dict(trace.entities),
                streamed=trace.streamed,
                request_bytes=trace.request_bytes,
                response_bytes=trace.response_bytes,
                upstream_status=trace.upstream_status,
                upstream_latency_ms=None if trace.upstream_s is None else round(trace.upstream_s * 1000, 3),
                total_latency_ms=round(total * 1000, 3),
                consent_version=trace.consent_version,
            )
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _unlabelled(spans: list[Span], shift: int) -> list[Span]:
    """Spans of a value read as `key: value` (`field_names.labelled`), on the value alone."""
    if not shift:
        return spans
    return [
        dataclasses.replace(span, start=max(0, span.start - shift), end=span.end - shift)
        for span in spans
        if span.end > shift
    ]
