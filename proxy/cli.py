"""`consentry`: serve the proxy, scan text offline as the proxy would, or answer privacy requests
(`consent`, `records`, `audit`: see proxy/admin/cli.py)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import orjson
import yaml

from proxy.config import Config, ConfigError, ConfigProblems, load_config
from proxy.logs import configure as configure_logging
from rules.loader import KNOWN_PROVIDERS, RulesError, RuleSet, RulesProblems, load_rules


def _config_error(exc: Exception) -> int:
    """Every problem on a line of its own, as `consentry check` prints them."""
    if isinstance(exc, OSError):
        print(f"consentry: configuration error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    for problem in str(exc).splitlines():
        print(f"consentry: configuration error: {problem}", file=sys.stderr)
    return 2


def _problems(
    config_path: str | None, env: dict[str, str] | None = None, rules_override: str | None = None
) -> tuple[Config | None, RuleSet | None, list[str]]:
    """The configuration and its rules, or every problem found in either, as `file:line: problem`."""
    problems: list[str] = []
    providers = KNOWN_PROVIDERS
    config: Config | None = None
    rules: RuleSet | None = None
    rules_path = rules_override
    try:
        config = load_config(config_path, env)
        providers = config.provider_names
        rules_path = rules_path or config.rules_path
    except ConfigProblems as exc:
        problems.extend(exc.problems)
        rules_path = rules_path or _rules_named_in(config_path)
    except OSError as exc:
        problems.append(f"{exc.filename}: {exc.strerror}")
    try:
        rules = load_rules(rules_path, providers)
    except RulesProblems as exc:
        problems.extend(exc.problems)
    except OSError as exc:
        problems.append(f"{exc.filename}: {exc.strerror}")
    return config, rules, problems


def _check(args: argparse.Namespace) -> int:
    """`consentry check`: the configuration and the rules file it names, every problem with its file
    and line; exit status 2 if there is any. The server refuses to start with the same messages."""
    config, rules, problems = _problems(args.config, None, args.rules)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems or rules is None:
        print(f"consentry: {len(problems)} problem{'s' if len(problems) > 1 else ''} found", file=sys.stderr)
        return 2
    print(
        f"ok: configuration {args.config or '(embedded defaults)'}, "
        f"rules {args.rules or (config and config.rules_path) or '(bundled)'} "
        f"version {rules.version}, {len(rules.customers)} customers"
    )
    return 0


def _rules_named_in(config_path: str | None) -> str | None:
    """The rules file a configuration names, read even when the rest of it is wrong."""
    if not config_path:
        return os.environ.get("CONSENTRY_RULES")
    try:
        raw = yaml.safe_load(Path(config_path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    value = raw.get("rules") if isinstance(raw, dict) else None
    return os.environ.get("CONSENTRY_RULES") or (str(value) if value else None)


def _serve(args: argparse.Namespace) -> int:
    from proxy.app import build_app
    from proxy.serve import run

    # --host and --port go in as overrides before the configuration is validated, so every check
    # on the address (the development key only on loopback) sees the address actually bound.
    env = dict(os.environ)
    if args.host:
        env["CONSENTRY_HOST"] = args.host
    if args.port is not None:
        env["CONSENTRY_PORT"] = str(args.port)
    if args.workers:
        env["CONSENTRY_WORKERS"] = args.workers
    config, _, problems = _problems(args.config, env)
    if problems or config is None:
        for problem in problems:
            print(f"consentry: configuration error: {problem}", file=sys.stderr)
        return 2
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
        run(app, config)
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
    check = sub.add_parser("check", help="validate the configuration and rules files; print every problem")
    check.add_argument(
        "--config", help="YAML configuration file (default: $CONSENTRY_CONFIG or built-in defaults)"
    )
    check.add_argument("--rules", help="rules file to check instead of the one the configuration names")
    check.set_defaults(func=_check)
    from proxy.admin.cli import add_commands

    add_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
