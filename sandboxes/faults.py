"""Injected faults: what ``POST /_sandbox/faults`` takes, and what a fault answers instead of the API.

Injected fault bodies look like what a client meets in production: 502/503/504 are an HTML page
from a "load balancer"; other statuses are the vendor's own error body (``render_error``), with
``Retry-After`` on 429 and 503 when the fault sets ``retryAfter``; ``malformed`` is HTTP 200 with
an ``application/json`` content type and a truncated JSON body.

``commitThenDrop`` is the window where the vendor did the work but its answer was lost: the request
is carried out in full (authentication and the endpoint run, the object is created, webhooks go
out), then the client gets no answer at all, as when a connection drops (``drop_connection``):

- over a socket (uvicorn, verified on 0.54 with both its httptools and h11 protocols) the connection
  is closed without a byte of a response: httpx raises ``RemoteProtocolError`` ("Server disconnected
  without sending a response."), aiohttp ``ServerDisconnectedError``. uvicorn logs one line
  (``ASGI callable returned without completing response.``), no traceback;
- in-process (``httpx.ASGITransport``, which has no socket to close) the app raises
  ``ConnectionDropped``, an ``httpx.RemoteProtocolError`` with that same message. ASGITransport
  re-raises an app's exception to the caller (its default ``raise_app_exceptions=True``; with False
  the client would get a response with status 0 instead), so the client meets the same exception
  class as over a socket, its ``request`` set by httpx. It is httpx's class, so a client on another
  HTTP library in-process (httpx2's ASGITransport) sees it as a foreign exception.

Either way the sandbox logs a warning (logger ``sandboxes.faults``) naming the request and the status
the vendor answered before the drop, so a drop of a request that committed nothing (a 4xx) shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from starlette.responses import HTMLResponse, Response
from starlette.types import Message, Send

MALFORMED_BODY = b'{"status": "success", "conversations": [{"id": "7f3c", "topic": "Ord'
GATEWAY_REASONS = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
GATEWAY_PAGE = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
FIELDS = {
    "status": "status",
    "retry_after": "retryAfter",
    "malformed": "malformed",
    "latency_ms": "latencyMs",
    "times": "times",
    "path_contains": "pathContains",
    "method": "method",
    "commit_then_drop": "commitThenDrop",
}
# No HTTP server can write status 0 (browsers report a request that got no answer as status 0).
NO_STATUS = 0
DISCONNECTED = "Server disconnected without sending a response."  # httpx's words for a dropped socket

JsonDict = dict[str, Any]
RenderError = Callable[[int, str, dict[str, str]], Response]


class HookInputError(ValueError):
    """A control request (``/_sandbox/...``) the kit cannot act on; the message names the field."""


class ConnectionDropped(httpx.RemoteProtocolError):
    """What an in-process client gets from a ``commitThenDrop`` fault: the request was carried out,
    the answer is lost. An ``httpx.RemoteProtocolError``, as a dropped socket is."""


@dataclass(slots=True)
class Fault:
    status: int | None = None
    retry_after: int | None = None
    malformed: bool = False
    latency_ms: int = 0
    times: int | None = None
    path_contains: str | None = None
    method: str | None = None
    commit_then_drop: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.path_contains is None or self.path_contains in path) and self.method in (None, method)

    def to_json(self) -> JsonDict:
        return {FIELDS[key]: value for key, value in asdict(self).items()}


def _field(obj: dict[str, object], key: str, kind: type, label: str) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool:
        raise HookInputError(f"body.{key} must be {label}, got {value!r}")
    if not isinstance(value, kind):
        raise HookInputError(f"body.{key} must be {label}, got {value!r}")
    return value


def _method(raw: dict[str, object]) -> str | None:
    value = _field(raw, "method", str, "an HTTP method name")
    if value is None:
        return None
    if value.upper() not in METHODS:
        raise HookInputError(f"body.method={value!r} must be one of {', '.join(METHODS)}")
    return str(value.upper())


def parse_fault(raw: object) -> Fault:
    if not isinstance(raw, dict):
        raise HookInputError(f"body must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(FIELDS.values()))
    if unknown:
        raise HookInputError(f"body has unknown field(s) {', '.join(unknown)}")
    fault = Fault(
        status=_field(raw, "status", int, "an integer"),
        retry_after=_field(raw, "retryAfter", int, "an integer"),
        malformed=bool(_field(raw, "malformed", bool, "true or false")),
        latency_ms=_field(raw, "latencyMs", int, "an integer") or 0,
        times=_field(raw, "times", int, "an integer"),
        path_contains=_field(raw, "pathContains", str, "a string"),
        method=_method(raw),
        commit_then_drop=bool(_field(raw, "commitThenDrop", bool, "true or false")),
    )
    _check(fault)
    return fault


def _check(fault: Fault) -> None:
    if fault.status is not None and not 400 <= fault.status <= 599:
        raise HookInputError(f"body.status={fault.status} must be an HTTP error status between 400 and 599")
    if fault.status is not None and fault.malformed:
        raise HookInputError("set either body.status or body.malformed, not both")
    if fault.commit_then_drop and (fault.status is not None or fault.malformed or fault.retry_after is not None):
        raise HookInputError(
            "body.commitThenDrop leaves the client without an answer, so it takes no status, malformed or retryAfter"
        )
    if fault.status is None and not fault.malformed and not fault.commit_then_drop and fault.latency_ms == 0:
        raise HookInputError("a fault needs at least one of status, malformed, commitThenDrop or latencyMs")
    if fault.latency_ms < 0 or (fault.retry_after or 0) < 0:
        raise HookInputError("body.latencyMs and body.retryAfter must not be negative")
    if fault.times is not None and fault.times < 1:
        raise HookInputError(f"body.times={fault.times} must be at least 1, or null for until cleared")


class FaultQueue:
    """Queued faults; a request gets the first one whose ``method`` and ``pathContains`` match."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def take(self, method: str, path: str) -> Fault | None:
        fault = next((item for item in self.faults if item.matches(method, path)), None)
        if fault is not None and fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                self.faults.remove(fault)
        return fault


