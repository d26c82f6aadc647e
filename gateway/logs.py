"""Parley's log lines: the request id on every line, JSON when stderr is not a terminal (one object per
line, for a log shipper), plain text when it is, and no secret in either.

`configure(level)` sets up the root logger once per process (`parley serve`, and each worker of
`--workers N`, which starts without its parent's logging). Every line passes `redact`: the password
of any URL (`redis://user:***@host`), Bearer/Basic/App credentials, JWTs, and the values of query
parameters that carry secrets (`?secret=***`, as in the webhook URLs). Nothing else is cut, so code
still should not log whole request bodies or headers.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from providers._observe import current_request_id

LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "info"
HANDLER_NAME = "parley"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes every LogRecord has; anything else on a record was passed in `extra` and is logged as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "request_id", "color_message",  # uvicorn's own copy of the message, with terminal colours
}
QUIET_LIBRARIES = ("httpx", "httpcore")  # a line per vendor call: the access line and the metrics count them

_SECRETS = [
    # scheme://user:password@host -> scheme://user:***@host (redis://:password@host too)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:@/\s'\"]*):[^@/\s'\"]+@"), r"\1:***@"),
    (re.compile(r"\b([Bb]earer|Basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"\bApp\s+[A-Za-z0-9._~+/=-]{8,}"), "App ***"),  # Infobip's Authorization scheme
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***"),  # a JWT
    (
        re.compile(r"(?i)([?&;\s](?:secret|token|password|passcode|api_?key|access_token|refresh_token|client_secret)=)[^&\s'\"]+"),
        r"\1***",
    ),
]


# What the last of `_SECRETS` cannot match without (the others need literals checked in `_may_hold_secret`):
# most lines (every access line) hold none of these, and looking for them is a tenth of running the patterns.
_SECRET_WORDS = re.compile(r"secret|token|password|passcode|api_?key")


def redact(text: str) -> str:
    """`text` without URL passwords, credentials, JWTs or secret query values."""
    if _may_hold_secret(text):
        return redact_always(text)
    return text


def redact_always(text: str) -> str:
    """`redact` without its pre-check (what the pre-check is tested against)."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _may_hold_secret(text: str) -> bool:
    if "@" in text and "://" in text:
        return True
    if "earer" in text or "Basic" in text or "App" in text or "eyJ" in text:  # [Bb]earer, Basic, App, a JWT
        return True
    if "=" not in text:
        return False
    if not text.isascii():
        return True  # case-insensitive matching folds some other letters onto ASCII ones (ſ onto s, K onto k)
    return _SECRET_WORDS.search(text.lower()) is not None


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`-` outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the record's `extra`
    fields, and `exception` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        extra = {key: value for key, value in record.__dict__.items() if key not in _STANDARD and not key.startswith("_")}
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return json_line(record.created, record.levelname, record.name, record.getMessage(),
                         getattr(record, "request_id", "-"), extra, exception)


def json_line(created: float, level_name: str, logger: str, message: str, request_id: str, extra: dict[str, Any],
              exception: str | None = None) -> str:
    line: dict[str, Any] = {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level_name.lower(),
        "logger": logger,
        "message": redact(message),
    }
    if request_id != "-":
        line["request_id"] = request_id
    line.update(extra)
    if exception is not None:
        line["exception"] = redact(exception)
    return redact(orjson.dumps(line, default=str).decode())


def write_json(logger: logging.Logger, level: int, message: str, extra: dict[str, Any]) -> bool:
    """Writes what `logger.log(level, message, extra=extra)` would, when Parley's JSON handler on the
    root logger is all that would see it, without making a LogRecord (the access line, every request);
    returns False, having written nothing, when anything else might see it (a filter, another handler,
    pytest's caplog): then log it."""
    handler = _only_json_handler(logger, level)
    if handler is None:
        return False
    created = time.time()
    text = json_line(created, logging.getLevelName(level), logger.name, message, current_request_id() or "-", extra)
    with handler.lock or contextlib.nullcontext():
        try:
            handler.stream.write(text + handler.terminator)
            handler.flush()
        except Exception:
            handler.handleError(logger.makeRecord(logger.name, level, "(direct)", 0, message, (), None, extra=extra))
    return True


def _only_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler[Any] | None:
    node: Any = logger
    while node is not None:
        if node.filters or node.disabled:
            return None
        if node is logging.root:
            break
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    if node is not logging.root or len(node.handlers) != 1:
        return None
    handler = node.handlers[0]
    if type(handler) is not logging.StreamHandler or type(handler.formatter) is not JsonFormatter or level < handler.level:
        return None
    if len(handler.filters) != 1 or type(handler.filters[0]) is not RequestIdFilter:
        return None
    return handler


def configure(level: str, *, stream: TextIO | None = None, json: bool | None = None) -> None:
    """Root logging for a Parley process: `level` (one of `LEVELS`), JSON unless `stream` (stderr by
    default) is a terminal. uvicorn's loggers propagate here (it is started with `log_config=None`)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    as_json = not _is_terminal(stream) if json is None else json
    handler.setFormatter(JsonFormatter() if as_json else PlainFormatter())
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)  # configured again (tests): replaced, and other handlers left alone
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(level.upper())
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # Parley writes its own access line
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
