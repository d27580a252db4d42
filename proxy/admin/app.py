"""The admin listener: JSON API for consent and rights requests, the OpenAPI document and the
privacy console. Runs on its own address and port, started and stopped with the proxy."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from proxy.admin.auth import AdminTokens, Identity
from proxy.admin.openapi import openapi_document
from proxy.admin.service import (
    STATE_ACTIONS,
    InvalidRequest,
    PrivacyService,
    RecordsBehind,
    check_customer,
)
from proxy.consents.records import VersionConflict
from proxy.ledger.base import describe_error
from proxy.metrics import Metrics
from rules.loader import RulesError
from rules.store import ConsentUnavailable

log = logging.getLogger("consentry.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IDENTITY = web.RequestKey("identity", Identity)
AUDIT = web.RequestKey("audit_detail", dict)
MAX_BODY_BYTES = 1024 * 1024
CONSOLE_FILES = {
    "/admin/": ("index.html", "text/html; charset=utf-8"),
    "/admin/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/admin/console.css": ("console.css", "text/css; charset=utf-8"),
}
CONSOLE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}},
        status=status,
        dumps=lambda v: orjson.dumps(v).decode(),
        headers={**API_HEADERS, **(headers or {})},
    )


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        body,
        status=status,
        dumps=lambda v: orjson.dumps(v).decode(),
        headers={**API_HEADERS, **(headers or {})},
    )


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time", "invalid_time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _if_match(request: web.Request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidRequest("If-Match must be a consent version number", "invalid_if_match")
    return int(text)


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise InvalidRequest("send the body as application/json", "invalid_content_type")
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON", "invalid_json") from None


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return {
        400: "invalid",
        401: "denied",
        403: "denied",
        404: "not_found",
        409: "conflict",
        412: "conflict",
        413: "invalid",
    }.get(status, "failed")


class AdminApi:
    def __init__(
        self, service: PrivacyService, tokens: AdminTokens, metrics: Metrics, providers: frozenset[str]
    ):
        self.service = service
        self.tokens = tokens
        self.metrics = metrics
        self.providers = providers

    # -- middlewares -------------------------------------------------------------------------------

    @web.middleware
    async def errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except InvalidRequest as exc:
            return error(400, exc.code, str(exc))
        except RulesError as exc:
            # Names the field that is wrong, never its value.
            return error(400, "invalid_consent", str(exc))
        except VersionConflict as exc:
            return error(412, "version_conflict", str(exc), {"ETag": f'"{exc.current}"'})
        except (ConsentUnavailable, RecordsBehind) as exc:
            return error(503, "store_unavailable", str(exc), {"Retry-After": "2"})
        except web.HTTPRequestEntityTooLarge:
            return error(413, "request_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        except web.HTTPException as exc:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
            return error(exc.status, code, exc.reason)
        except Exception as exc:
            log.error("admin request failed: %s", describe_error(exc))
            return error(
                503 if "Connection" in type(exc).__name__ else 500, "internal_error", "the request failed"
            )

    @web.middleware
    async def authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/admin/v1/"):
            return await handler(request)
        identity = self.tokens.identify(request.headers.get("Authorization"))
        route = request.match_info.route.name or "unknown"
        if route == "consent.state":
            action = request.match_info.get("action", "")
            route = f"consent.{action}" if action in STATE_ACTIONS else "unknown"
        if identity is None:
            await self._audit(route, "anonymous", "", 401, request)
            return error(
                401,
                "unauthenticated",
                "send an admin token: Authorization: Bearer <token>",
                {"WWW-Authenticate": 'Bearer realm="consentry-admin"'},
            )
        request[IDENTITY] = identity
        if request.method not in ("GET", "HEAD") and not identity.can_change:
            await self._audit(route, identity.name, identity.role, 403, request)
            return error(403, "forbidden", "this token has the reader role: it may not change anything")
        response = await handler(request)
        await self._audit(route, identity.name, identity.role, response.status, request)
        return response

    async def _audit(self, action: str, actor: str, role: str, status: int, request: web.Request) -> None:
        outcome = _outcome(status)
        self.metrics.admin_requests.labels(action, outcome).inc()
        if action == "unknown":
            return
        detail = {"status": status, **request.get(AUDIT, {})}
        customer = request.match_info.get("customer_id")
        try:
            await self.service.audit(
                actor=actor, role=role, action=action, outcome=outcome, customer_id=customer, detail=detail
            )
        except Exception as exc:
            # The action itself happened (or was refused); a failed audit write is logged loudly.
            log.error("audit event for %s could not be written: %s", action, describe_error(exc))

    # -- handlers ----------------------------------------------------------------------------------

    async def whoami(self, request: web.Request) -> web.Response:
        identity: Identity = request[IDENTITY]
        return ok({"name": identity.name, "role": identity.role})

    def _customer(self, request: web.Request) -> str:
        return check_customer(request.match_info["customer_id"])

    def _consent_response(self, view: dict[str, Any], status: int = 200) -> web.Response:
        stored = view.get("stored")
        headers = {"ETag": f'"{stored["version"]}"'} if stored else {}
        return ok(view, status, headers)

    async def get_consent(self, request: web.Request) -> web.Response:
        return self._consent_response(self.service.view(self._customer(request)))

    async def put_consent(self, request: web.Request) -> web.Response:
        customer = self._customer(request)
        body = await _json_body(request)
        view, update = await self.service.replace(customer, body, request[IDENTITY].name, _if_match(request))
        request[AUDIT] = {"fields": sorted(update.change.changes) if update.change else []}
        return self._consent_response(view)

    async def patch_consent(self, request: web.Request) -> web.Response:
        customer = self._customer(request)
        body = await _json_body(request)
        view, update = await self.service.patch(customer, body, request[IDENTITY].name, _if_match(request))
        request[AUDIT] = {"fields": sorted(update.change.changes) if update.change else []}
        return self._consent_response(view)

    async def state_change(self, request: web.Request) -> web.Response:
        customer = self._customer(request)
        action = request.match_info["action"]
        if action not in STATE_ACTIONS:
            raise web.HTTPNotFound()
        view, update = await self.service.set_state(customer, action, request[IDENTITY].name)
        request[AUDIT] = {"changed": update.change is not None}
        return self._consent_response(view)

    async def history(self, request: web.Request) -> web.Response:
        return ok(await self.service.history(self._customer(request)))

    async def _stream(
        self, request: web.Request, chunks: AsyncIterator[bytes], content_type: str, filename: str
    ) -> web.StreamResponse:
        # The first chunk is read before the answer starts, so a store that fails at once still
        # gets a proper error status instead of an empty download.
        iterator = chunks.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = b""
        response = web.StreamResponse(
            headers={
                **API_HEADERS,
                "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
            }
        )
        await response.prepare(request)
        lines = 0
        try:
            if first:
                await response.write(first)
                lines += first.count(b"\n")
            async for chunk in iterator:
                await response.write(chunk)
                lines += chunk.count(b"\n")
        except Exception as exc:
            # Mid-stream the status is sent already: cutting the connection is the only way the
            # client can tell the file is incomplete.
            log.error("export cut after %d lines: %s", lines, describe_error(exc))
            if request.transport is not None:
                request.transport.close()
            request[AUDIT] = {"lines": lines, "cut": True}
            return response
        await response.write_eof()
        request[AUDIT] = {**request.get(AUDIT, {}), "lines": lines}
        return response

    def _provider(self, request: web.Request) -> str | None:
        provider = request.query.get("provider") or None
        if provider is not None and provider not in self.providers:
            raise InvalidRequest("provider must name a configured provider", "invalid_provider")
        return provider

    async def export(self, request: web.Request) -> web.StreamResponse:
        customer = self._customer(request)
        fmt = request.query.get("format", "jsonl")
        since, until = _time(request, "since"), _time(request, "until")
        provider = self._provider(request)
        await self.service.flushed()
        chunks = self.service.export(customer, fmt, since=since, until=until, provider=provider)
        request[AUDIT] = {"format": fmt, "filtered": bool(since or until or provider)}
        content_type = "application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8"
        return await self._stream(request, chunks, content_type, f"sharing-records.{fmt}")

    async def customer_summary(self, request: web.Request) -> web.Response:
        customer = self._customer(request)
        return ok(
            await self.service.summary(customer, since=_time(request, "since"), until=_time(request, "until"))
        )

    async def summary(self, request: web.Request) -> web.Response:
        return ok(
            await self.service.summary(None, since=_time(request, "since"), until=_time(request, "until"))
        )

    async def erase(self, request: web.Request) -> web.Response:
        customer = self._customer(request)
        body = await _json_body(request)
        if not isinstance(body, dict) or body.get("confirm") != customer:
            raise InvalidRequest(
                'confirm the erasure: send {"confirm": "<the same customer id>"}', "confirmation_required"
            )
        result = await self.service.erase(customer)
        request[AUDIT] = dict(result["erased"])
        return ok(result)

    async def audit(self, request: web.Request) -> web.StreamResponse:
        fmt = request.query.get("format", "jsonl")
        if fmt not in ("jsonl", "json"):
            raise InvalidRequest("format must be 'jsonl' or 'json'", "invalid_format")
        events = self.service.audit_events(fmt, since=_time(request, "since"), until=_time(request, "until"))
        if fmt == "jsonl":
            return await self._stream(request, events, "application/x-ndjson", "audit-events.jsonl")

        async def as_array() -> AsyncIterator[bytes]:
            yield b'{"events":['
            first = True
            async for line in events:
                yield (b"" if first else b",") + line.rstrip(b"\n")
                first = False
            yield b"]}\n"

        return await self._stream(request, as_array(), "application/json", "audit-events.json")

    async def openapi(self, _: web.Request) -> web.Response:
        return ok(openapi_document())

    async def console(self, request: web.Request) -> web.Response:
        name, content_type = CONSOLE_FILES[request.path]
        try:
            body = resources.files("proxy.admin").joinpath("console", name).read_bytes()
        except (FileNotFoundError, OSError):
            raise web.HTTPNotFound() from None
        return web.Response(body=body, headers={**CONSOLE_HEADERS, "Content-Type": content_type})

    async def healthz(self, _: web.Request) -> web.Response:
        return ok({"status": "alive", "consent_store": self.service.consents.synced})


def build_admin_app(
    service: PrivacyService, tokens: AdminTokens, metrics: Metrics, providers: frozenset[str]
) -> web.Application:
    api = AdminApi(service, tokens, metrics, providers)
    # Errors inside authentication: a refused or failing call becomes its answer before it is
    # audited, so it is an audit event (invalid, conflict, failed) like any other.
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[api.authenticate, api.errors])
    customer = "/admin/v1/customers/{customer_id}"
    r = app.router
    for path in CONSOLE_FILES:
        r.add_get(path, api.console, allow_head=False)
    r.add_get("/admin/openapi.json", api.openapi, allow_head=False)
    r.add_get("/admin/healthz", api.healthz, allow_head=False)
    r.add_get("/admin/v1/whoami", api.whoami, name="whoami", allow_head=False)
    r.add_get(f"{customer}/consent", api.get_consent, name="consent.get", allow_head=False)
    r.add_put(f"{customer}/consent", api.put_consent, name="consent.replace")
    r.add_patch(f"{customer}/consent", api.patch_consent, name="consent.patch")
    r.add_get(f"{customer}/consent/history", api.history, name="consent.history", allow_head=False)
    r.add_post(f"{customer}/consent/{{action}}", api.state_change, name="consent.state")
    r.add_get(f"{customer}/records", api.export, name="records.export", allow_head=False)
    r.add_get(f"{customer}/records/summary", api.customer_summary, name="records.summary", allow_head=False)
    r.add_get("/admin/v1/records/summary", api.summary, name="records.summary_all", allow_head=False)
    r.add_post(f"{customer}/erase", api.erase, name="customer.erase")
    r.add_get("/admin/v1/audit", api.audit, name="audit.export", allow_head=False)
    return app
