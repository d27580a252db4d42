"""Configuration: one YAML file, embedded defaults, environment overrides for secrets and URLs."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from models.providers import BUILTIN_PROVIDERS, CONFIGURABLE_FORMATS, PROVIDER_NAME, RESERVED_NAMES
from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES
from proxy.detection import DEFAULT_SPACY_MODEL
from proxy.detection.plan import WORST_CASE_CHARS_PER_S
from proxy.pg import SCHEMA_NAME
from rules.yaml_source import located, syntax_problem

# A key that works out of the box for `consentry serve` on loopback; refused on any other address.
DEVELOPMENT_APP_KEY = "consentry-local-dev-key"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class AppConfig:
    """A calling application and its proxy credentials."""

    name: str
    key: str = ""  # bearer key for OpenAI/Azure/Gemini-style callers
    # SigV4 credentials the proxy issues to this app for Bedrock-style callers.
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""


@dataclass(frozen=True)
class AnswerLimits:
    """What one provider answer may cost the proxy (`limits:`, or `providers.<name>.limits:`).

    The defaults are far above what a model sends: a stream that goes silent for two minutes or
    runs for an hour is not an answer any more, and a reasoning model can think silently for
    well over 30 s mid-stream, so the idle bound stays where the read timeout used to put it.
    """

    # A whole answer, and the sum of a stream's bytes, as received (decompressed).
    max_answer_bytes: int = 64 * 1024 * 1024
    # One SSE event, one element of a JSON-array stream, one event-stream frame.
    max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES
    # Longest silence between two reads of a stream.
    stream_idle_timeout_s: float = 120.0
    # Longest a stream may run, from its first byte to its end.
    max_stream_s: float = 3600.0


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str = ""
    # The transport that reaches it: a built-in provider's own, or the format an OpenAI-compatible
    # provider was declared with ("openai"). "" means the provider's own name.
    transport: str = ""
    api_key: str = ""
    # "managed": the proxy's own provider key goes upstream; "passthrough": the caller's does.
    auth_mode: str = "managed"
    timeout_s: float = 120.0
    connect_timeout_s: float = 10.0
    # Path prefixes (below the provider's base URL) forwarded without scanning. Deny by default.
    allow_paths: tuple[str, ...] = ()
    limits: AnswerLimits = field(default_factory=AnswerLimits)
    # Provider-specific keys, parsed by the provider's adapter (the only place that knows them).
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The environment the configuration was read with, for adapter-specific overrides.
    env: Mapping[str, str] = field(default_factory=dict)


LEDGER_BACKENDS = ("sqlite", "postgres")
LEDGER_FAILURE_POLICIES = ("refuse", "degrade")
# 100 years: longer is "forever" in practice, and the cutoff date must stay computable.
MAX_RETENTION_DAYS = 36_500


@dataclass(frozen=True)
class LedgerConfig:
    backend: str = "sqlite"  # "sqlite" (embedded default) | "postgres" (replicas sharing one ledger)
    path: str = "consentry.db"
    # PostgreSQL connection URL; it may hold a password, so it stays out of reprs.
    dsn: str = field(default="", repr=False)
    batch_size: int = 200
    flush_interval_s: float = 0.2
    # Records waiting while the store fails are bounded; beyond this the oldest are dropped.
    max_queued: int = 100_000
    # How often a row is written and read back to tell whether records really reach the store.
    probe_interval_s: float = 2.0
    # While the ledger cannot write: "refuse" new requests with 503 and report not ready (no sharing
    # without a record), or "degrade": go on, report degraded, count and log the records dropped.
    on_failure: str = "refuse"
    # Records older than this many days are deleted in the background; 0 keeps them forever.
    retention_days: int = 365
    # How often the retention task runs, and how many rows one of its transactions deletes.
    retention_interval_s: float = 3600.0
    purge_batch_size: int = 5000
    # PostgreSQL schema of the ledger's tables (created if missing); None: the search_path decides.
    schema: str | None = None


@dataclass(frozen=True)
class DetectionConfig:
    model: str = DEFAULT_SPACY_MODEL
    timeout_s: float = 5.0
    # 0: one in-process thread; N: N worker processes, each with its own model.
    workers: int = 0
    cache_entries: int = 20_000
    # Regions whose national phone formats count as valid (ISO 3166 codes); None: the built-in list.
    phone_regions: tuple[str, ...] | None = None
    # Text one request may send through detection (characters, plus SEGMENT_COST_CHARS per text
    # field); more is refused with 413 before any work. Unless set: what one core gets through of
    # the slowest text measured in the deadline left after the queue wait (19,000 by default).
    max_chars: int = 18_000
    # A request whose expected wait for a worker is longer is refused at once with 429.
    max_queue_wait_s: float = 0.25
    # Detection jobs (pieces of at most 3,000 characters) that may wait at once.
    max_queued_jobs: int = 1000
    # A worker whose resident memory passes this after a job is replaced (0: no limit).
    worker_max_rss_mb: int = 1024


ADMIN_ROLES = ("reader", "admin")
CONSENT_STORE_OUTAGE = ("serve", "refuse")


@dataclass(frozen=True)
class AdminToken:
    """A bearer token of the admin listener; only its SHA-256 is kept."""

    name: str
    role: str  # "reader" (read only) | "admin" (everything)
    token_sha256: str = field(repr=False)


@dataclass(frozen=True)
class AdminConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8081
    tokens: tuple[AdminToken, ...] = ()
    # Without configured tokens: the file holding the generated admin token (made at start-up).
    token_file: str = ""


@dataclass(frozen=True)
class ConsentConfig:
    # While the consent store cannot be reached: "serve" the consents last read (for at most
    # max_stale_s; 0: no limit), or "refuse" every request at once.
    store_outage: str = "serve"
    max_stale_s: float = 300.0
    # How often the store is checked (PostgreSQL: the listener's connection; SQLite: the
    # generation number, which is how changes made by another process are seen).
    check_interval_s: float = 1.0


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    # Event-loop processes sharing the port (SO_REUSEPORT); 1 serves in the calling process.
    workers: int = 1
    # "uvloop" (libuv's loop, when installed) or "asyncio" (the standard library's).
    event_loop: str = "asyncio"
    rules_path: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    # On SIGTERM: how long requests and streams in flight may go on before they are ended.
    drain_timeout_s: float = 20.0
    hash_key: bytes = b""
    apps: tuple[AppConfig, ...] = ()
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    limits: AnswerLimits = field(default_factory=AnswerLimits)
    log_level: str = "INFO"
    # "json": one JSON object per line; "text": plain lines.
    log_format: str = "json"
    # Request log lines carry a keyed pseudonym of the customer ("customer": "c-...") when true;
    # never the customer id itself.
    log_customer_pseudonym: bool = False
    admin: AdminConfig = field(default_factory=AdminConfig)
    consent: ConsentConfig = field(default_factory=ConsentConfig)

    def provider(self, name: str) -> ProviderConfig:
        return self.providers.get(name) or ProviderConfig(name=name, limits=self.limits)

    @property
    def provider_names(self) -> frozenset[str]:
        return frozenset(self.providers)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_workers(value: Any) -> int:
    if value == "auto":
        return max(1, min(os.cpu_count() or 1, 16))
    if isinstance(value, bool):
        raise ConfigError("server.workers must be 'auto' or a number from 1 to 64")
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise ConfigError("server.workers must be 'auto' or a number from 1 to 64") from None
    if not 1 <= workers <= 64:
        raise ConfigError("server.workers must be 'auto' or a number from 1 to 64")
    return workers


def _workers(value: Any, serving_processes: int = 1) -> int:
    if value == "auto":
        # The cores are shared by every serving process: each gets its part of the detector workers.
        return max(1, min(os.cpu_count() or 1, 8) // serving_processes)
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise ConfigError("detection.workers must be 'auto' or a number") from None
    if workers < 0:
        raise ConfigError("detection.workers must not be negative")
    return workers


def env_prefix(name: str) -> str:
    """The environment variables of provider `name` start with this."""
    return f"CONSENTRY_{name.upper().replace('-', '_')}_"


# Other families of CONSENTRY_* variables; a provider named like one would read their values
# (`app-backend` would take CONSENTRY_APP_BACKEND_API_KEY, the key variable of app `backend-api`).
_OTHER_VARIABLE_FAMILIES = (
    "ADMIN",
    "APP",
    "DB",
    "HASH",
    "HOST",
    "PORT",
    "RULES",
    "SPACY",
    "LOG",
    "CONFIG",
    "REQUIRE",
    "WORKERS",
    "EVENT",
)


def _check_env_prefixes(names: Iterable[str]) -> None:
    """No provider's variables may be read as another provider's, an app's or a setting's."""
    seen: dict[str, str] = {}
    for name in names:
        prefix = env_prefix(name)
        if prefix in seen:
            raise ConfigError(f"providers.{name} and providers.{seen[prefix]} share the variables {prefix}*")
        seen[prefix] = name
    for name, prefix in ((n, env_prefix(n)) for n in names if n not in BUILTIN_PROVIDERS):
        taken = [
            *(env_prefix(b) for b in BUILTIN_PROVIDERS),
            *(f"CONSENTRY_{f}_" for f in _OTHER_VARIABLE_FAMILIES),
        ]
        clash = next((t for t in taken if prefix.startswith(t)), None)
        if clash is not None:
            raise ConfigError(
                f"providers.{name}: its variables {prefix}* would overlap {clash}*; choose another name"
            )


def _transport(name: str, raw: Mapping[str, Any]) -> str:
    """Which transport reaches provider `name`: built-ins are their own; any other section must
    declare an OpenAI-compatible format and a base URL."""
    declared = raw.get("format")
    if name in BUILTIN_PROVIDERS:
        if declared not in (None, name):
            raise ConfigError(f"providers.{name} is built in: its format cannot be changed")
        return name
    if not PROVIDER_NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise ConfigError(
            f"providers.{name[:40]}: a provider name is 1-32 lower-case letters, digits, '_' or '-', "
            f"starting with a letter, and not one of {sorted(RESERVED_NAMES)}"
        )
    if declared not in CONFIGURABLE_FORMATS:
        raise ConfigError(
            f"providers.{name} is not a built-in provider ({', '.join(BUILTIN_PROVIDERS)}): "
            f"declare its format ({', '.join(sorted(CONFIGURABLE_FORMATS))}) and base_url"
        )
    if not raw.get("base_url"):
        raise ConfigError(f"providers.{name} needs a base_url")
    return str(declared)


_LIMIT_KINDS: dict[str, type[int] | type[float]] = {
    "max_answer_bytes": int,
    "max_event_bytes": int,
    "stream_idle_timeout_s": float,
    "max_stream_s": float,
}


def _limits(raw: Any, base: AnswerLimits, where: str) -> AnswerLimits:
    """`base` with the keys set in `raw` (a `limits:` section) replaced."""
    if raw is None:
        return base
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(set(raw) - set(_LIMIT_KINDS))
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}; known: {sorted(_LIMIT_KINDS)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        kind = _LIMIT_KINDS[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{key} must be a number")
        if kind is int and value != int(value):
            raise ConfigError(f"{where}.{key} must be a whole number of bytes")
        if value <= 0:
            raise ConfigError(f"{where}.{key} must be positive")
        values[key] = kind(value)
    limits = replace(base, **values)
    if limits.max_event_bytes > limits.max_answer_bytes:
        if "max_event_bytes" in values:
            raise ConfigError(f"{where}: max_event_bytes cannot exceed max_answer_bytes")
        # A smaller answer bound alone bounds its events too.
        limits = replace(limits, max_event_bytes=limits.max_answer_bytes)
    return limits


def _provider(
    name: str, raw: Mapping[str, Any], env: Mapping[str, str], limits: AnswerLimits
) -> ProviderConfig:
    prefix = env_prefix(name)
    transport = _transport(name, raw)
    known = {
        "base_url",
        "api_key",
        "auth_mode",
        "timeout_s",
        "connect_timeout_s",
        "allow_paths",
        "format",
        "limits",
    }
    auth_mode = str(raw.get("auth_mode", "managed"))
    if auth_mode not in ("managed", "passthrough"):
        raise ConfigError(f"providers.{name}.auth_mode must be 'managed' or 'passthrough'")
    return ProviderConfig(
        name=name,
        transport=transport,
        base_url=env.get(prefix + "BASE_URL") or str(raw.get("base_url") or BUILTIN_PROVIDERS.get(name, "")),
        api_key=env.get(prefix + "API_KEY") or str(raw.get("api_key") or ""),
        auth_mode=auth_mode,
        timeout_s=float(raw.get("timeout_s", 120.0)),
        connect_timeout_s=float(raw.get("connect_timeout_s", 10.0)),
        allow_paths=tuple(str(p) for p in raw.get("allow_paths") or ()),
        limits=_limits(raw.get("limits"), limits, f"providers.{name}.limits"),
        extra={k: v for k, v in raw.items() if k not in known},
        env={k: v for k, v in env.items() if k.startswith(prefix)},
    )


def _detection_number(raw: Mapping[str, Any], key: str, default: float, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(raw.get(key, default))
    except (TypeError, ValueError):
        raise ConfigError(f"detection.{key} must be a number") from None
    if value < 0:
        raise ConfigError(f"detection.{key} must not be negative")
    return value


def _detection(raw: Mapping[str, Any], env: Mapping[str, str], serving_processes: int = 1) -> DetectionConfig:
    timeout_s = _detection_number(raw, "timeout_s", 5.0, float)
    max_queue_wait_s = _detection_number(raw, "max_queue_wait_s", 0.25, float)
    if max_queue_wait_s >= timeout_s:
        # A request allowed to wait its whole deadline in the queue would only ever time out.
        raise ConfigError("detection.max_queue_wait_s must be shorter than detection.timeout_s")
    # the slowest text fits the deadline on one core
    fits = int((timeout_s - max_queue_wait_s) * WORST_CASE_CHARS_PER_S)
    detection = DetectionConfig(
        model=env.get("CONSENTRY_SPACY_MODEL") or str(raw.get("model", DEFAULT_SPACY_MODEL)),
        timeout_s=timeout_s,
        workers=_workers(raw.get("workers", "auto"), serving_processes),
        cache_entries=_detection_number(raw, "cache_entries", 20_000, int),
        phone_regions=tuple(str(r).upper() for r in raw["phone_regions"])
        if raw.get("phone_regions")
        else None,
        max_chars=_detection_number(raw, "max_chars", fits, int),
        max_queue_wait_s=max_queue_wait_s,
        max_queued_jobs=_detection_number(raw, "max_queued_jobs", 1000, int),
        worker_max_rss_mb=_detection_number(raw, "worker_max_rss_mb", 1024, int),
    )
    if detection.max_chars < 1 or detection.max_queued_jobs < 1:
        raise ConfigError("detection.max_chars and max_queued_jobs must be positive")
    return detection


def _ledger_number(raw: Mapping[str, Any], key: str, default: float, kind: type[int] | type[float]) -> Any:
    try:
        return kind(raw.get(key, default))
    except (TypeError, ValueError):
        raise ConfigError(f"ledger.{key} must be a number") from None


def _ledger(raw: Mapping[str, Any], env: Mapping[str, str]) -> LedgerConfig:
    backend = str(raw.get("backend", "sqlite"))
    if backend not in LEDGER_BACKENDS:
        raise ConfigError("ledger.backend must be 'sqlite' or 'postgres'")
    dsn = env.get("CONSENTRY_DB_DSN") or str(raw.get("dsn") or "")
    # Error messages never quote the DSN: it may carry a password.
    if backend == "postgres" and not dsn:
        raise ConfigError("ledger.backend 'postgres' needs ledger.dsn (or CONSENTRY_DB_DSN)")
    if dsn and not dsn.startswith(("postgresql://", "postgres://")):
        raise ConfigError("ledger.dsn must be a postgresql:// URL")
    if dsn and backend != "postgres":
        # Refused rather than ignored: an operator who set a DSN expects the shared ledger, and
        # records silently kept in a local file would be missing from it.
        raise ConfigError("ledger.dsn (or CONSENTRY_DB_DSN) is set but ledger.backend is not 'postgres'")
    ledger = LedgerConfig(
        backend=backend,
        path=env.get("CONSENTRY_DB_PATH") or str(raw.get("path", "consentry.db")),
        dsn=dsn,
        batch_size=_ledger_number(raw, "batch_size", 200, int),
        flush_interval_s=_ledger_number(raw, "flush_interval_s", 0.2, float),
        max_queued=_ledger_number(raw, "max_queued", 100_000, int),
        probe_interval_s=_ledger_number(raw, "probe_interval_s", 2.0, float),
        on_failure=str(raw.get("on_failure", "refuse")),
        retention_days=_whole_number(raw, "retention_days", 365),
        retention_interval_s=_ledger_number(raw, "retention_interval_s", 3600.0, float),
        purge_batch_size=_whole_number(raw, "purge_batch_size", 5000),
        schema=_ledger_schema(raw.get("schema"), backend),
    )
    if ledger.batch_size < 1 or ledger.max_queued < 1:
        raise ConfigError("ledger.batch_size and ledger.max_queued must be at least 1")
    if ledger.flush_interval_s < 0:
        raise ConfigError("ledger.flush_interval_s must not be negative")
    if not 0 < ledger.probe_interval_s <= 3600:
        raise ConfigError("ledger.probe_interval_s must be more than 0 and at most 3600")
    if ledger.on_failure not in LEDGER_FAILURE_POLICIES:
        raise ConfigError("ledger.on_failure must be 'refuse' or 'degrade'")
    if not 0 <= ledger.retention_days <= MAX_RETENTION_DAYS:
        raise ConfigError(f"ledger.retention_days must be between 0 (keep forever) and {MAX_RETENTION_DAYS}")
    if not 1 <= ledger.retention_interval_s <= 86_400:
        raise ConfigError("ledger.retention_interval_s must be between 1 and 86400 seconds")
    if not 1 <= ledger.purge_batch_size <= 100_000:
        raise ConfigError("ledger.purge_batch_size must be between 1 and 100000")
    return ledger


def _whole_number(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    # bool is an int to Python, and 1.5 days silently cut to 1 would surprise.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"ledger.{key} must be a whole number")
    return value


def _ledger_schema(value: Any, backend: str) -> str | None:
    if value is None or value == "":
        return None
    if backend != "postgres":
        raise ConfigError("ledger.schema is set but ledger.backend is not 'postgres'")
    if not isinstance(value, str) or not SCHEMA_NAME.fullmatch(value):
        raise ConfigError(
            "ledger.schema must be a PostgreSQL name: a letter or underscore, then letters, digits "
            "or underscores, at most 45 characters"
        )
    return value


def _hash_key(raw: Mapping[str, Any], env: Mapping[str, str], ledger_path: str) -> bytes:
    value = env.get("CONSENTRY_HASH_KEY") or raw.get("hash_key")
    if value:
        return str(value).encode()
    # Hashes must stay stable across restarts, so a generated key is kept beside the database.
    key_file = Path(ledger_path).with_suffix(".key")
    if key_file.exists():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_hex(32).encode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(generated)
    return generated


def _number(raw: Mapping[str, Any], where: str, key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}.{key} must be a number")
    return float(value)


def _admin(raw: Mapping[str, Any], env: Mapping[str, str], ledger_path: str, proxy_port: int) -> AdminConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError("admin must be a mapping")
    unknown = sorted(set(raw) - {"enabled", "host", "port", "tokens"})
    if unknown:
        raise ConfigError(f"admin has unknown keys {unknown}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("admin.enabled must be true or false")
    host = env.get("CONSENTRY_ADMIN_HOST") or str(raw.get("host", "127.0.0.1"))
    try:
        port = int(env.get("CONSENTRY_ADMIN_PORT") or raw.get("port", 8081))
    except (TypeError, ValueError):
        raise ConfigError("admin.port must be a number") from None
    if not 0 < port < 65536:
        raise ConfigError("admin.port must be between 1 and 65535")
    if enabled and port == proxy_port:
        raise ConfigError("admin.port must differ from the proxy's port: the admin API has its own listener")
    tokens: list[AdminToken] = []
    tokens_raw = raw.get("tokens") or {}
    if not isinstance(tokens_raw, Mapping):
        raise ConfigError("admin.tokens must be a mapping of token name to {role, token | token_sha256}")
    for name, spec in tokens_raw.items():
        where = f"admin.tokens.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a mapping with role and token (or token_sha256)")
        role = spec.get("role")
        if role not in ADMIN_ROLES:
            raise ConfigError(f"{where}.role must be 'reader' or 'admin'")
        variable = f"CONSENTRY_ADMIN_TOKEN_{str(name).upper().replace('-', '_')}"
        token = env.get(variable) or spec.get("token")
        digest = spec.get("token_sha256")
        if token:
            if len(str(token)) < 24:
                raise ConfigError(f"{where}: an admin token must be at least 24 characters")
            digest = hashlib.sha256(str(token).encode()).hexdigest()
        elif not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise ConfigError(f"{where} needs token (or {variable}) or token_sha256 (64 hex digits)")
        tokens.append(AdminToken(str(name), str(role), str(digest)))
    # Without configured tokens the admin listener makes one admin token and keeps it beside the
    # database (proxy/admin/auth.py), so `make serve` has a working admin API on loopback.
    token_file = "" if tokens else str(Path(ledger_path).with_suffix(".admin-token"))
    return AdminConfig(enabled, host, port, tuple(tokens), token_file)


def _consent(raw: Mapping[str, Any]) -> ConsentConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError("consent must be a mapping")
    unknown = sorted(set(raw) - {"store_outage", "max_stale_s", "check_interval_s"})
    if unknown:
        raise ConfigError(f"consent has unknown keys {unknown}")
    outage = raw.get("store_outage", "serve")
    if outage not in CONSENT_STORE_OUTAGE:
        raise ConfigError("consent.store_outage must be 'serve' or 'refuse'")
    max_stale_s = _number(raw, "consent", "max_stale_s", 300.0)
    check_interval_s = _number(raw, "consent", "check_interval_s", 1.0)
    if max_stale_s < 0 or not 0.05 <= check_interval_s <= 60:
        raise ConfigError("consent.max_stale_s must not be negative; check_interval_s between 0.05 and 60")
    return ConsentConfig(str(outage), max_stale_s, check_interval_s)


def _log_format(value: Any) -> str:
    if value not in ("json", "text"):
        raise ConfigError("log_format must be 'json' or 'text'")
    return str(value)


def _flag(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value


TOP_LEVEL_KEYS = frozenset(
    {
        "server",
        "rules",
        "hash_key",
        "apps",
        "providers",
        "ledger",
        "detection",
        "limits",
        "log_level",
        "log_format",
        "log_customer_pseudonym",
        "admin",
        "consent",
    }
)
SERVER_KEYS = frozenset({"host", "port", "workers", "max_body_bytes", "drain_timeout_s", "event_loop"})


def _event_loop(value: Any) -> str:
    if value == "auto":
        try:
            import uvloop
        except ImportError:
            return "asyncio"
        return "uvloop"
    if value not in ("uvloop", "asyncio"):
        raise ConfigError("server.event_loop must be 'auto', 'uvloop' or 'asyncio'")
    if value == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise ConfigError("server.event_loop is 'uvloop' but uvloop is not installed") from None
    return str(value)


class ConfigProblems(ConfigError):
    """Every problem found in a configuration, one per line (`consentry check` prints them all)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _known_keys(raw: Any, where: str, known: frozenset[str]) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        # A misspelt key would otherwise be silently ignored, its setting left at the default.
        raise ConfigError(f"{where}.{unknown[0]} is not a known key (known: {', '.join(sorted(known))})")


