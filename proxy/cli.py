"""`consentry`: serve the proxy, or scan text offline as the proxy would."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiohttp import web

from proxy.config import ConfigError, load_config
from rules.loader import RulesError


def _serve(args: argparse.Namespace) -> int:
    from proxy.app import build_app

    try:
        config = load_config(args.config)
    except (ConfigError, RulesError, OSError) as exc:
        print(f"consentry: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host = args.host or config.host
    port = args.port if args.port is not None else config.port
    try:
        app = build_app(config)
    except (ConfigError, RulesError) as exc:
        print(f"consentry: configuration error: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        app, host=host, port=port, access_log=None, print=lambda m: logging.getLogger("consentry").info(m)
    )
    return 0


def _scan(args: argparse.Namespace) -> int:
    from proxy.detection import PresidioDetector
    from rules.loader import load_rules

    config = load_config(args.config)
    consent = load_rules(config.rules_path).consent_for(args.customer or "\x00default")
    detector = PresidioDetector(
        config.detection.model, timeout_s=3600, phone_regions=config.detection.phone_regions
    )
    detector.load()
    source = sys.stdin.buffer if args.jsonl == "-" else Path(args.jsonl).open("rb")  # noqa: SIM115
    out = sys.stdout.buffer
    with source:
        for line in source:
            if not line.strip():
                continue
            text = orjson.loads(line)["text"]
            spans = detector.analyze_batch([text], consent)[0]
            rows = [
                {"start": s.start, "end": s.end, "entity_type": s.entity_type, "score": round(s.score, 4)}
                for s in sorted(spans)
            ]
            out.write(orjson.dumps({"spans": rows}) + b"\n")
    asyncio.run(detector.close())
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
    serve.set_defaults(func=_serve)
    scan = sub.add_parser("scan", help="detect personal data in JSONL lines with a 'text' field")
    scan.add_argument("--jsonl", required=True, help="input file, or - for standard input")
    scan.add_argument("--customer", help="apply this customer's rules instead of the default policy")
    scan.add_argument("--config", help="YAML configuration file")
    scan.set_defaults(func=_scan)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
