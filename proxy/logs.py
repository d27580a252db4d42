"""Logging that cannot carry request content.

Threat: libraries log what they were handed. aiohttp's server logger writes a malformed request
line or header (a proxy key or an e-mail address in a query string, an SSN in a header) at ERROR;
Presidio's decision-process logger writes the text it analysed; the message of almost any
exception (orjson, codecs, KeyError, a worker's remote traceback) can quote the input that raised
it. Logs are kept longer, copied further and read by more people than any request.

Contract, enforced where every record is made (the log record factory, so it also holds for the
handlers spaCy and Presidio attach to their own loggers, and in detector worker processes):

- A record from a library logger (any logger outside `consentry`) keeps its logger name, its
  level, the code location that logged it and the type of an attached exception. Its message,
  arguments, exception text and stack are withheld: "Error handling request from %s" with
  `exc_info` becomes `message withheld (web_protocol.py:871 in handle_error; exception
  aiohttp.http_exceptions.BadHttpMessage)`. To read the library's own message, look up that line.
- A record from Consentry's own loggers keeps its message: their arguments are ids, counts, codes
  and type names, never request content. An attached exception is rendered as exception types
  and code locations, for the whole chain, never an exception's message.
- A Python warning is logged as its category and code location (`consentry.warnings`), and an
  uncaught exception (main thread, other threads, "exception ignored") as an own record with its
  content-free traceback, instead of being printed with their messages.

`configure` sets up the proxy's logging; `install` alone is for processes that only need the
guarantee (detector workers). Both are idempotent.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import PurePath
from types import TracebackType
from typing import Any

import orjson

OWN_LOGGER = "consentry"
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_MARK = "_consentry_content_free"  # (msg, args) as scrubbed, to tell a record already made safe

_installed = False


def is_own(name: str | None) -> bool:
    return name == OWN_LOGGER or bool(name and name.startswith(OWN_LOGGER + "."))


def type_name(exc_type: type[BaseException]) -> str:
    module = exc_type.__module__
    return exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"


def content_free_traceback(exc: BaseException) -> str:
    """The traceback of `exc` and its causes: frames (code only) and exception types, no messages."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts: list[str] = []
    for position, item in enumerate(reversed(chain)):
        if position:
            parts.append("\nwhich led to\n")
        frames = traceback.format_list(traceback.extract_tb(item.__traceback__))
        if frames:
            parts.append("Traceback (most recent call last):\n" + "".join(frames))
        parts.append(f"{describe(item)} (message withheld)")
    return "".join(parts)


def describe(exc: BaseException) -> str:
    """The type of `exc`, and for an OSError its errno and that errno's standard text."""
    name = type_name(type(exc))
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        return f"{name} [Errno {exc.errno}] {os.strerror(exc.errno)}"
    return name


def _exc_type(exc_info: Any) -> type[BaseException] | None:
    if isinstance(exc_info, tuple) and exc_info and isinstance(exc_info[0], type):
        return exc_info[0]
    return None


def withheld_message(record: logging.LogRecord) -> str:
    where = f"{PurePath(record.pathname or '?').name}:{record.lineno} in {record.funcName or '?'}"
    exc_type = _exc_type(record.exc_info)
    if exc_type is not None:
        return f"message withheld ({where}; exception {type_name(exc_type)})"
    return f"message withheld ({where})"


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Make `record` content-free in place (see the module docstring); returns it."""
    mark = record.__dict__.get(_MARK)
    if mark is not None and mark[0] is record.msg and mark[1] is record.args and record.exc_info is None:
        return record
    if is_own(record.name):
        exc_type = _exc_type(record.exc_info)
        exc = record.exc_info[1] if exc_type is not None else None  # type: ignore[index]
        if isinstance(exc, BaseException):
            record.exc_text = content_free_traceback(exc)
        elif exc_type is not None:
            record.exc_text = f"{type_name(exc_type)} (message withheld)"
    else:
        record.msg = withheld_message(record)
        record.args = ()
        record.exc_text = None
        record.stack_info = None
    record.exc_info = None
    record.__dict__[_MARK] = (record.msg, record.args)
    return record


class ContentFreeFilter(logging.Filter):
    """For handlers: scrubs any record that did not come through the record factory."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


def _log_uncaught(
    what: str, exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None
) -> None:
    logging.getLogger(OWN_LOGGER).critical(what, exc_info=(exc_type, exc, tb))


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    _log_uncaught("uncaught exception", exc_type, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    _log_uncaught("uncaught exception in a thread", args.exc_type, args.exc_value, args.exc_traceback)


def _unraisablehook(unraisable: Any) -> None:
    # `unraisable.object` and `err_msg` can describe the object (a request, a buffer): not logged.
    _log_uncaught("exception ignored", unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    logging.getLogger(OWN_LOGGER + ".warnings").warning(
        "%s at %s:%d (message withheld)", type_name(category), PurePath(filename).name, lineno
    )


def install() -> None:
    """Every log record this process makes, whoever handles it, is content-free from now on."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def content_free_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub(make_record(*args, **kwargs))

    logging.setLogRecordFactory(content_free_record)
    warnings.showwarning = _showwarning
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook


# A record's structured fields (ids, codes, counts, durations) travel in this attribute
# (`log.info(..., extra={FIELDS: {...}})`) and become top-level keys of its JSON line.
FIELDS = "fields"
LOG_FORMATS = ("json", "text")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's structured fields and,
    for an exception, its content-free traceback (`scrub` made it)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__.get(FIELDS)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def configure(level: str, fmt: str = "json") -> None:
    """The proxy's logging: one line per record on stderr at `level` - a JSON object, or text with
    `fmt="text"` - content-free (see above)."""
    install()
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ContentFreeFilter) for f in handler.filters):
            handler.addFilter(ContentFreeFilter())
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