def _server_number(server: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = server.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"server.{key} must be a number")
    if not low <= value <= high:
        raise ConfigError(f"server.{key} must be between {low:g} and {high:g}")
    return value


def _apps(apps_raw: Any, env: Mapping[str, str], host: str) -> tuple[AppConfig, ...]:
    if apps_raw is None:
        apps = [AppConfig("local-dev", DEVELOPMENT_APP_KEY)]
    else:
        if not isinstance(apps_raw, Mapping):
            raise ConfigError("apps must be a mapping of application name to its keys")
        apps = []
        for name, spec in apps_raw.items():
            spec = spec or {}
            if not isinstance(spec, Mapping):
                raise ConfigError(f"apps.{name} must be a mapping")
            env_prefix = f"CONSENTRY_APP_{str(name).upper().replace('-', '_')}_"
            key = env.get(env_prefix + "KEY") or str(spec.get("key") or "")
            app = AppConfig(
                str(name),
                key,
                aws_access_key_id=str(spec.get("aws_access_key_id") or ""),
                aws_secret_access_key=env.get(env_prefix + "AWS_SECRET_ACCESS_KEY")
                or str(spec.get("aws_secret_access_key") or ""),
            )
            if app.key and len(app.key) < 16:
                raise ConfigError(f"apps.{name}.key: proxy keys must be at least 16 characters")
            if bool(app.aws_access_key_id) != bool(app.aws_secret_access_key):
                raise ConfigError(f"apps.{name}: aws_access_key_id and aws_secret_access_key go together")
            apps.append(app)
    if any(a.key == DEVELOPMENT_APP_KEY for a in apps) and not _is_loopback(host):
        raise ConfigError(
            "the built-in development key may only be used on a loopback address; configure apps"
        )
    return tuple(apps)


