"""`consentry consent ...`, `consentry records ...` and `consentry audit export`: the admin API's
operations from a shell, over the same functions (`PrivacyService`) and the same stores as the
running proxy, each written to the audit trail as actor `cli:<user>`.

A change made here reaches running proxies like one made through the admin API: with
PostgreSQL by NOTIFY at once, with SQLite at their next check of the store (within
`consent.check_interval_s`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from proxy.admin.service import STATE_ACTIONS, InvalidRequest, PrivacyService, RecordsBehind
from proxy.config import Config, ConfigError, load_config
from proxy.consents import make_consent_records
from proxy.consents.live import LiveConsents
from proxy.consents.records import VersionConflict
from proxy.ledger import keyed_customer_key, make_ledger
from proxy.ledger.base import describe_error
from proxy.metrics import Metrics
from proxy.transform import Hasher
from rules.loader import RulesError
from rules.store import ConsentUnavailable, RulesFileConsentStore

ROLE = "admin"


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


@asynccontextmanager
async def opened(config: Config) -> AsyncIterator[PrivacyService]:
    metrics = Metrics()
    # A one-off command never runs the ledger's retention purge: that is the proxy's job.
    ledger = make_ledger(
        replace(config.ledger, retention_days=0), metrics, customer_key=keyed_customer_key(config.hash_key)
    )
    live = LiveConsents(
        RulesFileConsentStore(config.rules_path, config.provider_names),
        make_consent_records(config),
        metrics,
        store_outage="refuse",
        check_interval_s=config.consent.check_interval_s,
    )
    await ledger.start()
    await live.start()
    try:
        if not live.synced:
            raise ConsentUnavailable("the consent store cannot be reached")
        yield PrivacyService(live, ledger, Hasher(config.hash_key))
    finally:
        await live.close()
        await ledger.close(retry_for_s=5.0)


def _print(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"--{name} must be an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _document(args: argparse.Namespace) -> Any:
    if args.json is not None:
        raw = args.json.encode()
    elif args.file == "-":
        raw = sys.stdin.buffer.read()
    elif args.file:
        raw = Path(args.file).read_bytes()
    else:
        raise InvalidRequest("give the consent document with --json or --file")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the consent document is not valid JSON") from None


async def _audited(
    service: PrivacyService, action: str, customer: str | None, run: Callable[[], Awaitable[Any]]
) -> Any:
    try:
        result = await run()
    except (InvalidRequest, RulesError):
        await service.audit(actor=actor(), role=ROLE, action=action, outcome="invalid", customer_id=customer)
        raise
    except VersionConflict:
        await service.audit(actor=actor(), role=ROLE, action=action, outcome="conflict", customer_id=customer)
        raise
    except Exception:
        # Recorded as failed (an erasure may have gone half-way); the store itself may be why,
        # so a failing audit write must not hide the original error.
        with suppress(Exception):
            await service.audit(
                actor=actor(), role=ROLE, action=action, outcome="failed", customer_id=customer
            )
        raise
    await service.audit(actor=actor(), role=ROLE, action=action, outcome="ok", customer_id=customer)
    return result


async def _stream(chunks: AsyncIterator[bytes], output: str | None) -> int:
    out: BinaryIO = Path(output).open("wb") if output else sys.stdout.buffer  # noqa: SIM115
    lines = 0
    try:
        async for chunk in chunks:
            out.write(chunk)
            lines += chunk.count(b"\n")
    finally:
        if output:
            out.close()
        else:
            out.flush()
    return lines


async def _consent(args: argparse.Namespace, service: PrivacyService) -> int:
    customer = args.customer
    who = actor()
    if args.action == "show":
        _print(await _audited(service, "consent.get", customer, lambda: _async(service.view(customer))))
    elif args.action == "history":
        _print(await _audited(service, "consent.history", customer, lambda: service.history(customer)))
    elif args.action == "set":
        document = _document(args)
        view, _ = await _audited(
            service,
            "consent.replace",
            customer,
            lambda: service.replace(customer, document, who, args.if_match),
        )
        _print(view)
    elif args.action == "patch":
        patch = _document(args)
        view, _ = await _audited(
            service, "consent.patch", customer, lambda: service.patch(customer, patch, who, args.if_match)
        )
        _print(view)
    else:
        view, _ = await _audited(
            service, f"consent.{args.action}", customer, lambda: service.set_state(customer, args.action, who)
        )
        _print(view)
    return 0


async def _async(value: Any) -> Any:
    return value


async def _records(args: argparse.Namespace, service: PrivacyService) -> int:
    since, until = _time(args.since, "since"), _time(args.until, "until")
    if args.action == "export":
        await service.flushed()
        chunks = service.export(args.customer, args.format, since=since, until=until, provider=args.provider)
        lines = await _audited(service, "records.export", args.customer, lambda: _stream(chunks, args.output))
        print(f"consentry: {lines} lines exported", file=sys.stderr)
    elif args.action == "summary":
        _print(
            await _audited(
                service,
                "records.summary" if args.customer else "records.summary_all",
                args.customer,
                lambda: service.summary(args.customer, since=since, until=until),
            )
        )
    else:
        if args.confirm != args.customer:
            raise InvalidRequest("erasure needs --confirm with the same customer id")
        _print(await _audited(service, "customer.erase", args.customer, lambda: service.erase(args.customer)))
    return 0


async def _audit(args: argparse.Namespace, service: PrivacyService) -> int:
    since, until = _time(args.since, "since"), _time(args.until, "until")
    events = service.audit_events("jsonl", since=since, until=until)
    await _audited(service, "audit.export", None, lambda: _stream(events, args.output))
    return 0


COMMANDS = {"consent": _consent, "records": _records, "audit": _audit}


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except (ConfigError, RulesError, OSError) as exc:
        print(f"consentry: configuration error: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        async with opened(config) as service:
            return await COMMANDS[args.command](args, service)

    try:
        return asyncio.run(main())
    except (InvalidRequest, RulesError) as exc:
        print(f"consentry: {exc}", file=sys.stderr)
        return 2
    except VersionConflict as exc:
        print(f"consentry: {exc}; read it again and retry", file=sys.stderr)
        return 3
    except (ConsentUnavailable, RecordsBehind) as exc:
        print(f"consentry: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # No traceback: driver messages can quote stored values (customer ids, record fields).
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
        detail = f"{describe_error(exc)}: {reason}" if reason else describe_error(exc)
        print(f"consentry: {args.command} {args.action} failed: {detail}", file=sys.stderr)
        return 1


def add_commands(sub: Any) -> None:
    consent = sub.add_parser("consent", help="show or change a customer's stored consent")
    consent.add_argument(
        "action", choices=["show", "history", "set", "patch", *STATE_ACTIONS], help="what to do"
    )
    consent.add_argument("--customer", required=True)
    consent.add_argument("--json", help="set/patch: the consent document as JSON text")
    consent.add_argument("--file", help="set/patch: a JSON file with the document, or - for standard input")
    consent.add_argument("--if-match", type=int, help="set/patch: only if the stored version is this one")
    consent.add_argument("--config", help="YAML configuration file")
    consent.set_defaults(func=run)

    records = sub.add_parser("records", help="export, summarise or erase sharing records")
    records.add_argument("action", choices=["export", "summary", "erase"])
    records.add_argument("--customer", help="the customer (required for export and erase)")
    records.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    records.add_argument("--since", help="ISO 8601, inclusive")
    records.add_argument("--until", help="ISO 8601, exclusive")
    records.add_argument("--provider", help="export: only records of this provider")
    records.add_argument("--output", help="export: write to this file instead of standard output")
    records.add_argument("--confirm", help="erase: the same customer id again")
    records.add_argument("--config", help="YAML configuration file")
    records.set_defaults(func=_checked_records)

    audit = sub.add_parser("audit", help="export the audit trail of admin actions as JSON Lines")
    audit.add_argument("action", choices=["export"])
    audit.add_argument("--since", help="ISO 8601, inclusive")
    audit.add_argument("--until", help="ISO 8601, exclusive")
    audit.add_argument("--output", help="write to this file instead of standard output")
    audit.add_argument("--config", help="YAML configuration file")
    audit.set_defaults(func=run)


def _checked_records(args: argparse.Namespace) -> int:
    if args.action in ("export", "erase") and not args.customer:
        print(f"consentry: records {args.action} needs --customer", file=sys.stderr)
        return 2
    return run(args)
