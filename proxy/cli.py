"""`consentry`: serve the proxy, scan text offline as the proxy would, or answer privacy requests
(`consent`, `records`, `audit`: see proxy/admin/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import orjson

from proxy.config import ConfigError, load_config
from proxy.logs import configure as configure_logging
from rules.loader import RulesError


def _config_error(exc: Exception) -> int:
    print(f"consentry: configuration error: {exc}", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    from proxy.app import build_app
    from proxy.serve import serve

    # --host and --port go in as overrides before the configuration is validated, so every check
    # on the address (the development key only on loopback) sees the address actually bound.
    env = dict(os.environ)
    if args.host:
        env["CONSENTRY_HOST"] = args.host
    if args.port is not None:
        env["CONSENTRY_PORT"] = str(args.port)
    if args.workers:
        env["CONSENTRY_WORKERS"] = args.workers
    try:
        config = load_config(args.config, env)
    except (ConfigError, RulesError, OSError) as exc:
        return _config_error(exc)
    # Before anything is built: no library may log request content (see proxy/logs.py).
    configure_logging(config.log_level, config.log_format)
    if config.workers > 1:
        from proxy.supervise import serve_processes

        # The children read the same configuration with the same overrides.
        os.environ.update({k: v for k, v in env.items() if k.startswith("CONSENTRY_")})
        return serve_processes(config, args.config)
    try:
        app = build_app(config)
    except (ConfigError, RulesError) as exc:
        return _config_error(exc)
    try:
        asyncio.run(serve(app, config))
    except OSError as exc:
        # Binding failed (address in use, not permitted): no traceback, the reason and a status.
        print(f"consentry: cannot listen on {config.host}:{config.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


class ScanInputError(ValueError):
    """A line of `consentry scan` input that is not a JSON object with a string `text`."""


def _texts(lines: Iterable[bytes]) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ScanInputError(f"line {number} is not JSON") from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise ScanInputError(f"line {number} has no string 'text' field")
        yield text


def _scan(args: argparse.Namespace) -> int:
    from proxy.detection import scan_texts

    out = sys.stdout.buffer
    try:
        source = sys.stdin.buffer if args.jsonl == "-" else Path(args.jsonl).open("rb")  # noqa: SIM115
    except OSError as exc:
        print(f"consentry: cannot read {args.jsonl}: {exc.strerror}", file=sys.stderr)
        return 2
    with source:
        try:
            found = scan_texts(_texts(source), args.customer, args.config)
        except (ConfigError, RulesError, OSError) as exc:
            return _config_error(exc)
        try:
            for spans in found:
                rows = [
                    {"start": s.start, "end": s.end, "entity_type": s.entity_type, "score": round(s.score, 4)}
                    for s in sorted(spans)
                ]
                out.write(orjson.dumps({"spans": rows}) + b"\n")
        except ScanInputError as exc:
            out.flush()
            print(f"consentry: {exc}", file=sys.stderr)
            return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="consentry", description="Consent-enforcing egress proxy for AI providers"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the proxy")
    serve.add_argument(
        "--config", help="YAML configuration file (default: $CONSENTRY_CONFIG or built-in defaults)"
    )
    serve.add_argument("--host", help="address to bind (overrides the configuration)")
    serve.add_argument("--port", type=int, help="port to bind (overrides the configuration)")
    serve.add_argument(
        "--workers",
        help="event-loop processes sharing the port: 'auto' (one per core) or N (default: server.workers)",
    )
    serve.set_defaults(func=_serve)
    scan = sub.add_parser("scan", help="detect personal data in JSONL lines with a 'text' field")
    scan.add_argument("--jsonl", required=True, help="input file, or - for standard input")
    scan.add_argument("--customer", help="apply this customer's rules instead of the default policy")
    scan.add_argument("--config", help="YAML configuration file")
    scan.set_defaults(func=_scan)
    from proxy.admin.cli import add_commands

    add_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