def _providers_section(
    raw: Mapping[str, Any], env: Mapping[str, str], limits: AnswerLimits, problems: list[str]
) -> dict[str, ProviderConfig]:
    providers_raw = dict(raw.get("providers") or {})
    # Every provider gets a section, so CONSENTRY_<PROVIDER>_* overrides work without a config file.
    for name in BUILTIN_PROVIDERS:
        providers_raw.setdefault(name, {})
    providers: dict[str, ProviderConfig] = {}
    for name, spec in providers_raw.items():
        try:
            providers[str(name)] = _provider(str(name), spec or {}, env, limits)
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        _check_env_prefixes(providers)
    except ConfigError as exc:
        problems.append(str(exc))
    return providers


def parse_config(raw: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> Config:
    """The configuration, or ConfigProblems naming every problem found (not only the first)."""
    raw = dict(raw or {})
    env = dict(os.environ if env is None else env)
    problems: list[str] = []

    def part(build: Any, fallback: Any) -> Any:
        try:
            return build()
        except ConfigError as exc:
            problems.append(str(exc))
            return fallback

    unknown = sorted(str(k) for k in raw if k not in TOP_LEVEL_KEYS)
    for key in unknown:
        problems.append(f"{key} is not a known key (known: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    server = raw.get("server") or {}
    if part(lambda: _known_keys(server, "server", SERVER_KEYS), False) is False:
        server = server if isinstance(server, Mapping) else {}
    ledger = part(lambda: _ledger(raw.get("ledger") or {}, env), LedgerConfig())
    if ledger.backend == "postgres" and not (env.get("CONSENTRY_HASH_KEY") or raw.get("hash_key")):
        # A key generated beside one replica's files differs per replica: hashes and pseudonyms
        # of the same value would not match across replicas sharing this ledger.
        problems.append(
            "ledger.backend 'postgres' needs hash_key (or CONSENTRY_HASH_KEY) shared by all replicas"
        )
    workers = part(lambda: _server_workers(env.get("CONSENTRY_WORKERS") or server.get("workers", "auto")), 1)
    detection = part(lambda: _detection(raw.get("detection") or {}, env, workers), DetectionConfig())
    drain_timeout_s = part(lambda: float(_server_number(server, "drain_timeout_s", 20.0, 0, 3600)), 20.0)
    max_body_bytes = part(
        lambda: int(_server_number(server, "max_body_bytes", 10 * 1024 * 1024, 1, 2**31)), 0
    )
    event_loop = part(
        lambda: _event_loop(env.get("CONSENTRY_EVENT_LOOP") or server.get("event_loop", "auto")), ""
    )
    host = env.get("CONSENTRY_HOST") or str(server.get("host", "127.0.0.1"))
    port = part(
        lambda: int(env.get("CONSENTRY_PORT") or _server_number(server, "port", 8080, 1, 65535)), 8080
    )
    apps = part(lambda: _apps(raw.get("apps"), env, host), ())
    limits = part(lambda: _limits(raw.get("limits"), AnswerLimits(), "limits"), AnswerLimits())
    providers = _providers_section(raw, env, limits, problems)
    log_format = part(
        lambda: _log_format(env.get("CONSENTRY_LOG_FORMAT") or raw.get("log_format", "json")), ""
    )
    log_customer = part(lambda: _flag(raw, "log_customer_pseudonym", False), False)
    admin = part(lambda: _admin(raw.get("admin") or {}, env, ledger.path, port), AdminConfig())
    consent = part(lambda: _consent(raw.get("consent") or {}), ConsentConfig())
    if problems:
        raise ConfigProblems(problems)
    return Config(
        host=host,
        port=port,
        workers=workers,
        event_loop=event_loop,
        rules_path=env.get("CONSENTRY_RULES") or raw.get("rules"),
        max_body_bytes=max_body_bytes,
        drain_timeout_s=drain_timeout_s,
        hash_key=_hash_key(raw, env, ledger.path),
        apps=apps,
        providers=providers,
        ledger=ledger,
        detection=detection,
        limits=limits,
        log_level=str(env.get("CONSENTRY_LOG_LEVEL") or raw.get("log_level", "INFO")),
        log_format=log_format,
        log_customer_pseudonym=log_customer,
        admin=admin,
        consent=consent,
    )


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The configuration in `path` (or $CONSENTRY_CONFIG, or the embedded defaults); every problem
    is reported as `file:line: problem`."""
    env = dict(os.environ if env is None else env)
    source = path or env.get("CONSENTRY_CONFIG")
    if not source:
        return parse_config({}, env)
    text = Path(source).read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigProblems([syntax_problem(str(source), exc)]) from None
    if not isinstance(raw, Mapping):
        raise ConfigProblems([f"{source}: a configuration file must be a mapping"])
    try:
        return parse_config(raw, env)
    except ConfigProblems as exc:
        raise ConfigProblems(located(exc.problems, str(source), text)) from None
    except ConfigError as exc:
        raise ConfigProblems(located([str(exc)], str(source), text)) from None
