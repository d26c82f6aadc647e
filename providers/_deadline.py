"""A deadline for the vendor calls of one request: whoever runs a request (the gateway) opens a
`deadline` around it, and `_http.send` caps each call's timeout, and skips each retry, by the time
left (`remaining`).

Like `_budget`, it lives in a ContextVar, so the tasks a request starts (gathers, DataLoader batches)
carry it, also those left behind when the request is stopped: their calls end by the deadline instead
of running on for a whole upstream timeout. Calls outside any request have no deadline. A deadline
opened inside another keeps the earlier of the two, so an inner one can only shorten.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_current: ContextVar[float | None] = ContextVar("parley_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """The vendor calls made inside the block (and by tasks it starts) end within `seconds` from now;
    yields the deadline on the `time.monotonic()` clock."""
    at = time.monotonic() + seconds
    outer = _current.get()
    if outer is not None and outer < at:
        at = outer
    token = _current.set(at)
    try:
        yield at
    finally:
        _current.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (0 or less once it passed); None without one."""
    at = _current.get()
    return None if at is None else at - time.monotonic()
