"""What the resilience of vendor calls reports to whoever listens (metrics, logs), without knowing them.

Each signal is a list of plain callables that anyone may subscribe to with `subscribe`:

- `BREAKER_STATE`: `(provider, state)` whenever a provider's circuit breaker changes state
  (`"closed"`, `"open"`, `"half_open"`, the values of `BreakerState`);
- `RETRY`: `(provider, reason, made)` for each retry `_http.send` considers after a failed attempt:
  `reason` is what failed (`"connection"`, `"status_429"`, `"status_5xx"`), `made` whether it was
  retried (False: the retry budget, the open breaker or the request's deadline left it out);
- `VENDOR_CALL`: `(provider, method, result, seconds)` for each call sent to a vendor (retries each
  count; calls refused before sending do not): `result` is the HTTP status (`"200"`, `"503"`), or
  `"timeout"`, `"deadline"` (cut by the request's deadline), `"connection_error"` or `"cancelled"`.

Listeners run inline on the event loop, so they must be quick and must not block. One that raises is
logged and skipped: a broken listener never fails a vendor call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("parley.providers.signals")

F = TypeVar("F", bound=Callable[..., None])

BREAKER_STATE: list[Callable[[str, str], None]] = []
RETRY: list[Callable[[str, str, bool], None]] = []
VENDOR_CALL: list[Callable[[str, str, str, float], None]] = []


def subscribe(signal: list[F], listener: F) -> Callable[[], None]:
    """Adds `listener` to `signal`; returns the function that removes it again."""
    signal.append(listener)

    def unsubscribe() -> None:
        if listener in signal:
            signal.remove(listener)

    return unsubscribe


def emit(signal: list[F], *args: Any) -> None:
    if not signal:
        return  # the common case: nobody listens
    for listener in list(signal):
        try:
            listener(*args)
        except Exception:
            logger.exception("a listener of a provider signal failed; the vendor call goes on")
