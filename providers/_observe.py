"""What whoever runs the adapters (the gateway) may learn of their vendor calls, without `providers/`
knowing who that is.

- **Request ids**: `request_id_scope(rid)` marks the calls made inside it (and by the tasks it starts)
  as made for that request; the wire sends the id to the vendor as `X-Request-Id`, and the headers of
  any `add_header_source` (the trace context, when tracing is on).
- **Observations**: `set_observer(observer)` receives every vendor call (`VendorCall`: provider, a
  low-cardinality operation name, the HTTP status or why there was none, the seconds it took), each
  retry, and a provider's circuit-breaker state. One observer per process; none by default, which
  costs a ContextVar read per call.
- **Operation names**: a client names each call by the vendor route it matches (`Routes`), never by
  its path, so ids and tag names stay out of metric labels.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

REQUEST_ID_HEADER = "X-Request-Id"
UNMATCHED = "other"

_request_id: ContextVar[str | None] = ContextVar("parley_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request the running code works for; None outside any."""
    return _request_id.get()


@contextlib.contextmanager
def request_id_scope(request_id: str | None) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


HeaderSource = Callable[[], Mapping[str, str]]
_header_sources: list[HeaderSource] = []


def add_header_source(source: HeaderSource) -> None:
    """`source()` gives headers for every vendor call built from now on (the trace context, say)."""
    if source not in _header_sources:
        _header_sources.append(source)


def outgoing_headers(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """`headers` plus the current request's `X-Request-Id` and the header sources' (the caller's own win)."""
    request_id = _request_id.get()
    if request_id is None and not _header_sources:
        return headers
    added: dict[str, str] = {REQUEST_ID_HEADER: request_id} if request_id is not None else {}
    for source in _header_sources:
        added.update(source())
    return {**added, **(headers or {})}


@dataclass(frozen=True, slots=True)
class VendorCall:
    """One attempt at a vendor (a retry is another call)."""

    provider: str
    operation: str  # "GET ccaas/1/conversations/{id}": the method and the route's template
    status: str  # the HTTP status ("200", "503"), or "timeout", "unreachable" when none came
    seconds: float


class Observer(Protocol):
    def vendor_call(self, call: VendorCall) -> None: ...

    def retry(self, provider: str, operation: str) -> None:
        """A call is about to be sent again (after a 429, a 5xx or a connection failure)."""
        ...

    def breaker_state(self, provider: str, state: str) -> None:
        """`state`: "closed", "half_open" or "open" (the circuit breaker's, when it changes)."""
        ...


_observer: Observer | None = None


def set_observer(observer: Observer | None) -> None:
    global _observer
    _observer = observer


def vendor_call(provider: str, operation: str, status: str, seconds: float) -> None:
    if _observer is not None:
        _observer.vendor_call(VendorCall(provider, operation, status, seconds))


def retry(provider: str, operation: str) -> None:
    if _observer is not None:
        _observer.retry(provider, operation)


def breaker_state(provider: str, state: str) -> None:
    if _observer is not None:
        _observer.breaker_state(provider, state)


class Routes:
    """A vendor's path templates ("ccaas/1/conversations/{id}/tags/{tag}"); `name(method, path)` is the
    method and the template a path matches, or `UNMATCHED`, never the path itself."""

    def __init__(self, *templates: str) -> None:
        self._patterns = [
            (re.compile("/?" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(t.strip("/"))) + "/?"), t.strip("/"))
            for t in templates
        ]

    def name(self, method: str, path: str) -> str:
        bare = path.split("?", 1)[0]
        for pattern, template in self._patterns:
            if pattern.fullmatch(bare):
                return f"{method} {template}"
        return f"{method} {UNMATCHED}"