def fault_response(fault: Fault, render_error: RenderError) -> Response | None:
    """What the fault answers instead of the API, or None when the API answers (after latency, or
    into the void for ``commitThenDrop``)."""
    if fault.malformed:
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
    if fault.status is None:
        return None
    headers = {}
    if fault.retry_after is not None and fault.status in (429, 503):
        headers["Retry-After"] = str(fault.retry_after)
    reason = GATEWAY_REASONS.get(fault.status)
    if reason is not None:
        page = GATEWAY_PAGE.format(status=fault.status, reason=reason)
        return HTMLResponse(page, status_code=fault.status, headers=headers)
    return render_error(fault.status, f"injected fault: HTTP {fault.status}", headers)


class LostAnswer:
    """An ASGI ``send`` that loses every message, keeping only the status: where a dropped request's
    answer goes, so the log can say what the vendor answered before the drop."""

    def __init__(self) -> None:
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


async def drop_connection(send: Send) -> None:
    """Ends the exchange without an answer; call it before anything was sent (see the module docstring).

    ASGI has no message for "close without answering", and an app that raises or returns without
    answering gets a 500 from uvicorn. What uvicorn does do: it marks the response as started *before*
    it looks up the status line, so a start with a status no server can write raises there with
    nothing written; returning then makes uvicorn close the socket ("returned without completing
    response"). A transport that accepts the start without a socket behind it (httpx.ASGITransport
    records it) is in-process, so the drop is raised as the exception a dropped socket gives.
    """
    try:
        await send({"type": "http.response.start", "status": NO_STATUS, "headers": []})
    except Exception:  # the server refused to write it: nothing went out, and the socket will close
        return
    raise ConnectionDropped(DISCONNECTED)
