"""`[server]` limits on what one request may cost, and their defaults.

    [server]
    max_cost = 1000             # estimated vendor calls of one request, checked before any is made
    max_vendor_calls = 1000     # the runtime backstop: a request stops calling vendors at this many
    max_body_bytes = 1048576    # 413 above
    max_list_length = 100       # any list in the variables or the document (messages, tags, ids)
    max_string_length = 10000   # any string in the variables or the document
    max_tokens = 5000           # lexical tokens of the document, comments included
    request_timeout = 30        # seconds for a whole query or mutation, however many vendor calls
    rate_limit = "600/minute"   # requests per client (the `limits` notation; "" turns it off)
    cost_rate_limit = "20000/minute"  # estimated cost per client

Each has a PARLEY_<KEY> environment variable too (PARLEY_MAX_COST, …).

One writer cannot cut others off: `addMessages` publishes one event per message, and its list is at
most `max_list_length` long, which may be at most `MAX_LIST_LENGTH_CAP` = half of a subscriber's
buffer (`events.QUEUE_SIZE`, 256). So one request at the cap fills at most half the buffer of a
subscriber that has not read anything meanwhile (the bus cuts a subscriber off only when its buffer
is full), and it adds at most 128 of the 10,000 events the replay log keeps (`events.RETENTION`), so a
client that reconnects with `since` after it still finds everything it missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from limits import parse_many

from .events import QUEUE_SIZE
from .setting_values import SettingsError, seconds, whole

# The README's inbox of 20 rows with customer, tags and last message costs at most 72 vendor calls;
# a page of 100 conversations with 100 messages each costs about 500.
DEFAULT_MAX_COST = 1000
DEFAULT_MAX_VENDOR_CALLS = 1000
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_LIST_LENGTH = 100
DEFAULT_MAX_STRING_LENGTH = 10_000
DEFAULT_MAX_TOKENS = 5000
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_RATE_LIMIT = "600/minute"
DEFAULT_COST_RATE_LIMIT = "20000/minute"
MAX_LIST_LENGTH_CAP = QUEUE_SIZE // 2  # see the module docstring


@dataclass(frozen=True)
class Limits:
    """What one request may cost (`[server]` keys of the same names)."""

    max_cost: int = DEFAULT_MAX_COST  # estimated vendor calls, checked before any is made
    max_vendor_calls: int = DEFAULT_MAX_VENDOR_CALLS  # the runtime backstop per request
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_list_length: int = DEFAULT_MAX_LIST_LENGTH  # any list in the variables or the document
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH
    max_tokens: int = DEFAULT_MAX_TOKENS  # the document's lexical tokens, comments included
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds for a whole query or mutation
    rate_limit: str | None = DEFAULT_RATE_LIMIT  # requests per client, in the `limits` notation
    cost_rate_limit: str | None = DEFAULT_COST_RATE_LIMIT  # estimated cost per client and window


def load_limits(server: Mapping[str, Any], env: Mapping[str, str]) -> Limits:
    defaults = Limits()

    def value(key: str) -> tuple[str, Any]:
        variable = f"PARLEY_{key.upper()}"
        return f"{variable} / server.{key}", env.get(variable, server.get(key, getattr(defaults, key)))

    counts = {key: _positive(*value(key)) for key in
              ("max_cost", "max_vendor_calls", "max_body_bytes", "max_list_length", "max_string_length", "max_tokens")}
    if counts["max_list_length"] > MAX_LIST_LENGTH_CAP:
        raise SettingsError(
            f"{value('max_list_length')[0]}: at most {MAX_LIST_LENGTH_CAP}, so one addMessages cannot fill more than half "
            f"of a subscriber's {QUEUE_SIZE}-event buffer"
        )
    return Limits(
        **counts,
        request_timeout=seconds(*value("request_timeout")),
        rate_limit=_rate(*value("rate_limit")),
        cost_rate_limit=_rate(*value("cost_rate_limit")),
    )


def _positive(where: str, raw: Any) -> int:
    number = whole(where, raw)
    if number < 1:
        raise SettingsError(f"{where}: must be at least 1")
    return number


def _rate(where: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise SettingsError(f"{where}: expected a rate like \"600/minute\", got {raw!r}")
    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{where}: expected a rate like \"600/minute\" or \"10/second;600/hour\", got {raw!r}") from None
    return raw
